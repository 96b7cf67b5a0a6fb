"""UpdateEndpoint's DeploymentConfig and variant retention, checked and resolved as SageMaker does.

Sources (SageMaker API Reference): "UpdateEndpoint" (``RetainAllVariantProperties``: keep the
live variant's properties such as the instance count instead of the new EndpointConfig's;
``ExcludeRetainedVariantProperties``: the properties to take from the EndpointConfig after all;
``RetainDeploymentConfig``: reuse the last deployment configuration), "DeploymentConfig" (no
update policy = blue/green, all at once), "BlueGreenUpdatePolicy", "TrafficRoutingConfig"
(``CanarySize`` "must be less than or equal to 50% of the variant's total instance count",
``LinearStepSize`` "must be 10-50%"), "CapacitySize", "AutoRollbackConfig"; SageMaker Developer
Guide, "Deployment guardrails" → "Exclusions" (the new endpoint configuration must keep the old
one's variant name). Range, enum and required-member violations are worded as AWS words them
(:mod:`offline.services.api_constraints`); the other refusals are offline mode's sentences, as
AWS does not document its wording for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from offline.services.api_constraints import constraint_errors, input_member, validation_message

#: What a variant's instance count is offline when the EndpointConfig does not say (serverless).
DEFAULT_INSTANCE_COUNT = 1


class DeploymentConfigError(ValueError):
    """A request SageMaker refuses; the message is the ValidationException's."""


