"""The model registry offline: UpdateModelPackage as AWS applies it, its EventBridge events, models from packages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws
from moto.sagemaker.models import sagemaker_backends

from offline import moto_patches
from offline.moto_patches import model_registry
from offline.run.active import activate
from offline.services.event_patterns import matches
from offline.services.sagemaker_hosting import DeployError, model_container, server_environment
from tests.offline.services_stub import bare_services

ACCOUNT = "123456789012"
REGION = "us-east-1"
GROUP = "fraud-dev-models"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/fraud-inference:abc123"
ARTIFACT = "s3://artifacts/training/job-1/output/model.tar.gz"
#: The deployment rule's pattern (issue 9 contracts): approvals and rejections of this group.
DEPLOYMENT_RULE = {
    "source": ["aws.sagemaker"],
    "detail-type": ["SageMaker Model Package State Change"],
    "detail": {"ModelPackageGroupName": [GROUP], "ModelApprovalStatus": ["Approved", "Rejected"]},
}


@dataclass
class Registry:
    sagemaker: Any
    events: list[dict[str, Any]] = field(default_factory=list)

    def register(self, status: str, **extra: Any) -> str:
        arn: str = self.sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus=status,
            ModelPackageDescription="all checks passed",
            InferenceSpecification={
                "Containers": [{"Image": IMAGE, "ModelDataUrl": ARTIFACT, "Environment": {"FROM_PACKAGE": "1"}}],
                "SupportedContentTypes": ["text/csv", "application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": "s3://artifacts/evaluations/r/e.json"}
                }
            },
            CustomerMetadataProperties={"run_id": "run-1", "pr_auc": "0.41"},
            **extra,
        )["ModelPackageArn"]
        return arn

    def describe(self, arn: str) -> dict[str, Any]:
        described: dict[str, Any] = self.sagemaker.describe_model_package(ModelPackageName=arn)
        return described


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """moto with offline mode's patches active, and the events SageMaker would send collected."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    moto_patches.install()
    activate(bare_services())
    try:
        with mock_aws():
            client = boto3.client("sagemaker", region_name=REGION)
            client.create_model_package_group(ModelPackageGroupName=GROUP)
            registry = Registry(client)
            model_registry.send_events_to(registry.events.append)
            yield registry
    finally:
        model_registry.send_events_to(None)
        activate(None)


# --- UpdateModelPackage --------------------------------------------------------------------------


def test_approving_keeps_the_fields_the_request_does_not_pass(registry: Registry) -> None:
    # Given a version registered with its metadata, awaiting approval
    arn = registry.register("PendingManualApproval")
    # When it is approved with a description only
    registry.sagemaker.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="approved by me"
    )
    # Then the status and description change and the metadata, description and metrics stay
    described = registry.describe(arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "approved by me"
    assert described["CustomerMetadataProperties"] == {"run_id": "run-1", "pr_auc": "0.41"}
    assert described["ModelPackageDescription"] == "all checks passed"
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == "s3://artifacts/evaluations/r/e.json"


def test_an_update_without_a_status_keeps_the_status_and_description(registry: Registry) -> None:
    arn = registry.register("PendingManualApproval")
    registry.sagemaker.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="approved by me"
    )
    # When only metadata is added
    registry.sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"ticket": "OPS-1"})
    # Then the approval is untouched and the new key joins the others
    described = registry.describe(arn)
    assert (described["ModelApprovalStatus"], described["ApprovalDescription"]) == ("Approved", "approved by me")
    assert described["CustomerMetadataProperties"] == {"run_id": "run-1", "pr_auc": "0.41", "ticket": "OPS-1"}


def test_metadata_keys_can_be_replaced_and_removed(registry: Registry) -> None:
    arn = registry.register("Approved")
    registry.sagemaker.update_model_package(
        ModelPackageArn=arn,
        CustomerMetadataProperties={"pr_auc": "0.42"},
        CustomerMetadataPropertiesToRemove=["run_id"],
    )
    assert registry.describe(arn)["CustomerMetadataProperties"] == {"pr_auc": "0.42"}


def test_an_invalid_status_is_refused_and_changes_nothing(registry: Registry) -> None:
    arn = registry.register("PendingManualApproval")
    with pytest.raises(registry.sagemaker.exceptions.ClientError, match="modelApprovalStatus"):
        registry.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Maybe")
    assert registry.describe(arn)["ModelApprovalStatus"] == "PendingManualApproval"


def test_an_unknown_package_is_refused(registry: Registry) -> None:
    missing = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/9"
    with pytest.raises(registry.sagemaker.exceptions.ClientError, match="not found"):
        registry.sagemaker.update_model_package(ModelPackageArn=missing, ModelApprovalStatus="Approved")


# --- "SageMaker Model Package State Change" ------------------------------------------------------


