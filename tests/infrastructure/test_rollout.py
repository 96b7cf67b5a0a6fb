"""Safe rollout in the templates: the update's DeploymentConfig, the endpoint alarms, autoscaling and their IAM."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from stacks.config import ConfigError, load_environment
from tests.infrastructure.conftest import CDK_CONTEXT, Synthesized


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return Synthesized("stage", tmp_path_factory.mktemp("cdk-stage"))


def _update(synthesized: Synthesized) -> dict[str, Any]:
    states: dict[str, Any] = synthesized.state_machine_definition("deployment")["States"]
    return states


def _statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    policies = synthesized.pipeline.find_resources("AWS::IAM::Policy")
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _with_action(synthesized: Synthesized, action: str) -> list[dict[str, Any]]:
    def actions(statement: dict[str, Any]) -> list[str]:
        value = statement["Action"]
        return [value] if isinstance(value, str) else list(value)

    return [s for s in _statements(synthesized) if action in actions(s)]


def test_stage_updates_with_a_canary_that_the_endpoint_alarms_roll_back(stage: Synthesized) -> None:
    update = _update(stage)["UpdateEndpoint"]
    assert update["Resource"].endswith(":states:::aws-sdk:sagemaker:updateEndpoint")
    config = update["Parameters"]["DeploymentConfig"]
    rollout = stage.config.rollout
    assert config["BlueGreenUpdatePolicy"] == {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "WaitIntervalInSeconds": rollout.wait_interval_seconds,
            "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
        },
        "TerminationWaitInSeconds": rollout.termination_wait_seconds,
        "MaximumExecutionTimeoutInSeconds": rollout.max_execution_timeout_seconds,
    }
    assert config["AutoRollbackConfiguration"] == {
        "Alarms": [{"AlarmName": "fraud-detector-stage-5xx-rate"}, {"AlarmName": "fraud-detector-stage-p99-latency"}]
    }
    # The live instance count is kept (autoscaling's), the data capture settings come from the new config
    assert update["Parameters"]["RetainAllVariantProperties.$"] == "$.update.retain"
    assert _update(stage)["KeepInstanceCount"]["Parameters"]["exclude"] == [
        {"VariantPropertyType": "DataCaptureConfig"}
    ]


def test_dev_updates_all_at_once(dev: Synthesized) -> None:
    routing = _update(dev)["UpdateEndpoint"]["Parameters"]["DeploymentConfig"]["BlueGreenUpdatePolicy"]
    assert routing["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 60}


def test_the_deployment_waits_longer_than_sagemaker_may_take(stage: Synthesized) -> None:
    config = stage.config
    budget = config.endpoint_poll_seconds * config.endpoint_max_polls
    assert budget >= config.rollout.max_execution_timeout_seconds > config.rollout.baking_seconds


@pytest.mark.parametrize(
    ("kind", "metric", "statistic"),
    [("5xx-rate", "Invocation5XXErrors", "Average"), ("p99-latency", "ModelLatency", None)],
)
def test_endpoint_alarms_watch_the_variant_and_notify_the_topic(
    stage: Synthesized, kind: str, metric: str, statistic: str | None
) -> None:
    alarms = stage.pipeline.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"AlarmName": f"fraud-detector-stage-{kind}"}}
    )
    (alarm,) = alarms.values()
    properties = alarm["Properties"]
    assert properties["Namespace"] == "AWS/SageMaker"
    assert properties["MetricName"] == metric
    assert properties["Dimensions"] == [
        {"Name": "EndpointName", "Value": "fraud-detector-stage"},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    assert properties["Period"] == 60
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert properties["TreatMissingData"] == "notBreaching"
    if statistic:
        assert properties["Statistic"] == statistic
        assert properties["Threshold"] == stage.config.endpoint_alarms.max_5xx_rate
    else:
        # ModelLatency is in microseconds
        assert properties["ExtendedStatistic"] == "p99"
        assert properties["Threshold"] == stage.config.endpoint_alarms.max_p99_latency_ms * 1000
    for actions in (properties["AlarmActions"], properties["OKActions"]):
        assert "Alerts" in json.dumps(actions)


def test_a_4xx_rate_alarm_is_optional(tmp_path_factory: pytest.TempPathFactory) -> None:
    alarms = {"period_seconds": 60, "evaluation_periods": 1, "max_5xx_rate": 0.02, "max_p99_latency_ms": 500}
    with_4xx = Synthesized("dev", tmp_path_factory.mktemp("cdk-4xx"), endpoint_alarms={**alarms, "max_4xx_rate": 0.2})
    names = with_4xx.config.endpoint_alarm_names
    assert names["4xx"] == "fraud-detector-dev-4xx-rate"
    with_4xx.pipeline.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {"AlarmName": "fraud-detector-dev-4xx-rate", "MetricName": "Invocation4XXErrors", "Threshold": 0.2},
    )
    rollback = _update(with_4xx)["UpdateEndpoint"]["Parameters"]["DeploymentConfig"]["AutoRollbackConfiguration"]
    assert {"AlarmName": "fraud-detector-dev-4xx-rate"} in rollback["Alarms"]


def test_sagemaker_can_read_the_rollback_alarms_as_guardrails_require(stage: Synthesized) -> None:
    statements = _with_action(stage, "cloudwatch:DescribeAlarms")
    rendered = json.dumps(statements)
    for name in ("fraud-detector-stage-5xx-rate", "fraud-detector-stage-p99-latency"):
        assert f"alarm:{name}" in rendered
    roles = stage.pipeline.find_resources("AWS::IAM::Policy")
    owners = [
        json.dumps(policy["Properties"]["Roles"])
        for policy in roles.values()
        if "fraud-detector-stage-5xx-rate" in json.dumps(policy)
    ]
    assert any("SageMakerExecution" in owner for owner in owners)


def test_scaling_is_registered_with_the_environments_bounds(stage: Synthesized) -> None:
    states = _update(stage)
    register = states["RegisterScaling"]["Parameters"]
    scaling = stage.config.autoscaling
    assert scaling is not None
    assert register == {
        "ServiceNamespace": "sagemaker",
        "ResourceId": "endpoint/fraud-detector-stage/variant/AllTraffic",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "MinCapacity": scaling.min_capacity,
        "MaxCapacity": scaling.max_capacity,
    }
    policy = states["PutScalingPolicy"]["Parameters"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }
    assert tracking["TargetValue"] == scaling.target_invocations_per_instance


def test_the_service_linked_role_may_only_be_created_for_application_auto_scaling(stage: Synthesized) -> None:
    (statement,) = _with_action(stage, "iam:CreateServiceLinkedRole")
    assert statement["Condition"] == {
        "StringLike": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}
    }
    assert "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint" in json.dumps(statement["Resource"])
    for action in ("application-autoscaling:RegisterScalableTarget", "sagemaker:UpdateEndpointWeightsAndCapacities"):
        assert _with_action(stage, action), action


def test_without_autoscaling_nothing_is_registered(tmp_path_factory: pytest.TempPathFactory) -> None:
    fixed = Synthesized("dev", tmp_path_factory.mktemp("cdk-fixed"), autoscaling=None)
    states = _update(fixed)
    assert "RegisterScaling" not in states
    assert states["SameInstanceType"]["Default"] == "NewInstanceType"
    assert not _with_action(fixed, "iam:CreateServiceLinkedRole")
    fixed.pipeline.has_resource_properties(
        "AWS::StepFunctions::StateMachine", Match.object_like({"StateMachineType": Match.absent()})
    )


def _context(env: str, **override: Any) -> dict[str, Any]:
    context = json.loads(json.dumps(CDK_CONTEXT))
    context["environments"][env].update(override)
    return context


@pytest.mark.parametrize(
    ("env", "override", "fragment"),
    [
        ("dev", {"rollout": {"traffic": "CANARY"}}, "at most half of the fleet's 1 instance(s)"),
        (
            "stage",
            {"rollout": {"traffic": "LINEAR", "linear_step_size": {"type": "CAPACITY_PERCENT", "value": 5}}},
            "SageMaker needs at least 10%",
        ),
        (
            "stage",
            {"rollout": {"traffic": "CANARY", "canary_size": {"type": "CAPACITY_PERCENT", "value": 80}}},
            "must be at most half",
        ),
        (
            "dev",
            {"rollout": {"wait_interval_seconds": 1800, "termination_wait_seconds": 60}},
            "must exceed the waits it contains",
        ),
        ("dev", {"endpoint_max_polls": 10}, "the deployment state machine would give up"),
        ("dev", {"rollout": {"traffic": "BLUE"}}, "environments.dev.rollout.traffic"),
        ("dev", {"autoscaling": {"min_capacity": 3, "max_capacity": 2}}, "max_capacity 2 is below min_capacity 3"),
        ("dev", {"endpoint_alarms": {"max_5xx_rate": 2}}, "environments.dev.endpoint_alarms.max_5xx_rate"),
    ],
)
def test_a_rollout_sagemaker_would_refuse_fails_at_synth(env: str, override: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_environment(_context(env, **override), env)
    assert fragment in str(caught.value)
