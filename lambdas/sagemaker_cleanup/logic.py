"""Which SageMaker models and endpoint configs to delete, and deleting them.

The state machine names every model ``<prefix>model-…`` and every endpoint config
``<prefix>config-…`` (``fraud-<env>-``, see ``initiate_pipeline``), and it has one endpoint,
``fraud-detector-<env>``. Nothing else here is trusted to know more than those names:

* :func:`prune` runs after a deploy. It keeps the newest ``keep_last_versions`` endpoint
  configs (for rollback), every config the endpoint serves or is deploying, and every model
  those configs use, plus the newest ``keep_last_versions`` models; it deletes the rest.
  SageMaker must not lose a config an endpoint is using ("You must not delete an
  EndpointConfig in use by an endpoint that is live", SageMaker API Reference,
  DeleteEndpointConfig), so the live configs are read from the endpoint itself as well as
  taken from the run.
* :func:`tear_down` runs when the stack is deleted: the endpoint, then every config and model.

Both look everything up before deleting anything: if a read fails, nothing is deleted. A
deletion that fails does not stop the others; the failures are reported together at the end
as one :class:`CleanupIncompleteError`, whose message never holds a stack trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped, unused-ignore]

from lambdas.sagemaker_cleanup.models import LISTED_NAMES, CleanupSettings, PruneReport

#: Seconds left before the Lambda's timeout at which a clean-up stops deleting and reports.
SAFETY_MARGIN_SECONDS = 15.0
#: Endpoint statuses that end by themselves; SageMaker may refuse a deletion until they do.
SETTLING = ("Creating", "Updating", "SystemUpdating", "RollingBack")
ENDPOINT_POLL_SECONDS = 20.0
#: The stack status in which a custom resource's Delete means "the stack is being deleted".
STACK_DELETION = "DELETE_IN_PROGRESS"

TimeLeft = Callable[[], float]
Sleep = Callable[[float], None]


class CleanupIncompleteError(RuntimeError):
    """Some versions could not be listed or deleted; the message says which and why."""


@dataclass(frozen=True)
class Version:
    """A model or endpoint config and when it was created."""

    name: str
    created: datetime


@dataclass
class Deletions:
    """What a batch of deletions did and what it could not do."""

    deleted: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stopped: int = 0  # left undone because the Lambda was about to time out


def describe_error(error: Exception, *, limit: int = 500) -> str:
    """``Code: message`` of an AWS error, or the exception's type and text; one line, never a traceback."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        text = f"{details.get('Code', 'Error')}: {details.get('Message', '')}"
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(text.split())[:limit]


def _not_found(error: ClientError) -> bool:
    # SageMaker answers a missing model, config or endpoint with ValidationException "Could not find ...".
    details = error.response.get("Error", {})
    return details.get("Code") == "ValidationException" and "could not find" in str(details.get("Message")).lower()


def _versions(sagemaker: Any, operation: str, items: str, name_key: str, prefix: str) -> list[Version]:
    """Every model or config whose name starts with ``prefix``, newest first.

    ``NameContains`` narrows the listing; the prefix check and the order are applied here,
    so they hold whatever the service does with the filter and the paging.
    """
    found: list[Version] = []
    for page in sagemaker.get_paginator(operation).paginate(NameContains=prefix):
        for item in page.get(items, []):
            name = str(item[name_key])
            if name.startswith(prefix):
                found.append(Version(name, item["CreationTime"]))
    return sorted(found, key=lambda v: (v.created, v.name), reverse=True)


def list_endpoint_configs(sagemaker: Any, prefix: str) -> list[Version]:
    return _versions(sagemaker, "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", prefix)


def list_models(sagemaker: Any, prefix: str) -> list[Version]:
    return _versions(sagemaker, "list_models", "Models", "ModelName", prefix)


