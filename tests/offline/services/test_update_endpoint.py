"""UpdateEndpoint offline: DeploymentConfig and variant retention checked as SageMaker checks them.

The requests go through moto's server with offline mode's patches, unchecked by the client (as
Step Functions' aws-sdk integration sends them); the fleet only records what it is asked to deploy.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError

from offline import moto_patches
from offline.run.active import activate
from offline.run.local_aws import running_moto
from offline.services.sagemaker_deployment_config import DeploymentPolicy, variant_summaries
from tests.offline.services_stub import bare_services

pytestmark = pytest.mark.slow

ALARM = "fraud-detector-stage-5xx-rate"
CANARY: dict[str, Any] = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
            "WaitIntervalInSeconds": 300,
        },
        "TerminationWaitInSeconds": 120,
        "MaximumExecutionTimeoutInSeconds": 1800,
    },
    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": ALARM}]},
}


@dataclass
class RecordingFleet:
    """Deploys nothing: records each request and puts the endpoint in service on it at once."""

    configs: Any = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def deploy(
        self,
        endpoint: Any,
        config_name: str,
        *,
        update: bool,
        policy: DeploymentPolicy | None = None,
        instance_count: int | None = None,
    ) -> None:
        self.calls.append({"config": config_name, "policy": policy, "instances": instance_count})
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = variant_summaries(self.configs(config_name), instance_count)
        endpoint.endpoint_status = "InService"

    def delete(self, name: str) -> None:
        return None


@dataclass
class Local:
    sagemaker: Any
    fleet: RecordingFleet
    endpoint: str

    def config(self, name: str, *, instances: int = 2, variant: str = "AllTraffic") -> str:
        name = f"{self.endpoint}-{name}"
        self.sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": variant,
                    "ModelName": "model",
                    "InitialInstanceCount": instances,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
        return name

    def update(self, config: str, **request: Any) -> dict[str, Any]:
        name = f"{self.endpoint}-{config}"
        return dict(self.sagemaker.update_endpoint(EndpointName=self.endpoint, EndpointConfigName=name, **request))

    def refusal(self, config: str, **request: Any) -> str:
        with pytest.raises(ClientError) as raised:
            self.update(config, **request)
        assert raised.value.response["Error"]["Code"] == "ValidationException"
        return str(raised.value.response["Error"]["Message"])

    def last_call(self) -> dict[str, Any]:
        return self.fleet.calls[-1]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Any, RecordingFleet]]:
    """The local AWS with offline mode's patches, a recording fleet and one model."""
    with running_moto(account="123456789012", region="us-east-1") as aws:
        moto_patches.install()
        fleet = RecordingFleet()
        activate(bare_services(fleet=fleet))
        try:
            from moto.sagemaker.models import sagemaker_backends

            fleet.configs = sagemaker_backends[aws.account][aws.region].describe_endpoint_config
            sagemaker = aws.client("sagemaker", parameter_validation=False)
            sagemaker.create_model(
                ModelName="model",
                ExecutionRoleArn="arn:aws:iam::123456789012:role/model",
                PrimaryContainer={"Image": "image", "ModelDataUrl": "s3://bucket/model.tar.gz"},
            )
            yield sagemaker, fleet
        finally:
            activate(None)


@pytest.fixture
def local(server: tuple[Any, RecordingFleet], request: pytest.FixtureRequest) -> Local:
    """An endpoint of this test's own, live on v1 (2 instances), and a v2 config to update to."""
    sagemaker, fleet = server
    local = Local(sagemaker, fleet, f"ep-{abs(hash(request.node.nodeid)) % 10**8}")
    sagemaker.create_endpoint(EndpointName=local.endpoint, EndpointConfigName=local.config("v1"))
    local.config("v2")
    return local


def with_policy(**changes: Any) -> dict[str, Any]:
    """CANARY with ``changes`` in BlueGreenUpdatePolicy or its TrafficRoutingConfiguration (None removes)."""
    config = copy.deepcopy(CANARY)
    policy = config["BlueGreenUpdatePolicy"]
    for key, value in changes.items():
        on_policy = key in ("TerminationWaitInSeconds", "MaximumExecutionTimeoutInSeconds")
        target = policy if on_policy else policy["TrafficRoutingConfiguration"]
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return config


