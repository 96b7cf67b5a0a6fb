"""``python -m pipeline models``: an environment's model versions, and the decision on each.

The registry is the environment's model package group (the stacks' output
``ModelPackageGroupName``, else ``fraud-<env>-models``); every retraining run registers one
version there. Approving or rejecting a version is one UpdateModelPackage call with an
approval description saying who decided, how and why. SageMaker then sends EventBridge a
"SageMaker Model Package State Change" event, and the deployment state machine acts on it:

* Approved → it deploys that version to the environment's endpoint (nothing to do if it is
  already live);
* Rejected, and the version is live → it rolls back to the newest other Approved version, as
  the SageMaker Projects templates do (with none left, the endpoint keeps serving the rejected
  version and a notification says so);
* Rejected, and the version is not live → nothing changes on the endpoint.

The live version is the one the endpoint's model was created from (endpoint → config → first
variant's model → its container's ``ModelPackageName``), read the way the deployment reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from lambdas.resolve_deployment.registry import live_version, same_package, version_of
from pipeline.environments import OperationError, stack_outputs
from stacks.config import EnvironmentConfig

GROUP_OUTPUT = "ModelPackageGroupName"
ENDPOINT_OUTPUT = "EndpointName"
DEPLOYMENT_OUTPUT = "DeploymentStateMachineArn"
#: UpdateModelPackage's limit on ApprovalDescription.
MAX_DESCRIPTION = 1024
#: The metrics the gate decides on, shown in the list (CustomerMetadataProperties keys).
METRICS = ("pr_auc", "roc_auc")
Report = Callable[[str], None]


class UsageError(OperationError):
    """The command asked for something that cannot be (an unknown version): a usage error."""


@dataclass(frozen=True)
class Place:
    """Where an environment's registry and endpoint are."""

    group: str
    endpoint: str
    deployment_state_machine: str | None = None