@dataclass(frozen=True)
class CapacitySize:
    """A canary or linear step: a number of instances or a percentage of the new fleet."""

    type: str
    value: int

    def instances(self, fleet: int) -> int:
        """Whole instances of ``fleet`` this size turns on (at least one)."""
        if self.type == "INSTANCE_COUNT":
            return min(self.value, fleet)
        return min(fleet, max(1, fleet * self.value // 100))

    def share_of(self, fleet: int) -> float:
        return self.value / fleet if self.type == "INSTANCE_COUNT" else self.value / 100

    def describe(self) -> str:
        return f"{self.value} instance(s)" if self.type == "INSTANCE_COUNT" else f"{self.value}%"


@dataclass(frozen=True)
class DeploymentPolicy:
    """A blue/green update's traffic shifting and the alarms that roll it back."""

    traffic: str = "ALL_AT_ONCE"
    wait_interval: int = 0
    termination_wait: int = 0
    #: MaximumExecutionTimeoutInSeconds; None when the request sets none.
    max_execution_timeout: int | None = None
    canary_size: CapacitySize | None = None
    linear_step_size: CapacitySize | None = None
    alarms: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpdatePlan:
    """What an accepted UpdateEndpoint deploys: the policy (None: SageMaker's default) and the fleet size."""

    policy: DeploymentPolicy | None
    instance_count: int
    #: The DeploymentConfig DescribeEndpoint reports as LastDeploymentConfig (None: unchanged).
    deployment_config: dict[str, Any] | None


def request_errors(operation: str, request: Mapping[str, Any]) -> str | None:
    """The ValidationException message for members of ``request`` that break their shape, or None."""
    errors: list[str] = []
    for name, value in request.items():
        errors += constraint_errors(input_member("sagemaker", operation, name), value, name[:1].lower() + name[1:])
    return validation_message(errors) if errors else None


def plan_update(
    *,
    deployment_config: dict[str, Any] | None,
    retain_deployment_config: bool,
    last_deployment_config: dict[str, Any] | None,
    retain_all_variant_properties: bool,
    excluded_properties: list[dict[str, Any]] | None,
    new_variant: Mapping[str, Any],
    live_variant: Mapping[str, Any] | None,
) -> UpdatePlan:
    """Resolve an UpdateEndpoint request (already shape-checked); DeploymentConfigError if SageMaker refuses it."""
    config = deployment_config
    if config is None and retain_deployment_config:
        config = last_deployment_config
    excluded = {item.get("VariantPropertyType") for item in excluded_properties or []}
    instances = int(new_variant.get("InitialInstanceCount") or DEFAULT_INSTANCE_COUNT)
    if retain_all_variant_properties and "DesiredInstanceCount" not in excluded and live_variant:
        instances = int(live_variant.get("CurrentInstanceCount") or instances)
    if config is None:
        return UpdatePlan(policy=None, instance_count=instances, deployment_config=None)
    policy = parse_policy(config)
    check_capacity(policy, instances)
    if live_variant is not None and live_variant.get("VariantName") != new_variant.get("VariantName"):
        raise DeploymentConfigError(
            f"A blue/green deployment keeps the variant name: the endpoint's variant is "
            f"{live_variant.get('VariantName')}, the new endpoint configuration's is {new_variant.get('VariantName')}."
        )
    return UpdatePlan(policy=policy, instance_count=instances, deployment_config=deployment_config)


def parse_policy(config: Mapping[str, Any]) -> DeploymentPolicy:
    """The policy a DeploymentConfig describes; DeploymentConfigError for what no fleet size can fix."""
    blue_green = config.get("BlueGreenUpdatePolicy")
    if config.get("RollingUpdatePolicy") is not None:
        if blue_green is not None:
            raise DeploymentConfigError(
                "DeploymentConfig can have only one update policy: BlueGreenUpdatePolicy or RollingUpdatePolicy."
            )
        raise DeploymentConfigError(
            "RollingUpdatePolicy is not emulated by offline mode (it emulates BlueGreenUpdatePolicy deployments)."
        )
    alarms = _alarm_names((config.get("AutoRollbackConfiguration") or {}).get("Alarms") or [])
    if blue_green is None:
        return DeploymentPolicy(alarms=alarms)
    routing = blue_green["TrafficRoutingConfiguration"]
    traffic = routing["Type"]
    sizes = {"CANARY": "CanarySize", "LINEAR": "LinearStepSize"}
    if traffic in sizes and routing.get(sizes[traffic]) is None:
        raise DeploymentConfigError(f"TrafficRoutingConfiguration of Type {traffic} needs {sizes[traffic]}.")
    return DeploymentPolicy(
        traffic=traffic,
        wait_interval=int(routing["WaitIntervalInSeconds"]),
        termination_wait=int(blue_green.get("TerminationWaitInSeconds") or 0),
        max_execution_timeout=blue_green.get("MaximumExecutionTimeoutInSeconds"),
        canary_size=_size(routing.get("CanarySize")),
        linear_step_size=_size(routing.get("LinearStepSize")),
        alarms=alarms,
    )


def check_capacity(policy: DeploymentPolicy, instances: int) -> None:
    """Refuse a canary over 50%, or a linear step outside 10-50%, of the variant's ``instances``."""
    if policy.traffic == "CANARY" and policy.canary_size is not None:
        size = policy.canary_size
        if size.share_of(instances) > 0.5:
            raise DeploymentConfigError(
                f"CanarySize {size.describe()} ({size.type}) is more than 50% of the variant's total instance "
                f"count ({instances}); it must be less than or equal to 50%."
            )
    if policy.traffic == "LINEAR" and policy.linear_step_size is not None:
        size = policy.linear_step_size
        if not 0.1 <= size.share_of(instances) <= 0.5:
            raise DeploymentConfigError(
                f"LinearStepSize {size.describe()} ({size.type}) must be 10-50% of the variant's total instance "
                f"count ({instances})."
            )


def _size(size: Mapping[str, Any] | None) -> CapacitySize | None:
    return None if size is None else CapacitySize(type=str(size["Type"]), value=int(size["Value"]))


def _alarm_names(alarms: list[dict[str, Any]]) -> tuple[str, ...]:
    for index, alarm in enumerate(alarms, start=1):
        if not alarm.get("AlarmName"):
            raise DeploymentConfigError(f"AutoRollbackConfiguration.Alarms entry {index} has no AlarmName.")
    return tuple(str(alarm["AlarmName"]) for alarm in alarms)


def variant_summaries(config: Mapping[str, Any], instance_count: int | None) -> list[dict[str, Any]]:
    """DescribeEndpoint's ProductionVariants once ``config`` is live; the first variant has ``instance_count``."""
    variants = []
    for index, variant in enumerate(config.get("ProductionVariants", [])):
        count = variant.get("InitialInstanceCount", DEFAULT_INSTANCE_COUNT)
        if index == 0 and instance_count is not None:
            count = instance_count
        weight = variant.get("InitialVariantWeight", 1.0)
        variants.append(
            {
                "VariantName": variant["VariantName"],
                "CurrentWeight": weight,
                "DesiredWeight": weight,
                "CurrentInstanceCount": count,
                "DesiredInstanceCount": count,
            }
        )
    return variants
