"""``resolve_deployment``: which version the deployment puts live, from the event, the registry and the endpoint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws
from moto.sagemaker.models import sagemaker_backends

from lambdas.common.settings import ConfigurationError
from lambdas.resolve_deployment import app
from lambdas.resolve_deployment.logic import Clients, DeploymentEventError, parse_event, resolve
from lambdas.resolve_deployment.models import ResolveResult, ResolveSettings
from lambdas.resolve_deployment.settings import SAGEMAKER_NAME_MAX, SAGEMAKER_NAME_PATTERN, DeploymentConfigError
from tests.unit.lambdas.conftest import ACCOUNT, REGION, FakeLambdaContext, load_event

GROUP = "fraud-dev-models"
ENDPOINT = "fraud-dev-endpoint"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/fraud-dev-inference:ba9876543210"
SETTINGS_PARAMETER = "/fraud/dev/settings"
RUN_SETTINGS = {
    "training_instance_type": "ml.m5.large",
    "training_instance_count": 1,
    "training_volume_gb": 10,
    "max_runtime_seconds": 3600,
    "endpoint_instance_type": "ml.t2.medium",
    "endpoint_initial_instance_count": 2,
    "gate": {"min_pr_auc": 0.2, "min_roc_auc": 0.7, "max_drop": 0.05, "approval": "auto"},
}


@dataclass
class World:
    """A moto account with the environment's model package group, run settings and (optionally) an endpoint."""

    sagemaker: Any
    ssm: Any

    def register(self, status: str = "Approved", group: str = GROUP) -> str:
        """A new model package version as the retraining run registers it; returns its ARN."""
        version = len(self.sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]) + 1
        return str(
            self.sagemaker.create_model_package(
                ModelPackageGroupName=group,
                ModelApprovalStatus=status,
                InferenceSpecification={
                    "Containers": [
                        {"Image": IMAGE, "ModelDataUrl": f"s3://fraud-artifacts-dev/run{version}/model.tar.gz"}
                    ],
                    "SupportedContentTypes": ["text/csv", "application/json"],
                    "SupportedResponseMIMETypes": ["application/json"],
                },
                CustomerMetadataProperties={"run_id": f"dev-run-{version}", "data_version": f"data-{version}"},
            )["ModelPackageArn"]
        )

    def set_status(self, arn: str, status: str) -> None:
        self.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)

    def serve(self, package_arn: str | None, *, name: str = "fraud-dev-live", status: str | None = None) -> str:
        """Make the endpoint serve a model made from ``package_arn`` (None: from an image, before the registry)."""
        container = {"ModelPackageName": package_arn} if package_arn else {"Image": IMAGE}
        self.sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
        self.sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[variant(name)],
        )
        # moto has no UpdateEndpoint: a new config goes live by recreating the endpoint.
        if self.sagemaker.list_endpoints(NameContains=ENDPOINT)["Endpoints"]:
            self.sagemaker.delete_endpoint(EndpointName=ENDPOINT)
        self.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=name)
        if status is not None:  # moto's endpoints go InService at once; set another status directly
            sagemaker_backends[ACCOUNT][REGION].endpoints[ENDPOINT].endpoint_status = status
        return name

    def payload(self, arn: str, status: str, *, group: str = GROUP, execution: str = "deploy-1") -> dict[str, Any]:
        """The state machine's payload for the event SageMaker sends when ``arn`` changes to ``status``."""
        payload = load_event("resolve_deployment_approved")
        detail = payload["event"]["detail"]
        detail.update(
            ModelPackageGroupName=group,
            ModelPackageArn=arn,
            ModelPackageVersion=int(arn.rsplit("/", 1)[-1]),
            ModelApprovalStatus=status,
        )
        payload["event"]["resources"] = [arn]
        payload["execution"]["name"] = execution
        payload["execution"]["id"] = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:FraudDeployment-dev:{execution}"
        return payload

    def resolve(self, arn: str, status: str, **kwargs: Any) -> ResolveResult:
        event = parse_event(self.payload(arn, status, **kwargs))
        return resolve(event, ResolveSettings.from_env(), Clients(sagemaker=self.sagemaker, ssm=self.ssm))


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name, value in {
        "ENVIRONMENT": "dev",
        "MODEL_PACKAGE_GROUP": GROUP,
        "ENDPOINT_NAME": ENDPOINT,
        "SETTINGS_PARAMETER": SETTINGS_PARAMETER,
        "NAME_PREFIX": "fraud-dev-",
        "TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:fraud-dev",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        sagemaker = boto3.client("sagemaker")
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        ssm = boto3.client("ssm")
        ssm.put_parameter(Name=SETTINGS_PARAMETER, Type="String", Value=json.dumps(RUN_SETTINGS))
        yield World(sagemaker, ssm)


def variant(model: str) -> dict[str, Any]:
    return {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.t2.medium", "InitialInstanceCount": 1}


def expected_name(version: str, execution: str = "deploy-1", kind: str = "model") -> str:
    """The names the clean-up recognises: ``fraud-<env>-model-...`` and ``fraud-<env>-config-...``."""
    return f"fraud-dev-{kind}-v{version}-{hashlib.sha256(execution.encode()).hexdigest()[:8]}"


# --- Approved ------------------------------------------------------------------------------------------


def test_an_approved_version_is_deployed_when_there_is_no_endpoint_yet(world: World) -> None:
    # Given the environment's first version, approved, and no endpoint
    arn = world.register()
    # When its Approved event is resolved
    result = world.resolve(arn, "Approved")
    # Then it is deployed, with everything the later steps need
    assert (result.action, result.notify, result.trigger) == ("deploy", True, "approved")
    assert result.reason == f"version 1 was approved; {ENDPOINT} does not exist yet, so it is created"
    assert result.live is None
    assert result.package is not None
    assert result.package.model_dump() == {
        "arn": arn,
        "version": "1",
        "model_data_url": "s3://fraud-artifacts-dev/run1/model.tar.gz",
        "image": IMAGE,
        "run_id": "dev-run-1",
        "data_version": "data-1",
    }
    assert result.names is not None
    assert result.names.model_dump() == {
        "model": expected_name("1"),
        "endpoint_config": expected_name("1", kind="config"),
        "endpoint": ENDPOINT,
    }
    assert result.settings is not None
    assert result.settings.model_dump() == {
        "endpoint_instance_type": "ml.t2.medium",
        "endpoint_initial_instance_count": 2,
    }
    assert result.run_id == "deploy-1"
    assert result.execution_arn.endswith(":execution:FraudDeployment-dev:deploy-1")
    assert result.console_url.startswith(f"https://{REGION}.console.aws.amazon.com/states/home")
    assert result.console_url.endswith(result.execution_arn)


def test_an_approved_version_replaces_the_live_one(world: World) -> None:
    # Given version 1 live and version 2 just approved
    first = world.register()
    config = world.serve(first)
    second = world.register()
    # When version 2's Approved event is resolved
    result = world.resolve(second, "Approved")
    # Then version 2 is deployed, and the result says what it replaces
    assert result.action == "deploy"
    assert result.package is not None
    assert result.package.version == "2"
    assert result.live is not None
    assert result.live.model_dump() == {"package_arn": first, "version": "1", "endpoint_config": config}
    assert result.reason == f"version 2 was approved; it replaces version 1 on {ENDPOINT}"


def test_a_duplicate_event_for_the_live_version_is_skipped_quietly(world: World) -> None:
    # Given version 1 already live (EventBridge delivered its Approved event twice)
    arn = world.register()
    world.serve(arn)
    # When the second event is resolved
    result = world.resolve(arn, "Approved", execution="deploy-2")
    # Then nothing is deployed and nobody is notified
    assert (result.action, result.notify) == ("skip", False)
    assert result.reason == f"version 1 is already live on {ENDPOINT}"
    assert result.names is None
    assert result.settings is None


def test_an_approved_event_for_a_version_rejected_since_deploys_nothing(world: World) -> None:
    # Given a version approved, then rejected before its deployment started
    arn = world.register()
    world.set_status(arn, "Rejected")
    # When the (stale) Approved event is resolved
    result = world.resolve(arn, "Approved")
    # Then the later decision wins: nothing is deployed (the Rejected event has its own execution)
    assert (result.action, result.notify) == ("skip", False)
    assert result.reason == "version 1 was approved, but is now Rejected; not deploying it"


def test_an_approved_version_replaces_a_model_made_before_the_registry(world: World) -> None:
    # Given an endpoint serving a model built from an image and artifact, not from a package
    config = world.serve(None)
    arn = world.register()
    # When a version is approved
    result = world.resolve(arn, "Approved")
    # Then it is deployed, and the live config is reported without a version
    assert result.action == "deploy"
    assert result.live is not None
    assert (result.live.package_arn, result.live.version, result.live.endpoint_config) == (None, None, config)
    assert result.reason == f"version 1 was approved; it replaces endpoint config {config} on {ENDPOINT}"


def test_a_failed_endpoint_counts_as_serving_nothing(world: World) -> None:
    # Given an endpoint whose creation with version 1 failed
    arn = world.register()
    world.serve(arn, status="Failed")
    # When version 1's Approved event is resolved (again)
    result = world.resolve(arn, "Approved", execution="deploy-2")
    # Then it is deployed rather than skipped as "already live"
    assert result.action == "deploy"
    assert result.live is None


def test_a_live_model_deleted_since_leaves_the_live_version_unknown(world: World) -> None:
    arn = world.register()
    config = world.serve(arn)
    world.sagemaker.delete_model(ModelName=config)
    result = world.resolve(world.register(), "Approved")
    assert result.live is not None
    assert (result.live.package_arn, result.live.endpoint_config) == (None, config)


def test_the_live_version_is_read_from_containers_when_there_is_no_primary_container(world: World) -> None:
    # Given a live model defined with Containers[] rather than PrimaryContainer
    arn = world.register()
    world.sagemaker.create_model(ModelName="multi", ExecutionRoleArn=ROLE, Containers=[{"ModelPackageName": arn}])
    world.sagemaker.create_endpoint_config(
        EndpointConfigName="multi",
        ProductionVariants=[variant("multi")],
    )
    world.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="multi")
    # When its Approved event comes again
    result = world.resolve(arn, "Approved")
    # Then it is recognised as live
    assert (result.action, result.reason) == ("skip", f"version 1 is already live on {ENDPOINT}")


# --- Rejected ------------------------------------------------------------------------------------------


def test_rejecting_the_live_version_rolls_back_to_the_newest_other_approved_one(world: World) -> None:
    # Given versions 1 and 2 approved, 3 rejected by the gate, and 4 approved and live
    world.register()
    second = world.register()
    world.register("Rejected")  # a rejected version in between is never a rollback target
    fourth = world.register()
    world.serve(fourth)
    # When version 4 is rejected
    world.set_status(fourth, "Rejected")
    result = world.resolve(fourth, "Rejected")
    # Then the deployment rolls back to version 2, the newest Approved one left
    assert (result.action, result.notify, result.trigger) == ("deploy", True, "rejected")
    assert result.package is not None
    assert (result.package.arn, result.package.version) == (second, "2")
    assert result.reason == "rejected version 4 is live; rolling back to version 2"
    assert result.names is not None
    assert result.names.model == expected_name("2")
    assert result.live is not None
    assert result.live.version == "4"


def test_rejecting_the_live_version_with_nothing_to_roll_back_to_says_so(world: World) -> None:
    # Given the only Approved version live, then rejected
    arn = world.register()
    world.serve(arn)
    world.set_status(arn, "Rejected")
    # When its Rejected event is resolved
    result = world.resolve(arn, "Rejected")
    # Then nothing is deployed, but people are told the endpoint still serves the rejected version
    assert (result.action, result.notify) == ("skip", True)
    assert result.package is None
    assert result.reason.startswith(
        f"rejected version 1 is live and no other version is Approved, so {ENDPOINT} still serves it"
    )


def test_rejecting_a_version_that_is_not_live_changes_nothing(world: World) -> None:
    # Given version 1 live, and version 2 (never deployed) rejected
    first = world.register()
    world.serve(first)
    second = world.register("Rejected")
    # When version 2's Rejected event is resolved
    result = world.resolve(second, "Rejected")
    # Then nothing happens and nobody is notified
    assert (result.action, result.notify, result.package) == ("skip", False, None)
    assert result.reason == "version 2 was rejected; it is not live (version 1 is live), so nothing changes"


def test_rejecting_a_version_when_there_is_no_endpoint_changes_nothing(world: World) -> None:
    arn = world.register("Rejected")
    result = world.resolve(arn, "Rejected")
    assert (result.action, result.notify) == ("skip", False)
    assert f"no version is live on {ENDPOINT}" in result.reason


def test_a_stale_rejected_event_for_a_version_approved_again_changes_nothing(world: World) -> None:
    arn = world.register()
    world.serve(arn)
    result = world.resolve(arn, "Rejected")
    assert (result.action, result.notify) == ("skip", False)
    assert result.reason == "version 1 was rejected, but is Approved again; nothing to roll back"


# --- events this environment does not act on -----------------------------------------------------------


def test_an_event_for_another_group_is_refused_naming_both_groups(world: World) -> None:
    # Given a version of the prod group (a rule that matched too much)
    world.sagemaker.create_model_package_group(ModelPackageGroupName="fraud-prod-models")
    arn = world.register(group="fraud-prod-models")
    # When the dev deployment is started with its event
    # Then it refuses, naming the event's group and its own
    with pytest.raises(DeploymentEventError, match=r"group fraud-prod-models; this deployment \(dev\) only deploys"):
        world.resolve(arn, "Approved", group="fraud-prod-models")


def test_a_pending_event_is_refused(world: World) -> None:
    arn = world.register("PendingManualApproval")
    with pytest.raises(DeploymentEventError, match=r"version 1 is PendingManualApproval"):
        world.resolve(arn, "PendingManualApproval")


def test_an_event_of_another_kind_is_refused_saying_what_is_wrong(world: World) -> None:
    payload = world.payload(world.register(), "Approved")
    payload["event"]["detail-type"] = "SageMaker Endpoint State Change"
    del payload["event"]["detail"]["ModelPackageArn"]
    with pytest.raises(DeploymentEventError) as caught:
        parse_event(payload)
    message = str(caught.value)
    assert "event.detail-type: Input should be 'SageMaker Model Package State Change'" in message
    assert "event.detail.ModelPackageArn: Field required" in message


# --- names and settings --------------------------------------------------------------------------------


def test_names_carry_the_version_and_are_valid_sagemaker_names_for_any_execution_name(world: World) -> None:
    # Given an 80-character execution name, the longest Step Functions allows
    execution = "Manual_rollback: after the 2026/11 incident!!" + "x" * 35
    arn = world.register()
    # When a version is resolved in it
    result = world.resolve(arn, "Approved", execution=execution)
    # Then the names are the prefix, the version and the hash of the execution name, valid for SageMaker
    assert result.names is not None
    assert result.names.model == expected_name("1", execution)
    assert len(result.names.model) <= SAGEMAKER_NAME_MAX
    assert SAGEMAKER_NAME_PATTERN.match(result.names.model)


def test_a_prefix_that_gives_invalid_names_is_a_configuration_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAME_PREFIX", "fraud_dev_")
    with pytest.raises(ConfigurationError, match=r"NAME_PREFIX 'fraud_dev_' gives the invalid SageMaker name"):
        world.resolve(world.register(), "Approved")


def test_missing_run_settings_are_an_error_naming_the_parameter(world: World) -> None:
    world.ssm.delete_parameter(Name=SETTINGS_PARAMETER)
    with pytest.raises(DeploymentConfigError, match=rf"SSM parameter {SETTINGS_PARAMETER} does not exist"):
        world.resolve(world.register(), "Approved")


def test_run_settings_without_the_endpoint_keys_are_an_error_naming_them(world: World) -> None:
    world.ssm.put_parameter(
        Name=SETTINGS_PARAMETER, Type="String", Overwrite=True, Value=json.dumps({"endpoint_initial_instance_count": 0})
    )
    with pytest.raises(DeploymentConfigError) as caught:
        world.resolve(world.register(), "Approved")
    assert "endpoint_instance_type: Field required" in str(caught.value)
    assert "endpoint_initial_instance_count: Input should be greater than or equal to 1" in str(caught.value)


# --- the handler ---------------------------------------------------------------------------------------


def test_handler_returns_the_contract_document(world: World, lambda_context: FakeLambdaContext) -> None:
    # Given the state machine's payload for an Approved event
    payload = world.payload(world.register(), "Approved")
    # When the handler is invoked
    result = app.handler(payload, lambda_context)
    # Then it returns plain JSON with exactly the contract's keys
    assert json.loads(json.dumps(result)) == result
    assert set(result) == {
        "run_id",
        "action",
        "notify",
        "reason",
        "trigger",
        "package",
        "live",
        "names",
        "settings",
        "console_url",
        "execution_arn",
    }
    assert set(result["package"]) == {"arn", "version", "model_data_url", "image", "run_id", "data_version"}
    assert set(result["names"]) == {"model", "endpoint_config", "endpoint"}
    assert set(result["settings"]) == {"endpoint_instance_type", "endpoint_initial_instance_count"}


def test_handler_rejects_a_missing_environment_variable(
    world: World, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODEL_PACKAGE_GROUP")
    with pytest.raises(ConfigurationError, match="MODEL_PACKAGE_GROUP"):
        app.handler(world.payload(world.register(), "Approved"), lambda_context)
