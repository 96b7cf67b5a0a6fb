"""What target tracking would decide for each registered SageMaker variant (offline: shown, not enacted).

Application Auto Scaling's target tracking keeps a metric at its target by changing the
capacity in proportion: the capacity that brings the metric back to the target is the
current capacity times the metric's value / the target, rounded up (Application Auto Scaling
User Guide, "Target tracking scaling policies" → "How target tracking works"), within the
scalable target's MinCapacity and MaxCapacity; a policy with ``DisableScaleIn`` never lowers
it. For SageMaker the metric is ``SageMakerVariantInvocationsPerInstance``, "the average
number of times per minute that each instance for a variant is invoked" (SageMaker Developer
Guide, "Automatic scaling of Amazon SageMaker AI models" → "Target metric").

Offline mode computes that from the ``Invocations`` it recorded
(``offline.services.endpoint_metrics``) under ``EndpointName, VariantName`` in the last
complete minute, scaled like every other offline period (60 / ``time_scale`` real seconds),
divided by the variant's current instance count (the caller's, else the endpoint's
``CurrentInstanceCount`` in moto's SageMaker backend). With no invocations in that minute
the policy's metric has no datapoint and target tracking does nothing, so neither does the
advice. The targets and policies are the ones registered in moto's ``application-autoscaling``
backend (``ServiceNamespace`` ``sagemaker``, dimension ``sagemaker:variant:DesiredInstanceCount``,
``TargetTrackingScaling`` on the predefined metric).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from offline.services import cloudwatch_metrics

DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"


@dataclass(frozen=True)
class ScalingDecision:
    """One registered policy's decision for its variant."""

    resource_id: str  # endpoint/<endpoint>/variant/<variant>
    policy_name: str
    target: float  # invocations per instance per minute
    current: int
    desired: int
    min_capacity: int
    max_capacity: int
    per_instance: float | None  # None: no invocations recorded in the last minute

    def line(self) -> str:
        """One line for the run's output."""
        head = f"scaling {self.resource_id}: "
        if self.per_instance is None:
            return (
                f"{head}no invocations in the last minute: target tracking has no datapoint, "
                f"stays at {_instances(self.current)} (offline: not enacted)"
            )
        return (
            f"{head}{self.per_instance:,.0f} invocations per instance per minute against a target of "
            f"{self.target:,.0f} → {self.current} → {_instances(self.desired)} (offline: not enacted)"
        )

    def __str__(self) -> str:
        return self.line()


def scaling_decisions(
    *,
    account: str,
    region: str,
    time_scale: float = 60.0,
    instance_counts: Mapping[str, int] | None = None,
    now: float | None = None,
) -> list[ScalingDecision]:
    """A decision per target-tracking policy on ``SageMakerVariantInvocationsPerInstance``.

    ``instance_counts`` maps a resource id (``endpoint/<name>/variant/<variant>``) to the
    variant's instance count, where the caller knows better than moto's endpoint record.
    """
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    backend = applicationautoscaling_backends[account][region]
    minute = 60.0 / time_scale
    end = (math.floor((time.time() if now is None else now) / minute)) * minute
    decisions = []
    for target in backend.describe_scalable_targets("sagemaker", None, DIMENSION):
        for policy in _tracking_policies(backend, target.resource_id):
            counts = instance_counts or {}
            current = counts.get(target.resource_id) or _current_instances(account, region, target.resource_id)
            per_minute = _invocations(account, region, target.resource_id, since=end - minute, until=end)
            decisions.append(_decide(target, policy, current, per_minute))
    return decisions


def _tracking_policies(backend: Any, resource_id: str) -> list[Any]:
    return [
        policy
        for policy in backend.policies.values()
        if policy.service_namespace == "sagemaker"
        and policy.resource_id == resource_id
        and policy.scalable_dimension == DIMENSION
        and policy.policy_type == "TargetTrackingScaling"
        and (policy.target_tracking_scaling_policy_configuration or {})
        .get("PredefinedMetricSpecification", {})
        .get("PredefinedMetricType")
        == METRIC
    ]


def _decide(target: Any, policy: Any, current: int, per_minute: float | None) -> ScalingDecision:
    configuration = policy.target_tracking_scaling_policy_configuration
    goal = float(configuration["TargetValue"])
    low, high = int(target.min_capacity or 1), int(target.max_capacity or current)
    per_instance = None if per_minute is None else per_minute / max(current, 1)
    desired = current
    if per_instance is not None:
        desired = min(max(math.ceil(current * per_instance / goal), low), high)
        if configuration.get("DisableScaleIn") and desired < current:
            desired = current
    return ScalingDecision(
        resource_id=str(target.resource_id),
        policy_name=str(policy.policy_name),
        target=goal,
        current=current,
        desired=desired,
        min_capacity=low,
        max_capacity=high,
        per_instance=per_instance,
    )


def _invocations(account: str, region: str, resource_id: str, *, since: float, until: float) -> float | None:
    """Invocations recorded for the variant in [since, until); None when there were none."""
    endpoint, variant = _endpoint_and_variant(resource_id)
    samples = cloudwatch_metrics.read_samples(
        account,
        region,
        namespace="AWS/SageMaker",
        metric="Invocations",
        dimensions={"EndpointName": endpoint, "VariantName": variant},
        since=since,
    )
    inside = [sample for sample in samples if sample.at < until]
    return sum(sample.total for sample in inside) if inside else None


def _current_instances(account: str, region: str, resource_id: str) -> int:
    from moto.sagemaker.models import sagemaker_backends

    endpoint_name, variant_name = _endpoint_and_variant(resource_id)
    endpoint = sagemaker_backends[account][region].endpoints.get(endpoint_name)
    for variant in getattr(endpoint, "production_variants", None) or []:
        if variant.get("VariantName") == variant_name and variant.get("CurrentInstanceCount"):
            return int(variant["CurrentInstanceCount"])
    return 1


def _endpoint_and_variant(resource_id: str) -> tuple[str, str]:
    """``endpoint/<endpoint>/variant/<variant>`` → (endpoint, variant)."""
    parts = resource_id.split("/")
    return (parts[1], parts[3]) if len(parts) == 4 else (resource_id, "")


def _instances(count: int) -> str:
    return f"{count} instance{'' if count == 1 else 's'}"