def test_a_canary_update_is_accepted_and_described_as_the_last_deployment_config(local: Local):
    # When the endpoint is updated with a canary DeploymentConfig
    local.update("v2", DeploymentConfig=CANARY)
    # Then the fleet deploys v2 with that policy on the config's 2 instances
    call = local.last_call()
    assert (call["config"], call["instances"]) == (f"{local.endpoint}-v2", 2)
    assert call["policy"].traffic == "CANARY"
    assert call["policy"].alarms == (ALARM,)
    # ...and DescribeEndpoint shows the DeploymentConfig as LastDeploymentConfig
    described = local.sagemaker.describe_endpoint(EndpointName=local.endpoint)
    assert described["LastDeploymentConfig"] == CANARY


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"TerminationWaitInSeconds": 5000},
            "1 validation error detected: Value '5000' at 'deploymentConfig.blueGreenUpdatePolicy."
            "terminationWaitInSeconds' failed to satisfy constraint: Member must have value less than or equal to 3600",
        ),
        (
            {"WaitIntervalInSeconds": None},
            "1 validation error detected: Value null at 'deploymentConfig.blueGreenUpdatePolicy."
            "trafficRoutingConfiguration.waitIntervalInSeconds' failed to satisfy constraint: Member must not be null",
        ),
        (
            {"Type": "BLUE"},
            "1 validation error detected: Value 'BLUE' at 'deploymentConfig.blueGreenUpdatePolicy."
            "trafficRoutingConfiguration.type' failed to satisfy constraint: Member must satisfy enum value set: "
            "[ALL_AT_ONCE, CANARY, LINEAR]",
        ),
        (
            {"MaximumExecutionTimeoutInSeconds": 60, "WaitIntervalInSeconds": -1},
            "2 validation errors detected: ",
        ),
        (
            {"CanarySize": {"Type": "INSTANCE_COUNT", "Value": 2}},
            "CanarySize 2 instance(s) (INSTANCE_COUNT) is more than 50% of the variant's total instance count (2)",
        ),
        ({"CanarySize": None}, "TrafficRoutingConfiguration of Type CANARY needs CanarySize."),
        (
            {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 60}},
            "LinearStepSize 60% (CAPACITY_PERCENT) must be 10-50% of the variant's total instance count (2).",
        ),
    ],
)
def test_a_bad_deployment_config_is_a_validation_exception(local: Local, changes: dict[str, Any], message: str):
    refusal = local.refusal("v2", DeploymentConfig=with_policy(**changes))

    assert refusal.startswith(message)
    assert local.last_call()["config"] == f"{local.endpoint}-v1"  # nothing deployed


def test_too_many_alarms_are_refused_with_the_list_constraint(local: Local):
    config = copy.deepcopy(CANARY)
    config["AutoRollbackConfiguration"]["Alarms"] = [{"AlarmName": f"a{n}"} for n in range(11)]

    refusal = local.refusal("v2", DeploymentConfig=config)

    assert refusal == (
        "1 validation error detected: Value '"
        + str(config["AutoRollbackConfiguration"]["Alarms"])
        + "' at 'deploymentConfig.autoRollbackConfiguration.alarms' failed to satisfy constraint: "
        "Member must have length less than or equal to 10"
    )


def test_a_rolling_update_policy_is_refused_as_not_emulated(local: Local):
    rolling = {
        "RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}, "WaitIntervalInSeconds": 60}
    }

    refusal = local.refusal("v2", DeploymentConfig=rolling)

    assert "RollingUpdatePolicy is not emulated by offline mode" in refusal


def test_a_blue_green_update_must_keep_the_variant_name(local: Local):
    local.config("renamed", variant="Challenger")

    refusal = local.refusal("renamed", DeploymentConfig=CANARY)

    assert "keeps the variant name" in refusal


def test_retained_variant_properties_keep_the_live_instance_count(local: Local):
    # Given the live endpoint runs 2 instances and config-v3 asks for 4
    local.config("v3", instances=4)
    # When the update retains the variant properties
    local.update("v3", DeploymentConfig=CANARY, RetainAllVariantProperties=True)
    # Then the new fleet has the live count, 2
    assert local.last_call()["instances"] == 2


def test_an_excluded_instance_count_comes_from_the_new_config(local: Local):
    local.config("v3", instances=4)

    local.update(
        "v3",
        RetainAllVariantProperties=True,
        ExcludeRetainedVariantProperties=[{"VariantPropertyType": "DesiredInstanceCount"}],
    )

    assert local.last_call()["instances"] == 4
    assert local.last_call()["policy"] is None


def test_retain_deployment_config_reuses_the_last_one(local: Local):
    local.update("v2", DeploymentConfig=CANARY)
    local.config("v3")

    local.update("v3", RetainDeploymentConfig=True)

    assert local.fleet.calls[-1]["policy"] == local.fleet.calls[-2]["policy"]


def test_create_endpoint_keeps_its_deployment_config_for_later_updates(server: tuple[Any, RecordingFleet]):
    # Given an endpoint created with a canary DeploymentConfig
    sagemaker, fleet = server
    sagemaker.create_endpoint_config(
        EndpointConfigName="created-v1",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "model",
                "InitialInstanceCount": 2,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName="created", EndpointConfigName="created-v1", DeploymentConfig=CANARY)
    # Then the creation itself shifts nothing, and DescribeEndpoint shows the config for RetainDeploymentConfig
    assert fleet.calls[-1]["policy"] is None
    assert sagemaker.describe_endpoint(EndpointName="created")["LastDeploymentConfig"] == CANARY
