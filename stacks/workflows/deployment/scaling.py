"""Autoscaling of the endpoint's variant, as the deployment state machine manages it.

Target tracking on ``SageMakerVariantInvocationsPerInstance`` is registered once the endpoint
is InService with this run's config (Application Auto Scaling API Reference,
RegisterScalableTarget and PutScalingPolicy; SageMaker Developer Guide, "Automatic scaling of
Amazon SageMaker AI models"). Both calls are idempotent, so every deployment registers again
with the environment's current bounds.

An update that changes the instance type must deregister the scalable target first (SageMaker
Developer Guide, "Update or delete endpoints that use automatic scaling"): :func:`deregister_chain`
looks the target up and deregisters it only when it exists.

IAM: the caller of RegisterScalableTarget also needs the target service's own actions
(sagemaker:DescribeEndpoint, DescribeEndpointConfig, UpdateEndpointWeightsAndCapacities), the
CloudWatch alarm actions that target tracking uses, and, the first time in an account,
``iam:CreateServiceLinkedRole`` for Application Auto Scaling's SageMaker role (Application Auto
Scaling User Guide, "Identity-based policy examples" and "Service-linked roles"; SageMaker
Developer Guide, "Auto scaling prerequisites").
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.rollout_config import Autoscaling
from stacks.workflows.deployment.sdk import sdk_task

SERVICE = "applicationautoscaling"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
#: The service-linked role's path and name (resource type ``role``).
SERVICE_LINKED_ROLE = (
    "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


def resource_id(config: EnvironmentConfig) -> str:
    return f"endpoint/{config.endpoint_name}/variant/AllTraffic"


def policy_name(config: EnvironmentConfig) -> str:
    return f"{config.endpoint_name}-invocations"


def _target(config: EnvironmentConfig) -> dict[str, object]:
    return {"ServiceNamespace": "sagemaker", "ResourceId": resource_id(config), "ScalableDimension": DIMENSION}


def register_chain(
    scope: Construct, config: EnvironmentConfig, scaling: Autoscaling, then: sfn.IChainable
) -> sfn.IChainable:
    """RegisterScalableTarget → PutScalingPolicy → ``then``."""
    register = sdk_task(
        scope,
        "RegisterScaling",
        service=SERVICE,
        action="registerScalableTarget",
        parameters={**_target(config), "MinCapacity": scaling.min_capacity, "MaxCapacity": scaling.max_capacity},
        iam_resources=["*"],
    )
    policy = sdk_task(
        scope,
        "PutScalingPolicy",
        service=SERVICE,
        action="putScalingPolicy",
        parameters={
            **_target(config),
            "PolicyName": policy_name(config),
            "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": scaling.target_invocations_per_instance,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "ScaleInCooldown": scaling.scale_in_cooldown_seconds,
                "ScaleOutCooldown": scaling.scale_out_cooldown_seconds,
            },
        },
        iam_resources=["*"],
    )
    register.next(policy).next(then)
    return register


def deregister_chain(scope: Construct, config: EnvironmentConfig, then: sfn.IChainable) -> sfn.IChainable:
    """DescribeScalableTargets → (registered? DeregisterScalableTarget) → ``then``."""
    find = sdk_task(
        scope,
        "FindScaling",
        service=SERVICE,
        action="describeScalableTargets",
        parameters={
            "ServiceNamespace": "sagemaker",
            "ResourceIds": [resource_id(config)],
            "ScalableDimension": DIMENSION,
        },
        iam_resources=["*"],
        selector={"count": sfn.JsonPath.array_length(sfn.JsonPath.list_at("$.ScalableTargets"))},
        result_path="$.scaling",
    )
    deregister = sdk_task(
        scope,
        "DeregisterScaling",
        service=SERVICE,
        action="deregisterScalableTarget",
        parameters=_target(config),
        iam_resources=["*"],
    )
    deregister.next(then)
    find.next(
        sfn.Choice(scope, "ScalingRegistered")
        .when(sfn.Condition.number_greater_than("$.scaling.count", 0), deregister)
        .otherwise(then)
    )
    return find


def grant_scaling(role: iam.IRole, config: EnvironmentConfig, *, endpoint_arn: str, configs_arn: str) -> None:
    """What Application Auto Scaling checks of its caller besides its own actions (see the module docstring)."""
    stack = Stack.of(role)
    # One statement per resource, so the policy minimizer folds them into the endpoint's and the configs'.
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["sagemaker:DescribeEndpoint", "sagemaker:UpdateEndpointWeightsAndCapacities"],
            resources=[endpoint_arn],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["sagemaker:DescribeEndpointConfig"], resources=[configs_arn])
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
            # Target tracking names its alarms TargetTracking-<resource id>-AlarmHigh|Low-<uuid>.
            resources=[
                stack.format_arn(
                    service="cloudwatch",
                    resource="alarm",
                    resource_name=f"TargetTracking-{resource_id(config)}-*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["iam:CreateServiceLinkedRole"],
            resources=[stack.format_arn(service="iam", region="", resource="role", resource_name=SERVICE_LINKED_ROLE)],
            conditions={"StringLike": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}},
        )
    )