@dataclass(frozen=True)
class Version:
    """One model package version, as DescribeModelPackage describes it."""

    number: int
    arn: str
    status: str
    created: datetime
    metadata: dict[str, str] = field(default_factory=dict)
    description: str = ""
    approval_description: str = ""
    report_uri: str | None = None
    image: str | None = None
    model_data_url: str | None = None

    @classmethod
    def from_description(cls, described: dict[str, Any]) -> Version:
        arn = str(described["ModelPackageArn"])
        containers = (described.get("InferenceSpecification") or {}).get("Containers") or [{}]
        statistics = ((described.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}
        return cls(
            number=int(described.get("ModelPackageVersion") or version_of(arn)),
            arn=arn,
            status=str(described.get("ModelApprovalStatus") or "-"),
            created=described["CreationTime"],
            metadata=dict(described.get("CustomerMetadataProperties") or {}),
            description=str(described.get("ModelPackageDescription") or ""),
            approval_description=str(described.get("ApprovalDescription") or ""),
            report_uri=statistics.get("S3Uri"),
            image=containers[0].get("Image"),
            model_data_url=containers[0].get("ModelDataUrl"),
        )

    def metric(self, name: str) -> str:
        value = self.metadata.get(name)
        if value is None:
            return "-"
        try:
            return f"{float(value):.4f}"
        except ValueError:
            return value


@dataclass(frozen=True)
class Live:
    """What the endpoint serves: a version of this group, another model, or nothing."""

    endpoint: str
    package_arn: str | None = None
    serving: bool = False

    def is_version(self, version: Version) -> bool:
        return same_package(self.package_arn, version.arn)

    def describe(self) -> str:
        if not self.serving:
            return f"no endpoint {self.endpoint} serves a model: no version is live"
        if self.package_arn is None:
            return f"endpoint {self.endpoint} serves a model that was not created from the registry"
        return f"endpoint {self.endpoint} serves {self.package_arn}"


def locate(cloudformation: Any, config: EnvironmentConfig) -> Place:
    """The registry and endpoint of ``config``'s environment: its stacks' outputs, else the naming rules."""
    pipeline = _outputs_if_deployed(cloudformation, config.stack_name("Pipeline"))
    group = pipeline.get(GROUP_OUTPUT)
    if not group:
        group = _outputs_if_deployed(cloudformation, config.stack_name("Storage")).get(GROUP_OUTPUT)
    endpoint = pipeline.get(ENDPOINT_OUTPUT)
    if not endpoint:
        endpoint = _outputs_if_deployed(cloudformation, config.stack_name("Inference")).get(ENDPOINT_OUTPUT)
    return Place(
        group=group or config.model_package_group_name,
        endpoint=endpoint or config.endpoint_name,
        deployment_state_machine=pipeline.get(DEPLOYMENT_OUTPUT),
    )


def _outputs_if_deployed(cloudformation: Any, stack_name: str) -> dict[str, str]:
    try:
        return stack_outputs(cloudformation, stack_name)
    except OperationError:  # not deployed (under this name): the naming rules apply
        return {}


@dataclass
class Registry:
    """The environment's model package group and the endpoint its approved versions deploy to."""

    sagemaker: Any
    place: Place

    def versions(self, *, limit: int | None = None) -> list[Version]:
        """The group's versions, newest first (at most ``limit``), each described in full."""
        arns = self._arns()
        return [self._describe(arn) for arn in arns[:limit]]

    def count(self) -> int:
        return len(self._arns())

    def version(self, number: int) -> Version:
        """One version; an unknown number is a :class:`UsageError` listing the existing ones."""
        for arn in self._arns():
            if version_of(arn) == str(number):
                return self._describe(arn)
        existing = ", ".join(version_of(arn) for arn in reversed(self._arns())) or "none yet"
        raise UsageError(f"{self.place.group} has no version {number}; its versions: {existing}")

    def live(self) -> Live:
        info = live_version(self.sagemaker, self.place.endpoint)
        if info is None:
            return Live(endpoint=self.place.endpoint)
        return Live(endpoint=self.place.endpoint, package_arn=info.package_arn, serving=True)

    def newest_approved(self, *, excluding: str) -> Version | None:
        for arn in self._arns():
            if not same_package(arn, excluding):
                version = self._describe(arn)
                if version.status == "Approved":
                    return version
        return None

    def set_status(self, version: Version, status: str, description: str) -> None:
        self.sagemaker.update_model_package(
            ModelPackageArn=version.arn,
            ModelApprovalStatus=status,
            ApprovalDescription=description[:MAX_DESCRIPTION],
        )

    def _arns(self) -> list[str]:
        """The group's version ARNs, newest first; a group that does not exist is an :class:`OperationError`."""
        try:
            self.sagemaker.describe_model_package_group(ModelPackageGroupName=self.place.group)
        except ClientError as error:
            details = error.response.get("Error", {})
            if details.get("Code") == "ResourceNotFound" or "does not exist" in str(details.get("Message")):
                region = self.sagemaker.meta.region_name
                raise OperationError(
                    f"model package group {self.place.group} does not exist in {region}; deploy the environment "
                    "first (make deploy ENV=...), or set AWS_REGION to where it is"
                ) from None
            raise
        arns: list[str] = []
        pages = self.sagemaker.get_paginator("list_model_packages").paginate(
            ModelPackageGroupName=self.place.group, SortBy="CreationTime", SortOrder="Descending"
        )
        for page in pages:
            arns.extend(str(summary["ModelPackageArn"]) for summary in page.get("ModelPackageSummaryList", []))
        return sorted(arns, key=lambda arn: int(version_of(arn)) if version_of(arn).isdigit() else 0, reverse=True)

    def _describe(self, arn: str) -> Version:
        return Version.from_description(self.sagemaker.describe_model_package(ModelPackageName=arn))


def _utc(moment: datetime) -> datetime:
    """SDK timestamps are aware (in UTC or local time); a naive one is taken as UTC."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- list / show -----------------------------------------------------------------------------------


def list_versions(registry: Registry, report: Report, *, limit: int | None = None) -> None:
    """A table of the versions, newest first, with the live one marked."""
    versions = registry.versions(limit=limit)
    live = registry.live()
    group = registry.place.group
    if not versions:
        report(f"{group} has no versions yet: a retraining run registers one (make retrain ENV=...)")
        report(live.describe())
        return
    header = ("", "VERSION", "STATUS", "PR-AUC", "ROC-AUC", "DATASET", "DATA VERSION", "CREATED (UTC)")
    rows = [
        (
            "*" if live.is_version(v) else "",
            str(v.number),
            v.status,
            v.metric("pr_auc"),
            v.metric("roc_auc"),
            v.metadata.get("dataset", "-"),
            v.metadata.get("data_version", "-")[:12],
            f"{_utc(v.created):%Y-%m-%d %H:%M}",
        )
        for v in versions
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    report(f"{group}, newest first (* = live on {live.endpoint}):")
    for row in (header, *rows):
        report("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    total = registry.count()
    if limit is not None and total > len(versions):
        report(f"({total - len(versions)} older versions not shown; --limit 0 shows all)")
    if not any(live.is_version(v) for v in versions):
        report(live.describe())


def show_version(registry: Registry, number: int, report: Report) -> None:
    """Everything the registry knows about one version, and whether it is live."""
    version = registry.version(number)
    live = registry.live()
    state = f"live on {live.endpoint}" if live.is_version(version) else f"not live ({live.describe()})"
    report(f"version {version.number} of {registry.place.group}: {version.status}, {state}")
    lines = [
        ("registered", f"{_utc(version.created):%Y-%m-%d %H:%M:%S} UTC"),
        ("gate", version.description or "-"),
        ("approval", version.approval_description or "-"),
        ("metrics", ", ".join(f"{name} {version.metric(name)}" for name in METRICS)),
        ("evaluation report", version.report_uri or "-"),
        ("image", version.image or "-"),
        ("model artifact", version.model_data_url or "-"),
        ("arn", version.arn),
    ]
    lines += [(key, value) for key, value in sorted(version.metadata.items())]
    width = max(len(key) for key, _ in lines)
    for key, value in lines:
        report(f"  {key.ljust(width)}  {value}")


# --- approve / reject ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What the caller decided: the status to set and the description recorded with it."""

    status: str  # Approved or Rejected
    verb: str  # approved or rejected
    caller: str
    reason: str

    def description(self) -> str:
        text = f"{self.verb} by {self.caller} via pipeline CLI"
        return f"{text}: {self.reason}" if self.reason else text


def decide(registry: Registry, number: int, decision: Decision, report: Report) -> None:
    """Set the version's approval status, then say what the deployment state machine will do about it."""
    version = registry.version(number)
    group = registry.place.group
    if version.status == decision.status:
        recorded = f" ({version.approval_description})" if version.approval_description else ""
        report(f"version {number} of {group} is already {decision.status}{recorded}; nothing changed")
        return
    live = registry.live()
    was_live = live.is_version(version)
    registry.set_status(version, decision.status, decision.description())
    report(f"version {number} of {group}: {version.status} -> {decision.status}")
    report(f"  recorded: {decision.description()[:MAX_DESCRIPTION]}")
    for line in _next_steps(registry, version, decision, live, was_live):
        report(f"  {line}")


def _next_steps(registry: Registry, version: Version, decision: Decision, live: Live, was_live: bool) -> list[str]:
    endpoint = registry.place.endpoint
    steps: list[str] = []
    if decision.status == "Approved":
        if was_live:
            steps.append(f"it is already live on {endpoint}: the deployment state machine has nothing to deploy")
        else:
            replaces = f", replacing {live.package_arn}" if live.package_arn else ""
            steps.append(f"next: the deployment state machine deploys version {version.number} to {endpoint}{replaces}")
    elif was_live:
        previous = registry.newest_approved(excluding=version.arn)
        if previous is None:
            steps.append(
                f"it is live on {endpoint} and no other version is Approved: the endpoint keeps serving it "
                "until you approve another version (python -m pipeline models approve ...)"
            )
        else:
            steps.append(
                f"next: it is live on {endpoint}, so the deployment state machine rolls back to version "
                f"{previous.number}, the newest other Approved version"
            )
    else:
        steps.append(f"it is not live on {endpoint}: nothing changes there")
    machine = registry.place.deployment_state_machine
    if machine and (decision.status == "Approved" or was_live):
        steps.append(f"follow it: aws stepfunctions list-executions --state-machine-arn {machine}")
    return steps