def test_registering_a_version_sends_the_documented_event(registry: Registry) -> None:
    # When a version is registered
    arn = registry.register("Approved")
    # Then one event goes to EventBridge, shaped as SageMaker's documented example
    (event,) = registry.events
    assert (event["source"], event["detail-type"]) == ("aws.sagemaker", "SageMaker Model Package State Change")
    assert (event["account"], event["region"], event["resources"]) == (ACCOUNT, REGION, [arn])
    detail = event["detail"]
    assert detail["ModelPackageGroupName"] == GROUP
    assert detail["ModelPackageVersion"] == 1
    assert detail["ModelPackageArn"] == arn
    assert detail["ModelApprovalStatus"] == "Approved"
    assert detail["ModelPackageStatus"] == "Completed"
    assert detail["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == ARTIFACT
    assert detail["CustomerMetadataProperties"]["run_id"] == "run-1"
    for timestamp in (event["time"], detail["CreationTime"], detail["LastModifiedTime"]):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", timestamp)
    # And the deployment rule's own pattern takes it
    assert matches(DEPLOYMENT_RULE, event)


def test_a_version_awaiting_approval_is_announced_but_deploys_nothing(registry: Registry) -> None:
    registry.register("PendingManualApproval")
    (event,) = registry.events
    assert event["detail"]["ModelApprovalStatus"] == "PendingManualApproval"
    assert not matches(DEPLOYMENT_RULE, event)


def test_each_approval_change_sends_an_event_with_the_new_status(registry: Registry) -> None:
    arn = registry.register("PendingManualApproval")
    # When the version is approved, then rejected
    registry.sagemaker.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="ok"
    )
    registry.sagemaker.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Rejected", ApprovalDescription="no"
    )
    # Then each change is one event carrying the status and description it set
    changes = [(e["detail"]["ModelApprovalStatus"], e["detail"].get("ApprovalDescription")) for e in registry.events]
    assert changes == [("PendingManualApproval", None), ("Approved", "ok"), ("Rejected", "no")]


def test_an_update_that_keeps_the_status_sends_nothing(registry: Registry) -> None:
    arn = registry.register("Approved")
    registry.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    registry.sagemaker.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"ticket": "OPS-1"})
    assert len(registry.events) == 1  # the registration's


def test_an_unversioned_package_sends_nothing(registry: Registry) -> None:
    registry.sagemaker.create_model_package(
        ModelPackageName="standalone",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )
    assert registry.events == []


def test_versions_are_numbered_in_order_in_their_events(registry: Registry) -> None:
    registry.register("Approved")
    registry.register("Rejected")
    assert [e["detail"]["ModelPackageVersion"] for e in registry.events] == [1, 2]


# --- CreateModel from a model package (offline hosting) ------------------------------------------


def test_a_model_from_a_package_runs_the_package_container_with_the_model_environment(registry: Registry) -> None:
    # Given an approved version and a model created from it, as the deployment state machine creates it
    arn = registry.register("Approved")
    registry.sagemaker.create_model(
        ModelName="fraud-dev-v1-0123abcd",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sagemaker",
        PrimaryContainer={"ModelPackageName": arn, "Environment": {"MODEL_VERSION": "1"}},
    )
    model = sagemaker_backends[ACCOUNT][REGION].describe_model("fraud-dev-v1-0123abcd")
    # When hosting resolves the container it runs
    container = model_container(model, lambda name: registry.describe(name))
    # Then the image and artifact are the package's, and both environments reach the server, the model's last
    assert (container["Image"], container["ModelDataUrl"]) == (IMAGE, ARTIFACT)
    env = server_environment(container, model_dir=Path("/m"), port=8081)
    assert (env["MODEL_VERSION"], env["FROM_PACKAGE"], env["SM_MODEL_DIR"]) == ("1", "1", "/m")


def test_the_model_environment_wins_over_the_package_container_environment(registry: Registry) -> None:
    arn = registry.register("Approved")
    registry.sagemaker.create_model(
        ModelName="m",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sagemaker",
        PrimaryContainer={"ModelPackageName": arn, "Environment": {"FROM_PACKAGE": "overridden"}},
    )
    model = sagemaker_backends[ACCOUNT][REGION].describe_model("m")
    assert model_container(model, registry.describe)["Environment"] == {"FROM_PACKAGE": "overridden"}


def test_a_model_with_its_own_image_is_run_as_it_is(registry: Registry) -> None:
    registry.sagemaker.create_model(
        ModelName="plain",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sagemaker",
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": ARTIFACT, "Environment": {"A": "1"}},
    )
    model = sagemaker_backends[ACCOUNT][REGION].describe_model("plain")
    container = model_container(model, registry.describe)
    assert (container["Image"], container["ModelDataUrl"], container["Environment"]) == (IMAGE, ARTIFACT, {"A": "1"})


def test_a_model_whose_package_is_gone_fails_the_deploy_naming_it(registry: Registry) -> None:
    missing = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{GROUP}/7"
    registry.sagemaker.create_model(
        ModelName="orphan",
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sagemaker",
        PrimaryContainer={"ModelPackageName": missing},
    )
    model = sagemaker_backends[ACCOUNT][REGION].describe_model("orphan")
    with pytest.raises(DeployError, match=f"Could not find model package {missing} for model orphan"):
        model_container(model, registry.describe)
