"""The update of a live endpoint: blue/green with traffic shifting and alarm rollback.

The optimized ``sagemaker:updateEndpoint`` integration does not take ``DeploymentConfig``, so
the update is the aws-sdk call (Step Functions Developer Guide, "Create and manage Amazon
SageMaker AI jobs with Step Functions": UpdateEndpoint's supported parameters). Its
``DeploymentConfig`` is the environment's rollout (SageMaker API Reference, "DeploymentConfig",
"BlueGreenUpdatePolicy", "TrafficRoutingConfig", "AutoRollbackConfig"), with the endpoint's
alarms as the rollback alarms.

Instance count: an update that keeps the instance type keeps the live fleet's count
(``RetainAllVariantProperties``; the data capture settings still come from the new config,
``ExcludeRetainedVariantProperties``), so a deployment never undoes what autoscaling did. An
update that changes the instance type deregisters scaling first, as SageMaker requires, and
starts from the config's count; scaling is registered again once it is live.

Not retried: every aws-sdk SageMaker error has the same name, so a throttled call cannot be told
from one SageMaker refused, and a repeated update of an endpoint already updating is refused.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.rollout_config import CapacitySize
from stacks.workflows.deployment.scaling import deregister_chain
from stacks.workflows.deployment.sdk import sdk_task

RUN = "$.run"
#: Variant properties taken from the new config even when the others are retained.
FROM_NEW_CONFIG = [{"VariantPropertyType": "DataCaptureConfig"}]


def deployment_config(config: EnvironmentConfig) -> dict[str, Any]:
    """UpdateEndpoint's ``DeploymentConfig`` for ``config``'s rollout and alarms."""
    rollout = config.rollout
    routing: dict[str, Any] = {"Type": rollout.traffic, "WaitIntervalInSeconds": rollout.wait_interval_seconds}
    if rollout.traffic == "CANARY":
        routing["CanarySize"] = _size(rollout.canary_size)
    if rollout.traffic == "LINEAR":
        routing["LinearStepSize"] = _size(rollout.linear_step_size)
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing,
            "TerminationWaitInSeconds": rollout.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": rollout.max_execution_timeout_seconds,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in config.endpoint_alarm_names.values()]},
    }


def rollout_text(config: EnvironmentConfig) -> str:
    """The rollout in words, for notifications."""
    rollout = config.rollout
    bake = f"{rollout.wait_interval_seconds} s"
    if rollout.traffic == "CANARY":
        how = f"canary of {rollout.canary_size.describe()} baked {bake}, then all traffic baked {bake} again"
    elif rollout.traffic == "LINEAR":
        how = f"linear steps of {rollout.linear_step_size.describe()}, each baked {bake}"
    else:
        how = f"all at once, baked {bake}"
    return f"{how}; old fleet kept {rollout.termination_wait_seconds} s; alarms watched throughout"


def _size(size: CapacitySize) -> dict[str, Any]:
    return {"Type": size.type, "Value": size.value}


def update_chain(
    scope: Construct,
    config: EnvironmentConfig,
    *,
    endpoint_arn: str,
    configs_arn: str,
    then: sfn.IChainable,
) -> sfn.IChainable:
    """DescribeLiveConfig → same instance type? (keep the count) : (deregister scaling) → UpdateEndpoint → ``then``."""
    update = sdk_task(
        scope,
        "UpdateEndpoint",
        service="sagemaker",
        action="updateEndpoint",
        parameters={
            "EndpointName.$": f"{RUN}.names.endpoint",
            "EndpointConfigName.$": f"{RUN}.names.endpoint_config",
            "DeploymentConfig": deployment_config(config),
            "RetainAllVariantProperties.$": "$.update.retain",
            "ExcludeRetainedVariantProperties.$": "$.update.exclude",
        },
        iam_resources=[endpoint_arn, configs_arn],
        retry=False,
    )
    update.next(then)

    def plan(construct_id: str, *, retain: bool) -> sfn.Pass:
        return sfn.Pass(
            scope,
            construct_id,
            parameters={
                "kind": "update",
                "retain": retain,
                "exclude": FROM_NEW_CONFIG if retain else [],
                "started.$": "$$.State.EnteredTime",
                "traffic": rollout_text(config),
            },
            result_path="$.update",
        )

    keep = plan("KeepInstanceCount", retain=True)
    keep.next(update)
    new_type = plan("NewInstanceType", retain=False)
    new_type.next(update)
    describe = sdk_task(
        scope,
        "DescribeLiveConfig",
        service="sagemaker",
        action="describeEndpointConfig",
        parameters={"EndpointConfigName.$": "$.existing.config"},
        iam_resources=[configs_arn],
        selector={"instance_type": sfn.JsonPath.string_at("$.ProductionVariants[0].InstanceType")},
        result_path="$.live",
    )
    change = deregister_chain(scope, config, new_type) if config.autoscaling else new_type
    describe.next(
        sfn.Choice(scope, "SameInstanceType")
        .when(
            sfn.Condition.string_equals_json_path("$.live.instance_type", f"{RUN}.settings.endpoint_instance_type"),
            keep,
        )
        .otherwise(change)
    )
    return describe


def first_deployment(scope: Construct) -> sfn.Pass:
    """What a CreateEndpoint deployment records: no traffic to shift, so no canary."""
    return sfn.Pass(
        scope,
        "FirstDeployment",
        parameters={
            "kind": "create",
            "started.$": "$$.State.EnteredTime",
            "traffic": "first deployment: the endpoint is created with all traffic on this version "
            "(no canary: there is no live version to shift from)",
        },
        result_path="$.update",
    )
