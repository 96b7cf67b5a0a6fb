"""Which version the deployment puts live, decided from the event, the registry and the endpoint.

* **Approved** → deploy that version, unless it is already live (EventBridge may deliver
  an event more than once) or is no longer Approved (a later change wins; its own event
  follows).
* **Rejected**, and the version is live → roll back to the newest other Approved
  version, as the SageMaker Projects templates do. With none left, nothing is deployed
  and people are told that the endpoint still serves the rejected version.
* **Rejected**, and the version is not live → nothing to do, nothing to say.

The pieces beside it: :mod:`.registry` (what SageMaker says) and :mod:`.settings`
(names and the SSM settings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from lambdas.common.sns import execution_console_url
from lambdas.resolve_deployment.models import (
    LiveInfo,
    PackageInfo,
    ResolveEvent,
    ResolveResult,
    ResolveSettings,
)
from lambdas.resolve_deployment.registry import (
    PackageDescription,
    deployable,
    describe_package,
    live_version,
    newest_approved,
    same_package,
    version_of,
)
from lambdas.resolve_deployment.settings import deployment_names, endpoint_settings, problems


class DeploymentEventError(ValueError):
    """The execution was started with an event this deployment does not act on."""


@dataclass(frozen=True)
class Clients:
    """The AWS clients the step uses; tests pass moto-backed ones."""

    sagemaker: Any
    ssm: Any


def parse_event(payload: Any) -> ResolveEvent:
    """The validated payload; a problem is reported by field, without pydantic's links."""
    try:
        return ResolveEvent.model_validate(payload)
    except ValidationError as error:
        raise DeploymentEventError(f'not a "SageMaker Model Package State Change" payload: {problems(error)}') from None


def check_group(event: ResolveEvent, settings: ResolveSettings) -> None:
    """Refuse an event about another environment's model package group."""
    detail = event.event.detail
    group = settings.model_package_group
    in_group = f"model-package/{group}/".lower() in detail.ModelPackageArn.lower()
    if detail.ModelPackageGroupName.lower() != group.lower() or not in_group:
        raise DeploymentEventError(
            f"the event is about {detail.ModelPackageArn} in model package group {detail.ModelPackageGroupName}; "
            f"this deployment ({settings.environment}) only deploys versions of {group}"
        )
    if detail.ModelApprovalStatus == "PendingManualApproval":
        raise DeploymentEventError(
            f"the event says version {_event_version(event)} is PendingManualApproval; a deployment starts only "
            "when a version is Approved or Rejected (check the EventBridge rule's pattern)"
        )


def _event_version(event: ResolveEvent) -> str:
    detail = event.event.detail
    return (
        str(detail.ModelPackageVersion)
        if detail.ModelPackageVersion is not None
        else version_of(detail.ModelPackageArn)
    )


def _serving(live: LiveInfo | None, endpoint: str) -> str:
    if live is None:
        return f"no version is live on {endpoint}"
    if live.version is None:
        return f"{endpoint} serves endpoint config {live.endpoint_config}, not made from a registered version"
    return f"version {live.version} is live"


@dataclass(frozen=True)
class _Plan:
    """What to do; :func:`resolve` turns it into the result."""

    reason: str
    notify: bool
    #: The version to deploy, or (when skipping) the one the event is about, if worth reporting.
    package: PackageInfo | None = None
    deploy: bool = False


def _deploy(package: PackageInfo, reason: str) -> _Plan:
    return _Plan(reason, notify=True, package=package, deploy=True)


def _skip(reason: str, *, notify: bool, package: PackageInfo | None = None) -> _Plan:
    return _Plan(reason, notify=notify, package=package)


def _on_approved(described: PackageDescription, live: LiveInfo | None, endpoint: str) -> _Plan:
    version = described.version
    if described.ModelApprovalStatus != "Approved":
        return _skip(
            f"version {version} was approved, but is now {described.ModelApprovalStatus}; not deploying it",
            notify=False,
        )
    package = deployable(described)
    if live is not None and same_package(live.package_arn, package.arn):
        return _skip(f"version {version} is already live on {endpoint}", notify=False, package=package)
    if live is None:
        return _deploy(package, f"version {version} was approved; {endpoint} does not exist yet, so it is created")
    replaced = f"version {live.version}" if live.version else f"endpoint config {live.endpoint_config}"
    return _deploy(package, f"version {version} was approved; it replaces {replaced} on {endpoint}")


def _on_rejected(
    described: PackageDescription, live: LiveInfo | None, settings: ResolveSettings, sagemaker: Any
) -> _Plan:
    version = described.version
    endpoint = settings.endpoint_name
    if described.ModelApprovalStatus == "Approved":
        return _skip(f"version {version} was rejected, but is Approved again; nothing to roll back", notify=False)
    if live is None or not same_package(live.package_arn, described.ModelPackageArn):
        return _skip(
            f"version {version} was rejected; it is not live ({_serving(live, endpoint)}), so nothing changes",
            notify=False,
        )
    previous = newest_approved(sagemaker, settings.model_package_group, excluding=described.ModelPackageArn)
    if previous is None:
        return _skip(
            f"rejected version {version} is live and no other version is Approved, so {endpoint} still serves it; "
            "approve a version to roll back to, or delete the endpoint to stop serving",
            notify=True,
        )
    package = deployable(describe_package(sagemaker, previous))
    return _deploy(package, f"rejected version {version} is live; rolling back to version {package.version}")


def resolve(event: ResolveEvent, settings: ResolveSettings, clients: Clients) -> ResolveResult:
    """Decide what this deployment does (the ``$.run`` document).

    Raises :class:`DeploymentEventError` for an event this environment does not act on,
    :class:`~lambdas.resolve_deployment.registry.PackageError` for a version that cannot
    serve, and :class:`~lambdas.resolve_deployment.settings.DeploymentConfigError` for
    missing or malformed settings.
    """
    check_group(event, settings)
    detail = event.event.detail
    described = describe_package(clients.sagemaker, detail.ModelPackageArn)
    live = live_version(clients.sagemaker, settings.endpoint_name)
    if detail.ModelApprovalStatus == "Approved":
        plan = _on_approved(described, live, settings.endpoint_name)
    else:
        plan = _on_rejected(described, live, settings, clients.sagemaker)
    execution = event.execution
    deploying = plan.package if plan.deploy else None
    return ResolveResult(
        run_id=execution.name,
        action="deploy" if deploying else "skip",
        notify=plan.notify,
        reason=plan.reason,
        trigger="approved" if detail.ModelApprovalStatus == "Approved" else "rejected",
        package=plan.package,
        live=live,
        names=deployment_names(settings, deploying.version, execution.name) if deploying else None,
        settings=endpoint_settings(clients.ssm, settings.settings_parameter) if deploying else None,
        console_url=execution_console_url(execution.id),
        execution_arn=execution.id,
    )
