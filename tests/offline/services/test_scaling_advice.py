"""What target tracking would decide, from the registered policy and the recorded invocations.

Application Auto Scaling User Guide, "Target tracking scaling policies": capacity in proportion
to the metric, rounded up, within min and max; SageMakerVariantInvocationsPerInstance is per
instance per minute (a scaled minute offline).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws

from offline.services.endpoint_metrics import EndpointMetrics, Invocation
from offline.services.scaling_advice import ScalingDecision, scaling_decisions

ACCOUNT = "123456789012"
REGION = "us-east-1"
ENDPOINT = "fraud-detector-stage"
RESOURCE = f"endpoint/{ENDPOINT}/variant/AllTraffic"
#: The start of a scaled minute (time_scale 60: one real second), 30 s ago.
MINUTE = math.floor(time.time()) - 30.0


@pytest.fixture
def autoscaling() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("application-autoscaling", region_name=REGION)


def register(client: Any, *, low: int = 1, high: int = 4, target: float = 1000, **policy: Any) -> None:
    dimension = {"ServiceNamespace": "sagemaker", "ResourceId": RESOURCE}
    dimension["ScalableDimension"] = "sagemaker:variant:DesiredInstanceCount"
    client.register_scalable_target(**dimension, MinCapacity=low, MaxCapacity=high)
    client.put_scaling_policy(
        **dimension,
        PolicyName=f"{ENDPOINT}-invocations",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": target,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            **policy,
        },
    )


def invocations(count: int, *, start: float = MINUTE) -> None:
    metrics = EndpointMetrics(account=ACCOUNT, region=REGION)
    for index in range(count):
        metrics.record(Invocation(ENDPOINT, "AllTraffic", "config-a", 200, 1000, 100, start + index / (count + 1)))
    metrics.flush()


def decide(**arguments: Any) -> ScalingDecision:
    (decision,) = scaling_decisions(account=ACCOUNT, region=REGION, time_scale=60.0, now=MINUTE + 1.5, **arguments)
    return decision


def test_a_busy_variant_would_scale_out(autoscaling: Any) -> None:
    # Given 2 instances, a target of 100 per instance per minute, and 368 invocations in the last minute
    register(autoscaling, high=8, target=100)
    invocations(368)
    # When the decision is computed
    decision = decide(instance_counts={RESOURCE: 2})
    # Then 184 per instance is 1.84 times the target: 4 instances
    assert (decision.per_instance, decision.current, decision.desired) == (184, 2, 4)
    assert decision.line() == (
        f"scaling {RESOURCE}: 184 invocations per instance per minute against a target of 100 "
        "→ 2 → 4 instances (offline: not enacted)"
    )


def test_a_decision_renders_as_one_line() -> None:
    decision = ScalingDecision(
        RESOURCE, "p", 1000, current=2, desired=4, min_capacity=1, max_capacity=8, per_instance=1840
    )
    assert str(decision) == (
        f"scaling {RESOURCE}: 1,840 invocations per instance per minute against a target of 1,000 "
        "→ 2 → 4 instances (offline: not enacted)"
    )


def test_the_decision_stays_within_max_capacity(autoscaling: Any) -> None:
    register(autoscaling, high=3, target=10)
    invocations(50)
    assert decide(instance_counts={RESOURCE: 1}).desired == 3


def test_a_quiet_variant_would_scale_in_to_min_capacity_unless_scale_in_is_disabled(autoscaling: Any) -> None:
    register(autoscaling, low=2, target=100)
    invocations(10)
    assert decide(instance_counts={RESOURCE: 4}).desired == 2
    register(autoscaling, low=2, target=100, DisableScaleIn=True)
    assert decide(instance_counts={RESOURCE: 4}).desired == 4


def test_without_invocations_nothing_changes(autoscaling: Any) -> None:
    register(autoscaling)
    invocations(50, start=MINUTE - 5)  # long before the last minute
    decision = decide(instance_counts={RESOURCE: 2})
    assert (decision.per_instance, decision.desired) == (None, 2)
    assert "no invocations in the last minute" in decision.line()


def test_the_instance_count_defaults_to_the_endpoints(autoscaling: Any) -> None:
    # Given an endpoint of 3 instances in moto's SageMaker (no local servers: offline mode is not active)
    sagemaker = boto3.client("sagemaker", region_name=REGION)
    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/inference:1"
    role = f"arn:aws:iam::{ACCOUNT}:role/sm"
    sagemaker.create_model(ModelName="m", PrimaryContainer={"Image": image}, ExecutionRoleArn=role)
    variant = {"VariantName": "AllTraffic", "ModelName": "m", "InitialInstanceCount": 3, "InstanceType": "ml.m5.large"}
    sagemaker.create_endpoint_config(EndpointConfigName="config-a", ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="config-a")
    register(autoscaling, high=10, target=10)
    invocations(60)
    decision = decide()
    assert (decision.current, decision.per_instance, decision.desired) == (3, 20, 6)
