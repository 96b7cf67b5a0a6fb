"""``prepare_drift``: the live version, the window and the job's inputs, or why there is nothing to examine."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws

from lambdas.initiate_pipeline.images import image_tag as initiate_image_tag
from lambdas.prepare_drift import app
from lambdas.prepare_drift.live import image_tag
from tests.unit.lambdas.conftest import ACCOUNT, REGION, FakeLambdaContext

ENDPOINT = "fraud-detector-dev"
ARTIFACTS = "fraud-dev-artifacts"
DATA = "fraud-dev-data"
GROUP = "fraud-dev-models"
REPOSITORY = "fraud-dev-training"
REPOSITORY_URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{REPOSITORY}"
SOURCE_HASH = "3f" * 32
MODEL_DATA = f"s3://{ARTIFACTS}/training-output/fraud-dev-train-1/output/model.tar.gz"
CAPTURE_KEY = f"data-capture/{ENDPOINT}/AllTraffic/2026/11/24/11/00-00-000-uuid.jsonl"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in {
        "ENVIRONMENT": "dev",
        "ENDPOINT_NAME": ENDPOINT,
        "ARTIFACTS_BUCKET": ARTIFACTS,
        "DATA_BUCKET": DATA,
        "NAME_PREFIX": "fraud-dev-",
        "WINDOW_HOURS": "24",
        "TRAINING_REPOSITORY_URI": REPOSITORY_URI,
        "TRAINING_SOURCE_HASH": SOURCE_HASH,
        "POWERTOOLS_METRICS_NAMESPACE": "FraudPipeline",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3")
        for bucket in (ARTIFACTS, DATA):
            s3.create_bucket(Bucket=bucket)
        ecr = boto3.client("ecr")
        ecr.create_repository(repositoryName=REPOSITORY)
        yield {"s3": s3, "ecr": ecr, "sagemaker": boto3.client("sagemaker")}


def _deploy(sagemaker: Any) -> str:
    """A live endpoint serving version 1, made from the package as the deployment state machine makes it."""
    sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=GROUP,
        ModelApprovalStatus="Approved",
        InferenceSpecification={
            "Containers": [{"Image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/i:1", "ModelDataUrl": MODEL_DATA}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    sagemaker.create_model(
        ModelName="fraud-dev-model-1",
        PrimaryContainer={"ModelPackageName": arn},
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sagemaker",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="fraud-dev-config-1",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "fraud-dev-model-1",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="fraud-dev-config-1")
    return str(arn)


def _push_image(ecr: Any, tag: str) -> None:
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "digest": "sha256:" + "a" * 64,
            "size": 1,
            "mediaType": "application/vnd.docker.container.image.v1+json",
        },
        "layers": [],
    }
    ecr.put_image(repositoryName=REPOSITORY, imageManifest=json.dumps(manifest), imageTag=tag)


def _invoke(trigger: str | None = "schedule") -> dict[str, Any]:
    event = {
        "input": {} if trigger is None else {"trigger": trigger},
        "execution": {
            "id": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:drift:abc",
            "name": "abc",
            "start_time": "2026-11-24T12:30:05.123Z",
            "state_machine_arn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:drift",
        },
    }
    return app.handler(event, FakeLambdaContext())


def test_a_live_model_with_capture_is_examined_over_the_window_with_its_artifact(aws: dict[str, Any]) -> None:
    # Given version 1 serving, captured requests, and the training image of the deployed code
    package = _deploy(aws["sagemaker"])
    aws["s3"].put_object(Bucket=ARTIFACTS, Key=CAPTURE_KEY, Body=b"{}\n")
    _push_image(aws["ecr"], image_tag(SOURCE_HASH))
    # When the drift run is prepared
    run = _invoke()
    # Then the job examines the last 24 h before the execution started, with the live version's artifact
    assert run["outcome"] == "examine"
    # The execution started at 12:30:05.123: the window ends at the next whole second, so a request
    # captured in that second is inside it
    assert run["window"] == {"start": "2026-11-23T12:30:06Z", "end": "2026-11-24T12:30:06Z"}
    assert run["job_name"] == run["run_id"] == "fraud-dev-drift-20261124123005"
    assert run["live"]["package_arn"] == package
    assert run["model_version"] == "1"
    assert run["model_data_url"] == MODEL_DATA
    assert run["image_uri"] == f"{REPOSITORY_URI}:{SOURCE_HASH}"
    assert run["capture_uri"] == f"s3://{ARTIFACTS}/data-capture/{ENDPOINT}/"
    assert run["report_uri"] == f"s3://{ARTIFACTS}/drift-reports/fraud-dev-drift-20261124123005/"
    assert run["trigger"] == "schedule"
    # And with no labels uploaded, the labels input is left out and there is no notice
    assert run["labels_found"] is False
    assert run["notice"] is None


def test_labels_are_found_past_a_console_folder_placeholder(aws: dict[str, Any]) -> None:
    _deploy(aws["sagemaker"])
    aws["s3"].put_object(Bucket=ARTIFACTS, Key=CAPTURE_KEY, Body=b"{}\n")
    _push_image(aws["ecr"], image_tag(SOURCE_HASH))
    aws["s3"].put_object(Bucket=DATA, Key="labels/", Body=b"")
    assert _invoke()["labels_found"] is False
    aws["s3"].put_object(Bucket=DATA, Key="labels/2026-11-24.csv", Body=b"event_id,is_fraud\n")
    run = _invoke()
    assert run["labels_found"] is True
    assert run["labels_uri"] == f"s3://{DATA}/labels/"


def test_no_endpoint_is_insufficient_data_never_no_drift(aws: dict[str, Any]) -> None:
    # Given nothing deployed, when a manual start (empty input) is prepared
    run = _invoke(trigger=None)
    # Then nothing is examined, and the notice says why in the notification's terms
    assert run["outcome"] == "insufficient_data"
    assert run["reason"] == f"no live model: endpoint {ENDPOINT} does not exist"
    assert run["trigger"] == "manual"
    notice = run["notice"]
    assert notice["status"] == "insufficient_data"
    assert notice["reason"] == run["reason"]
    assert notice["retraining"]["action"] == "not_needed"
    assert notice["window"] == run["window"]


def test_a_live_model_without_captured_requests_is_insufficient_data(aws: dict[str, Any]) -> None:
    _deploy(aws["sagemaker"])
    _push_image(aws["ecr"], image_tag(SOURCE_HASH))
    run = _invoke()
    assert run["outcome"] == "insufficient_data"
    assert run["reason"] == f"no captured requests for {ENDPOINT}"
    assert run["capture_found"] is False
    assert f"s3://{ARTIFACTS}/data-capture/{ENDPOINT}/" in run["notice"]["summary"]
    assert run["notice"]["model_version"] == "1"


def test_a_model_not_made_from_a_package_has_no_baseline_to_compare(aws: dict[str, Any]) -> None:
    sagemaker = aws["sagemaker"]
    sagemaker.create_model(
        ModelName="fraud-dev-model-0",
        PrimaryContainer={"Image": "i:1", "ModelDataUrl": MODEL_DATA},
        ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/sagemaker",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="fraud-dev-config-0",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "fraud-dev-model-0",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="fraud-dev-config-0")
    run = _invoke()
    assert run["outcome"] == "insufficient_data"
    assert run["reason"].startswith("no registered version")


def test_without_the_deployed_codes_training_image_the_run_is_skipped_not_failed(aws: dict[str, Any]) -> None:
    # Given data to examine but only an older image in ECR
    _deploy(aws["sagemaker"])
    aws["s3"].put_object(Bucket=ARTIFACTS, Key=CAPTURE_KEY, Body=b"{}\n")
    _push_image(aws["ecr"], "an-older-source-hash")
    run = _invoke()
    # Then it says the image is not built yet (and which), instead of starting a job that cannot run
    assert run["outcome"] == "skipped"
    assert run["image_uri"] is None
    assert run["notice"]["status"] == "skipped"
    assert f"{REPOSITORY_URI}:{SOURCE_HASH}" in run["notice"]["summary"]


def test_the_image_tag_is_the_one_initiate_pipeline_builds() -> None:
    for source_hash in (SOURCE_HASH, " .weird/hash:1 ", "x" * 200):
        assert image_tag(source_hash) == initiate_image_tag(source_hash)
