"""Offline IAM on the calls of a safe rollout: Application Auto Scaling, its service-linked role, alarms.

Service Authorization Reference: Application Auto Scaling's actions have no resource types
(Resource ``*``); CloudWatch's DescribeAlarms acts on the alarm resource. Application Auto
Scaling User Guide, "Service-linked roles" → "Permissions required to create a service-linked
role": the first registration of a SageMaker variant needs ``iam:CreateServiceLinkedRole``.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.offline.services.iam.conftest import ACCOUNT, REGION, LocalIam

pytestmark = pytest.mark.slow

TARGET = {
    "ServiceNamespace": "sagemaker",
    "ResourceId": "endpoint/fraud-detector-dev/variant/AllTraffic",
    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
}
ROLE_NAME = "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
SERVICE_LINKED_ROLE = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/{ROLE_NAME}"
)
ALARM = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:"


def statements(*items: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **item} for item in items]}


ENDPOINT = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/fraud-detector-dev"
#: What Application Auto Scaling checks of its caller on a SageMaker target (User Guide, identity-based policies).
ON_THE_ENDPOINT = {
    "Action": ["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
    "Resource": ENDPOINT,
}


def scaling_role(local_iam: LocalIam, name: str, *, service_name: str | None, on_the_endpoint: bool = True) -> Any:
    """A state machine role allowed to register targets, and to create the service-linked role for ``service_name``."""
    allowed: list[dict[str, Any]] = [{"Action": ["application-autoscaling:RegisterScalableTarget"], "Resource": "*"}]
    if on_the_endpoint:
        allowed.append(ON_THE_ENDPOINT)
    if service_name is not None:
        condition = {"StringLike": {"iam:AWSServiceName": service_name}}
        allowed.append(
            {"Action": "iam:CreateServiceLinkedRole", "Resource": SERVICE_LINKED_ROLE, "Condition": condition}
        )
    role = local_iam.role(name, service="states.amazonaws.com", policy=statements(*allowed))
    credentials = local_iam.session(role, service="states.amazonaws.com")
    return local_iam.client_as("application-autoscaling", credentials)


def test_the_first_registration_creates_the_service_linked_role_when_allowed(local_iam: LocalIam) -> None:
    client = scaling_role(local_iam, "scaler", service_name="sagemaker.application-autoscaling.amazonaws.com")
    client.register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=2)
    assert local_iam.aws.client("iam").get_role(RoleName=ROLE_NAME)["Role"]["Arn"] == SERVICE_LINKED_ROLE


@pytest.mark.parametrize("service_name", [None, "ecs.application-autoscaling.amazonaws.com"])
def test_without_create_service_linked_role_for_sagemaker_the_first_registration_is_refused(
    local_iam: LocalIam, service_name: str | None
) -> None:
    client = scaling_role(local_iam, "scaler", service_name=service_name)
    with pytest.raises(ClientError) as refused:
        client.register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=2)
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert (
        f"is not authorized to perform: iam:CreateServiceLinkedRole on resource: {SERVICE_LINKED_ROLE}"
        in (error["Message"])
    )
    # And nothing was registered
    operator = local_iam.aws.client("application-autoscaling")
    assert operator.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []


def test_registering_an_endpoint_variant_needs_the_callers_rights_on_the_endpoint(local_iam: LocalIam) -> None:
    local_iam.aws.client("application-autoscaling").register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=2)
    client = scaling_role(local_iam, "scaler", service_name=None, on_the_endpoint=False)
    with pytest.raises(ClientError) as refused:
        client.register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=3)
    assert (
        f"not authorized to perform: sagemaker:DescribeEndpoint on resource: {ENDPOINT}"
        in (refused.value.response["Error"]["Message"])
    )


def test_a_target_tracking_policy_needs_the_alarm_actions_on_its_alarms(local_iam: LocalIam) -> None:
    local_iam.aws.client("application-autoscaling").register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=2)
    policy = {
        **TARGET,
        "PolicyName": "fraud-detector-dev-invocations",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 1000,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        },
    }
    put = {"Action": "application-autoscaling:PutScalingPolicy", "Resource": "*"}
    alarms = {
        "Action": ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms"],
        "Resource": ALARM + "TargetTracking-endpoint/fraud-detector-dev/variant/AllTraffic-*",
    }
    # Without the alarm actions the policy is refused, naming the alarm
    bare = local_iam.role("bare", service="states.amazonaws.com", policy=statements(put))
    client = local_iam.client_as("application-autoscaling", local_iam.session(bare, service="states.amazonaws.com"))
    with pytest.raises(ClientError) as refused:
        client.put_scaling_policy(**policy)
    assert (
        "cloudwatch:PutMetricAlarm on resource: " + ALARM + "TargetTracking-endpoint/fraud-detector-dev"
        in (refused.value.response["Error"]["Message"])
    )
    # With them (scoped to the variant's TargetTracking alarms, as the app grants) it is allowed
    full = local_iam.role("full", service="states.amazonaws.com", policy=statements(put, alarms))
    client = local_iam.client_as("application-autoscaling", local_iam.session(full, service="states.amazonaws.com"))
    client.put_scaling_policy(**policy)


def test_once_the_role_exists_registering_needs_no_create_service_linked_role(local_iam: LocalIam) -> None:
    # Given the service-linked role created by an earlier registration (the operator's)
    local_iam.aws.client("application-autoscaling").register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=2)
    client = scaling_role(local_iam, "scaler", service_name=None)
    # When a role without iam:CreateServiceLinkedRole registers the variant again
    client.register_scalable_target(**TARGET, MinCapacity=1, MaxCapacity=3)
    # Then it is allowed: only the first registration creates the role
    operator = local_iam.aws.client("application-autoscaling")
    (target,) = operator.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert target["MaxCapacity"] == 3


def _alarm(local_iam: LocalIam, name: str) -> None:
    local_iam.aws.client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0.05,
        ComparisonOperator="GreaterThanThreshold",
        Statistic="Average",
    )


def test_describe_alarms_by_name_is_checked_on_each_alarm(local_iam: LocalIam) -> None:
    # Given two alarms, and a role allowed to describe only the first (as the execution role is)
    _alarm(local_iam, "fraud-detector-dev-5xx-rate")
    _alarm(local_iam, "other-alarm")
    policy = statements({"Action": "cloudwatch:DescribeAlarms", "Resource": ALARM + "fraud-detector-dev-5xx-rate"})
    role = local_iam.role("guardrail", service="sagemaker.amazonaws.com", policy=policy)
    cloudwatch = local_iam.client_as("cloudwatch", local_iam.session(role, service="sagemaker.amazonaws.com"))
    # Then naming that alarm works
    (found,) = cloudwatch.describe_alarms(AlarmNames=["fraud-detector-dev-5xx-rate"])["MetricAlarms"]
    assert found["AlarmName"] == "fraud-detector-dev-5xx-rate"
    # And naming the other, or listing every alarm (Resource "*"), is refused
    for request, resource in (
        ({"AlarmNames": ["fraud-detector-dev-5xx-rate", "other-alarm"]}, ALARM + "other-alarm"),
        ({}, "*"),
    ):
        with pytest.raises(ClientError) as refused:
            cloudwatch.describe_alarms(**request)
        # (the body is CloudWatch's query-protocol XML, which boto3's CBOR client cannot read: status only)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        denied = local_iam.iam.authorizer.denials()[-1]
        assert (denied.action, denied.resource) == ("cloudwatch:DescribeAlarms", resource)
