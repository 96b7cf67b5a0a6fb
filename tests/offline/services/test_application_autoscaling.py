"""Application Auto Scaling offline: aws-sdk Tasks reach moto's backend; registering creates the role AWS creates.

Step Functions names the service ``applicationautoscaling`` in aws-sdk ARNs, boto3
``application-autoscaling``; its errors are ``ApplicationAutoScaling.<Exception>``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws
from moto.core.config import default_user_config

from offline import moto_patches
from offline.run.active import activate
from offline.services import application_autoscaling
from offline.services.iam.requests import ApiCall, RequestCatalog, UnmappedRequestError
from tests.offline.services_stub import bare_services

ACCOUNT = "123456789012"
REGION = "us-east-1"
TARGET = {
    "ServiceNamespace": "sagemaker",
    "ResourceId": "endpoint/fraud-detector-dev/variant/AllTraffic",
    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
}
ROLE = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


@pytest.fixture
def offline_moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's executing Step Functions engine, with offline mode's patches active (IAM not enforced)."""
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})
    moto_patches.install()
    activate(bare_services())
    try:
        with mock_aws():
            yield
    finally:
        activate(None)


def task(action: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    resource = f"arn:aws:states:::aws-sdk:applicationautoscaling:{action}"
    return {"Type": "Task", "Resource": resource, "Parameters": parameters, **extra}


def run(states: dict[str, Any], start: str) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name="scaling",
        definition=json.dumps({"StartAt": start, "States": states}),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 5
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish"
        time.sleep(0.05)
    return dict(described)


def test_aws_sdk_tasks_register_a_target_and_its_policy(offline_moto: None) -> None:
    # Given a state machine registering the variant and a target-tracking policy, as the deployment does
    policy = {
        **TARGET,
        "PolicyName": "fraud-detector-dev-invocations",
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 1000,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        },
    }
    states = {
        "Register": task("registerScalableTarget", {**TARGET, "MinCapacity": 1, "MaxCapacity": 4}, Next="Policy"),
        "Policy": task("putScalingPolicy", policy, End=True),
    }
    # When it runs
    execution = run(states, "Register")
    # Then both calls reached moto's application-autoscaling backend, visible through its API
    assert execution["status"] == "SUCCEEDED", execution
    client = boto3.client("application-autoscaling", region_name=REGION)
    (target,) = client.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert (target["ResourceId"], target["MinCapacity"], target["MaxCapacity"]) == (TARGET["ResourceId"], 1, 4)
    (found,) = client.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert found["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] == 1000
    # And, as in AWS, the target uses Application Auto Scaling's service-linked role, now created
    assert target["RoleARN"] == ROLE
    assert boto3.client("iam").get_role(RoleName=ROLE.rsplit("/", 1)[1])["Role"]["Arn"] == ROLE


def test_its_errors_are_named_as_step_functions_names_them(offline_moto: None) -> None:
    # Given a deregistration of a target that was never registered, caught
    states = {
        "Deregister": task(
            "deregisterScalableTarget",
            TARGET,
            Catch=[{"ErrorEquals": ["ApplicationAutoScaling.ValidationException"], "Next": "Handled"}],
            End=True,
        ),
        "Handled": {"Type": "Succeed"},
    }
    # Then the error is ApplicationAutoScaling.ValidationException, which the Catch handles
    execution = run(states, "Deregister")
    assert execution["status"] == "SUCCEEDED", execution


# --- IAM: what each call needs (Service Authorization Reference; Application Auto Scaling User Guide) ---

CATALOG = RequestCatalog(account=ACCOUNT, region=REGION)


def checks(operation: str, **params: Any) -> list[tuple[str, str, bool, dict[str, Any]]]:
    call = ApiCall(service="application-autoscaling", operation=operation, param=params.get)
    return [(c.action, c.resource, c.dependent, dict(c.context)) for c in CATALOG.checks(call)]


@pytest.mark.parametrize(
    "operation",
    [
        "PutScalingPolicy",
        "DescribeScalableTargets",
        "DescribeScalingPolicies",
        "DeregisterScalableTarget",
        "DeleteScalingPolicy",
    ],
)
def test_application_autoscaling_actions_are_on_star(operation: str) -> None:
    assert checks(operation, **TARGET) == [(f"application-autoscaling:{operation}", "*", False, {})]


ON_THE_ENDPOINT: list[tuple[str, str, bool, dict[str, str]]] = [
    (f"sagemaker:{action}", f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/fraud-detector-dev", True, {})
    for action in ("DescribeEndpoint", "UpdateEndpointWeightsAndCapacities")
]


@mock_aws
def test_the_first_sagemaker_registration_also_creates_the_service_linked_role() -> None:
    assert checks("RegisterScalableTarget", **TARGET) == [
        ("application-autoscaling:RegisterScalableTarget", "*", False, {}),
        *ON_THE_ENDPOINT,
        (
            "iam:CreateServiceLinkedRole",
            ROLE,
            True,
            {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"},
        ),
    ]


@mock_aws
def test_once_the_service_linked_role_exists_registering_needs_no_create_service_linked_role() -> None:
    application_autoscaling.ensure_service_linked_role("sagemaker", account=ACCOUNT)
    assert checks("RegisterScalableTarget", **TARGET) == [
        ("application-autoscaling:RegisterScalableTarget", "*", False, {}),
        *ON_THE_ENDPOINT,
    ]


def test_a_namespace_whose_role_offline_iam_does_not_know_is_refused_not_allowed() -> None:
    with pytest.raises(UnmappedRequestError, match="RegisterScalableTarget"):
        checks("RegisterScalableTarget", ServiceNamespace="ecs", ResourceId="service/c/s")