def configs_in_use(sagemaker: Any, endpoint_name: str) -> set[str]:
    """The config the endpoint serves and the one it is deploying, if any; empty when there is no endpoint."""
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        if _not_found(error):
            return set()
        raise
    names = {
        endpoint.get("EndpointConfigName"),
        (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName"),
    }
    return {str(name) for name in names if name}


def models_of(sagemaker: Any, config_names: Iterable[str]) -> set[str]:
    """The models the given endpoint configs route to (production and shadow variants)."""
    models: set[str] = set()
    for name in config_names:
        config = sagemaker.describe_endpoint_config(EndpointConfigName=name)
        for variant in [*config.get("ProductionVariants", []), *config.get("ShadowProductionVariants", [])]:
            if variant.get("ModelName"):
                models.add(str(variant["ModelName"]))
    return models


def _delete_all(names: list[str], delete: Callable[[str], None], time_left: TimeLeft, done: Deletions) -> None:
    for index, name in enumerate(names):
        if time_left() < SAFETY_MARGIN_SECONDS:
            done.stopped += len(names) - index
            return
        try:
            delete(name)
        except ClientError as error:
            if not _not_found(error):  # already gone is what we wanted
                done.failures.append(f"{name} ({describe_error(error)})")
                continue
        except BotoCoreError as error:
            done.failures.append(f"{name} ({describe_error(error)})")
            continue
        done.deleted.append(name)


def _raise_if_incomplete(done: Deletions, *, what: str, next_time: str) -> None:
    if not done.failures and not done.stopped:
        return
    parts = [f"{what}: deleted {len(done.deleted)}"]
    if done.failures:
        shown = "; ".join(done.failures[:5])
        more = f" and {len(done.failures) - 5} more" if len(done.failures) > 5 else ""
        parts.append(f"could not delete {len(done.failures)}: {shown}{more}")
    if done.stopped:
        parts.append(f"stopped before the function's timeout with {done.stopped} left")
    raise CleanupIncompleteError(f"{', '.join(parts)}. {next_time}")


def prune(sagemaker: Any, settings: CleanupSettings, *, live_config: str, time_left: TimeLeft) -> PruneReport:
    """Delete the models and endpoint configs older than the newest ``keep_last_versions``, never the live ones."""
    keep = settings.keep_last_versions
    try:
        configs = list_endpoint_configs(sagemaker, settings.config_prefix)
        kept_configs = [c.name for c in configs[:keep]]
        for name in sorted({live_config} | configs_in_use(sagemaker, settings.endpoint_name)):
            if name not in kept_configs:
                kept_configs.append(name)
        models = list_models(sagemaker, settings.model_prefix)
        kept_models = {m.name for m in models[:keep]} | models_of(sagemaker, kept_configs)
    except (ClientError, BotoCoreError) as error:
        raise CleanupIncompleteError(
            f"Nothing was deleted: could not list the versions to keep ({describe_error(error)}). "
            "The next successful run tries again."
        ) from None
    done = Deletions()
    # Oldest first, configs before the models they use.
    old_configs = [c.name for c in reversed(configs) if c.name not in kept_configs]
    old_models = [m.name for m in reversed(models) if m.name not in kept_models]
    _delete_all(old_configs, lambda n: sagemaker.delete_endpoint_config(EndpointConfigName=n), time_left, done)
    deleted_configs = list(done.deleted)
    _delete_all(old_models, lambda n: sagemaker.delete_model(ModelName=n), time_left, done)
    deleted_models = done.deleted[len(deleted_configs) :]
    _raise_if_incomplete(
        done, what="Clean-up of old versions incomplete", next_time="The next successful run tries again."
    )
    return PruneReport(
        kept_endpoint_configs=kept_configs,
        kept_models=sorted(kept_models),
        deleted_endpoint_configs=deleted_configs[:LISTED_NAMES],
        deleted_models=deleted_models[:LISTED_NAMES],
        deleted_endpoint_config_count=len(deleted_configs),
        deleted_model_count=len(deleted_models),
    )


@dataclass(frozen=True)
class Teardown:
    """What a teardown deleted."""

    endpoint_deleted: bool
    endpoint_configs: int
    models: int

    def summary(self, endpoint_name: str) -> str:
        endpoint = f"endpoint {endpoint_name}" if self.endpoint_deleted else f"no endpoint {endpoint_name} (absent)"
        return f"Deleted {endpoint}, {self.endpoint_configs} endpoint configs and {self.models} models"


def _endpoint_status(sagemaker: Any, name: str) -> str | None:
    try:
        return str(sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"])
    except ClientError as error:
        if _not_found(error):
            return None
        raise


def delete_endpoint(sagemaker: Any, name: str, *, time_left: TimeLeft, sleep: Sleep) -> bool:
    """Delete the endpoint, waiting out a status that refuses it; False when there was none."""
    while True:
        try:
            sagemaker.delete_endpoint(EndpointName=name)
            return True
        except ClientError as error:
            if _not_found(error):
                return False
            status = _endpoint_status(sagemaker, name)
            if status is None:
                return False
            if status == "Deleting":
                return True
            if status not in SETTLING or time_left() < ENDPOINT_POLL_SECONDS + SAFETY_MARGIN_SECONDS:
                raise
            sleep(ENDPOINT_POLL_SECONDS)


def tear_down(sagemaker: Any, settings: CleanupSettings, *, time_left: TimeLeft, sleep: Sleep) -> Teardown:
    """Delete the endpoint, then every endpoint config and model of this environment."""
    try:
        endpoint_deleted = delete_endpoint(sagemaker, settings.endpoint_name, time_left=time_left, sleep=sleep)
        configs = [c.name for c in list_endpoint_configs(sagemaker, settings.config_prefix)]
        models = [m.name for m in list_models(sagemaker, settings.model_prefix)]
    except (ClientError, BotoCoreError) as error:
        raise CleanupIncompleteError(
            f"Could not delete the endpoint {settings.endpoint_name} or list the models and endpoint configs "
            f"({describe_error(error)}). Fix the cause, then delete the stack again."
        ) from None
    done = Deletions()
    _delete_all(configs, lambda n: sagemaker.delete_endpoint_config(EndpointConfigName=n), time_left, done)
    deleted_configs = len(done.deleted)
    _delete_all(models, lambda n: sagemaker.delete_model(ModelName=n), time_left, done)
    _raise_if_incomplete(
        done,
        what=f"Teardown incomplete (endpoint {'deleted' if endpoint_deleted else 'absent'})",
        next_time="Delete the stack again to retry.",
    )
    return Teardown(endpoint_deleted, deleted_configs, len(done.deleted) - deleted_configs)


def tear_down_if_stack_is_deleted(
    sagemaker: Any,
    cloudformation: Any,
    settings: CleanupSettings,
    *,
    stack_id: str,
    time_left: TimeLeft,
    sleep: Sleep,
) -> str:
    """Tear down only when the stack itself is being deleted; the reason to report either way.

    CloudFormation also sends Delete when it removes the resource during an update (a new
    logical id, or rolling back the update that added it). The environment is still live
    then, so its endpoint must stay.
    """
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_id)["Stacks"]
    except (ClientError, BotoCoreError) as error:
        raise CleanupIncompleteError(
            f"Could not tell whether the stack is being deleted ({describe_error(error)}); deleted nothing. "
            "Fix the cause, then delete the stack again."
        ) from None
    status = str(stack["StackStatus"])
    if status != STACK_DELETION:
        return f"The stack is {status}, not being deleted: kept the endpoint, endpoint configs and models"
    return tear_down(sagemaker, settings, time_left=time_left, sleep=sleep).summary(settings.endpoint_name)
