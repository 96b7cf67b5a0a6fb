"""``initiate_pipeline``: run ids, names, dataset choice and version, image builds, SSM, overlap guard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws

from lambdas.common.settings import ConfigurationError
from lambdas.initiate_pipeline import app
from lambdas.initiate_pipeline.datasets import DatasetError, newest_dataset_prefix
from lambdas.initiate_pipeline.errors import PipelineConfigError
from lambdas.initiate_pipeline.images import image_tag, repository_name
from lambdas.initiate_pipeline.logic import Clients, initiate
from lambdas.initiate_pipeline.models import InitiateEvent, InitiateSettings, PreviousAttempt, QueuePosition
from lambdas.initiate_pipeline.naming import SAGEMAKER_NAME_MAX, SAGEMAKER_NAME_PATTERN, sagemaker_name
from lambdas.initiate_pipeline.queue import QueueTimeoutError
from tests.unit.lambdas.conftest import ACCOUNT, REGION, FakeLambdaContext, load_event

DATA_BUCKET = "fraud-data-dev"
ARTIFACTS_BUCKET = "fraud-artifacts-dev"
TRAINING_HASH = "a" * 64
INFERENCE_HASH = "b" * 64
HYPERPARAMETERS = {"n_estimators": 200, "learning_rate": 0.1, "early_stopping": True, "objective": "binary"}
SETTINGS = {
    "training_instance_type": "ml.m5.large",
    "training_instance_count": 1,
    "training_volume_gb": 10,
    "max_runtime_seconds": 3600,
    "endpoint_instance_type": "ml.t2.medium",
    "endpoint_initial_instance_count": 1,
    "processing_instance_type": "ml.m5.large",
    "evaluation_max_runtime_seconds": 3600,
    "gate": {"min_pr_auc": 0.05, "min_roc_auc": 0.65, "max_drop": 0.05, "approval": "auto"},
}
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": "sha256:0"},
        "layers": [],
    }
)


@dataclass
class World:
    """A moto account holding everything the step reads, plus helpers to shape it."""

    s3: Any
    ssm: Any
    ecr: Any
    sfn: Any
    sns: Any
    sqs: Any
    queue_url: str
    state_machine_arn: str
    training_repo_uri: str
    inference_repo_uri: str

    def clients(self) -> Clients:
        return Clients(s3=self.s3, ssm=self.ssm, ecr=self.ecr, sfn=self.sfn, sns=self.sns)

    def put(self, key: str, body: str = "amount,is_fraud\n1.0,0\n") -> None:
        self.s3.put_object(Bucket=DATA_BUCKET, Key=key, Body=body.encode())

    def put_dataset(self, name: str) -> None:
        """A complete dataset: its three channels, then its completion marker."""
        self.put(f"incoming/{name}/train/part-0001.csv")
        self.put(f"incoming/{name}/validation/part-0001.csv")
        self.put(f"incoming/{name}/test/part-0001.csv")
        self.put(f"incoming/{name}/_SUCCESS", "")

    def push_image(self, repository_uri: str, tag: str) -> None:
        self.ecr.put_image(repositoryName=repository_name(repository_uri), imageManifest=MANIFEST, imageTag=tag)

    def start_execution(self, name: str) -> dict[str, Any]:
        """A RUNNING execution (moto does not run the definition), as ``describe_execution`` reports it."""
        arn = self.sfn.start_execution(stateMachineArn=self.state_machine_arn, name=name, input="{}")["executionArn"]
        return dict(self.sfn.describe_execution(executionArn=arn))

    def event(
        self, execution: dict[str, Any], start_time: datetime, kind: str = "schedule", object_key: str | None = None
    ) -> InitiateEvent:
        """The Lambda payload the state machine sends for ``execution`` (``object_key`` as S3 events carry it)."""
        payload = load_event(f"initiate_pipeline_{kind}")
        if object_key is not None:
            payload["input"]["object_key"] = object_key
        payload["execution"] = {
            "id": execution["executionArn"],
            "name": execution["name"],
            "start_time": start_time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "state_machine_arn": self.state_machine_arn,
        }
        return InitiateEvent.model_validate(payload)

    def own_event(self, name: str, kind: str = "schedule", object_key: str | None = None) -> InitiateEvent:
        execution = self.start_execution(name)
        return self.event(execution, execution["startDate"], kind, object_key)

    def published(self) -> list[dict[str, str]]:
        """Every SNS notification so far, as ``{"Subject", "Message"}``."""
        out: list[dict[str, str]] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return out
            for message in messages:
                envelope = json.loads(message["Body"])
                out.append({"Subject": envelope.get("Subject", ""), "Message": envelope["Message"]})
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=DATA_BUCKET)
        s3.put_bucket_versioning(Bucket=DATA_BUCKET, VersioningConfiguration={"Status": "Enabled"})
        ssm = boto3.client("ssm", region_name=REGION)
        ssm.put_parameter(Name="/fraud/dev/hyperparameters", Type="String", Value=json.dumps(HYPERPARAMETERS))
        ssm.put_parameter(Name="/fraud/dev/settings", Type="String", Value=json.dumps(SETTINGS))
        ecr = boto3.client("ecr", region_name=REGION)
        training_uri = ecr.create_repository(repositoryName="fraud/training")["repository"]["repositoryUri"]
        inference_uri = ecr.create_repository(repositoryName="fraud/inference")["repository"]["repositoryUri"]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine_arn = sfn.create_state_machine(
            name="FraudPipeline-dev",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
        )["stateMachineArn"]
        sns = boto3.client("sns", region_name=REGION)
        topic_arn = sns.create_topic(Name="fraud-dev")["TopicArn"]
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

        for name, value in {
            "ENVIRONMENT": "dev",
            "TOPIC_ARN": topic_arn,
            "DATA_BUCKET": DATA_BUCKET,
            "DATA_PREFIX": "incoming/",
            "ARTIFACTS_BUCKET": ARTIFACTS_BUCKET,
            "HYPERPARAMETERS_PARAMETER": "/fraud/dev/hyperparameters",
            "SETTINGS_PARAMETER": "/fraud/dev/settings",
            "TRAINING_REPOSITORY_URI": training_uri,
            "INFERENCE_REPOSITORY_URI": inference_uri,
            "TRAINING_SOURCE_HASH": TRAINING_HASH,
            "INFERENCE_SOURCE_HASH": INFERENCE_HASH,
            "ENDPOINT_NAME": "fraud-detector-dev",
        }.items():
            monkeypatch.setenv(name, value)

        yield World(s3, ssm, ecr, sfn, sns, sqs, queue_url, machine_arn, training_uri, inference_uri)


def _initiate(world: World, event: InitiateEvent, now: datetime | None = None) -> Any:
    return initiate(event, InitiateSettings.from_env(), world.clients(), now=now)


# --- names and ids ---------------------------------------------------------------------------------


def test_names_are_valid_sagemaker_names_even_for_long_odd_execution_names() -> None:
    # Given an execution name at Step Functions' 80-character limit, with characters SageMaker refuses
    execution_name = "Manual_run: retrain after the 2026/11 incident!!" + "x" * 31
    # When a training job name is derived from it
    name = sagemaker_name("fraud-dev-train", execution_name, "arn-1")
    # Then SageMaker would accept it
    assert len(name) <= SAGEMAKER_NAME_MAX
    assert SAGEMAKER_NAME_PATTERN.match(name)
    assert name.startswith("fraud-dev-train-manual-run-retrain")


def test_names_differ_between_executions_whose_names_share_a_long_prefix() -> None:
    # Given two executions whose names only differ after the part that fits
    base = "a" * 70
    # When names are derived for both
    first = sagemaker_name("fraud-dev-train", base + "1", "arn:exec:1")
    second = sagemaker_name("fraud-dev-train", base + "2", "arn:exec:2")
    # Then they still differ
    assert first != second


def test_run_produces_run_id_and_per_run_names(world: World) -> None:
    # Given a complete dataset and an execution named like EventBridge names them
    world.put_dataset("2026-11-01")
    event = world.own_event("0f6c2b6e-6a55-4c0b-9d7e-1b2f3a4c5d6e")
    # When the run is initiated
    result = _initiate(world, event)
    # Then the run id carries env, start time and a hash, and every name is unique to the execution
    started = event.execution.start_time.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    assert result.run_id.startswith(f"dev-{started}-")
    assert len(result.run_id.split("-")[-1]) == 8
    names = result.names
    assert names.endpoint == "fraud-detector-dev"
    for name, prefix in ((names.training_job, "train"), (names.model, "model"), (names.endpoint_config, "config")):
        assert name.startswith(f"fraud-dev-{prefix}-0f6c2b6e-6a55-4c0b-9d7e-1b2f3a4c5d6e-")
        assert SAGEMAKER_NAME_PATTERN.match(name)
        assert len(name) <= SAGEMAKER_NAME_MAX


def test_names_start_with_name_prefix_when_set(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the stack scopes SageMaker permissions to a custom prefix
    monkeypatch.setenv("NAME_PREFIX", "fraud-sandbox-")
    world.put_dataset("2026-11-01")
    # When the run is initiated
    result = _initiate(world, world.own_event("Run-1"))
    # Then every SageMaker name starts with that prefix, in lower case
    assert result.names.training_job.startswith("fraud-sandbox-train-run-1-")
    assert result.names.model.startswith("fraud-sandbox-model-run-1-")
    assert result.names.endpoint_config.startswith("fraud-sandbox-config-run-1-")


def test_result_carries_locations_console_link_and_output_uri(world: World) -> None:
    # Given a complete dataset
    world.put_dataset("2026-11-01")
    event = world.own_event("run-1")
    # When the run is initiated
    result = _initiate(world, event)
    # Then it points at the dataset's channels, the execution's console page and the artifacts bucket
    assert result.queued is False
    assert result.queue is None
    assert result.execution_arn == event.execution.id
    assert result.console_url == (
        f"https://{REGION}.console.aws.amazon.com/states/home?region={REGION}"
        f"#/v2/executions/details/{event.execution.id}"
    )
    assert result.data is not None
    assert result.data.bucket == DATA_BUCKET
    assert result.data.prefix == "incoming/2026-11-01/"
    assert result.data.train_uri == f"s3://{DATA_BUCKET}/incoming/2026-11-01/train/"
    assert result.data.validation_uri == f"s3://{DATA_BUCKET}/incoming/2026-11-01/validation/"
    assert result.output_uri == f"s3://{ARTIFACTS_BUCKET}/training-output/"


# --- dataset choice and version ---------------------------------------------------------------------


def test_s3_trigger_trains_on_the_dataset_holding_the_new_object(world: World) -> None:
    # Given two complete datasets and an S3 event for an object in the first one
    world.put_dataset("2026-11-01")
    world.put_dataset("2026-11-08")
    event = world.own_event("run-s3", kind="s3")
    # When the run is initiated
    result = _initiate(world, event)
    # Then it trains on the dataset that received the object, not the newest one
    assert result.data is not None
    assert result.data.prefix == "incoming/2026-11-01/"


def test_schedule_trains_on_the_dataset_completed_last() -> None:
    # Given a listing where one dataset got newer data files but an older marker, and one has no marker
    moment = datetime(2026, 11, 23, tzinfo=UTC)
    pages = [
        {
            "Contents": [
                {"Key": "incoming/b-old/train/x.csv", "LastModified": moment + timedelta(days=2)},
                {"Key": "incoming/b-old/_SUCCESS", "LastModified": moment - timedelta(days=2)},
                {"Key": "incoming/a-new/validation/x.csv", "LastModified": moment - timedelta(days=3)},
                {"Key": "incoming/a-new/_SUCCESS", "LastModified": moment},
                {"Key": "incoming/c-uploading/train/x.csv", "LastModified": moment + timedelta(days=3)},
                {"Key": "incoming/_SUCCESS", "LastModified": moment + timedelta(days=1)},
            ]
        }
    ]

    class Paginator:
        def paginate(self, **_kwargs: Any) -> list[dict[str, Any]]:
            return pages

    class S3:
        def get_paginator(self, _name: str) -> Paginator:
            return Paginator()

    # When the newest dataset is chosen
    prefix = newest_dataset_prefix(S3(), DATA_BUCKET, "incoming/")
    # Then it is the one whose marker is the most recent; a folder still uploading is not a candidate
    assert prefix == "incoming/a-new/"


def test_the_marker_is_not_part_of_the_data_version(world: World) -> None:
    # Given a run on a dataset
    world.put_dataset("2026-11-01")
    first = _initiate(world, world.own_event("run-1"))
    world.sfn.stop_execution(executionArn=first.execution_arn)
    # When only the marker is uploaded again (a re-run of the same data)
    world.put("incoming/2026-11-01/_SUCCESS", "")
    second = _initiate(world, world.own_event("run-2"))
    # Then the data version is unchanged
    assert first.data is not None
    assert second.data is not None
    assert first.data.version == second.data.version


def test_data_version_is_stable_while_the_data_is_unchanged(world: World) -> None:
    # Given a dataset that two runs read without anything changing in between
    world.put_dataset("2026-11-01")
    first = _initiate(world, world.own_event("run-1"))
    world.sfn.stop_execution(executionArn=first.execution_arn)
    # When the second run is initiated
    second = _initiate(world, world.own_event("run-2"))
    # Then both record the same data version, a sha256 hex digest
    assert first.data is not None
    assert second.data is not None
    assert first.data.version == second.data.version
    assert len(first.data.version) == 64


def test_data_version_changes_when_an_object_is_overwritten(world: World) -> None:
    # Given a run on a dataset
    world.put_dataset("2026-11-01")
    first = _initiate(world, world.own_event("run-1"))
    world.sfn.stop_execution(executionArn=first.execution_arn)
    # When one file is replaced by a new version under the same key and another run starts
    world.put("incoming/2026-11-01/train/part-0001.csv", "amount,is_fraud\n2.0,1\n")
    second = _initiate(world, world.own_event("run-2"))
    # Then the data version differs
    assert first.data is not None
    assert second.data is not None
    assert first.data.version != second.data.version


def test_missing_validation_channel_fails_naming_bucket_and_prefix(world: World) -> None:
    # Given a dataset marked complete that holds training data only
    world.put("incoming/2026-11-01/train/part-0001.csv")
    world.put("incoming/2026-11-01/_SUCCESS", "")
    event = world.own_event("run-1", kind="s3")
    # When the run is initiated
    with pytest.raises(DatasetError) as raised:
        _initiate(world, event)
    # Then the error says which channel is missing where, and nothing was announced as started
    assert f"s3://{DATA_BUCKET}/incoming/2026-11-01/validation/" in str(raised.value)
    assert "marked complete" in str(raised.value)
    assert world.published() == []


def test_a_scheduled_run_ignores_a_dataset_still_uploading(world: World) -> None:
    # Given a complete dataset and a newer one whose marker has not arrived yet
    world.put_dataset("2026-11-01")
    world.put("incoming/2026-11-08/train/part-0001.csv")
    # When a scheduled run picks the newest dataset
    result = _initiate(world, world.own_event("run-1"))
    # Then it trains on the complete one
    assert result.data is not None
    assert result.data.prefix == "incoming/2026-11-01/"


def test_empty_data_prefix_fails_naming_bucket_and_prefix(world: World) -> None:
    # Given a data bucket with nothing under incoming/
    event = world.own_event("run-1")
    # When a scheduled run is initiated
    with pytest.raises(DatasetError) as raised:
        _initiate(world, event)
    # Then the error names the place it looked and the marker it looked for
    assert f"s3://{DATA_BUCKET}/incoming/" in str(raised.value)
    assert "_SUCCESS" in str(raised.value)


def test_s3_object_outside_a_dataset_folder_fails(world: World) -> None:
    # Given an S3 event for a file dropped straight into incoming/
    event = world.own_event("run-1", kind="s3")
    event.input.object_key = "incoming/loose.csv"
    # When the run is initiated
    with pytest.raises(DatasetError) as raised:
        _initiate(world, event)
    # Then the error names the object and the expected layout
    assert f"s3://{DATA_BUCKET}/incoming/loose.csv" in str(raised.value)
    assert "train/" in str(raised.value)


def test_an_s3_event_for_a_data_file_is_not_taken_for_a_marker(world: World) -> None:
    # Given a run started by hand with the key of a data file rather than the marker
    world.put_dataset("2026-11-01")
    event = world.own_event("run-1", kind="s3", object_key="incoming/2026-11-01/train/part-0001.csv")
    # When the run is initiated
    with pytest.raises(DatasetError) as raised:
        _initiate(world, event)
    # Then it says which key starts a run
    assert f"expected s3://{DATA_BUCKET}/incoming/<dataset>/_SUCCESS" in str(raised.value)


def test_files_whose_names_need_url_encoding_are_part_of_the_dataset(world: World) -> None:
    # Given a dataset whose validation file's name holds a space and parentheses
    world.put("incoming/2026-11-01_v1.2/train/part-0001.csv")
    world.put("incoming/2026-11-01_v1.2/validation/part 0001 (copy).csv")
    world.put("incoming/2026-11-01_v1.2/test/part+0001.csv")
    world.put("incoming/2026-11-01_v1.2/_SUCCESS", "")
    event = world.own_event("run-1", kind="s3", object_key="incoming/2026-11-01_v1.2/_SUCCESS")
    # When the run is initiated
    result = _initiate(world, event)
    # Then it trains on that dataset, and the started notification names the marker
    assert result.data is not None
    assert result.data.prefix == "incoming/2026-11-01_v1.2/"
    [message] = world.published()
    assert f"s3://{DATA_BUCKET}/incoming/2026-11-01_v1.2/_SUCCESS" in message["Message"]


@pytest.mark.parametrize(
    ("event_key", "real_key"),
    [
        ("incoming/nov+2026/_SUCCESS", "incoming/nov 2026/_SUCCESS"),
        ("incoming/a%2Bb/_SUCCESS", "incoming/a+b/_SUCCESS"),
        ("incoming/donn%C3%A9es/_SUCCESS", "incoming/données/_SUCCESS"),
    ],
)
def test_s3_dataset_name_outside_the_allowed_characters_is_rejected(
    world: World, event_key: str, real_key: str
) -> None:
    # Given a complete dataset whose folder name holds a character outside [A-Za-z0-9._-]
    dataset = real_key.split("/")[1]
    world.put_dataset(dataset)
    event = world.own_event("run-1", kind="s3", object_key=event_key)
    # When the run is initiated
    with pytest.raises(DatasetError) as raised:
        _initiate(world, event)
    # Then the error names the object by its real key and says which characters a dataset name may hold
    message = str(raised.value)
    assert f"s3://{DATA_BUCKET}/{real_key}" in message
    assert f"{dataset!r}" in message
    assert "[A-Za-z0-9._-]" in message
    # And nothing was announced as started
    assert world.published() == []


def test_scheduled_run_rejects_a_newest_dataset_with_a_bad_name(world: World) -> None:
    # Given an older valid dataset and a newer one whose folder name holds a space
    world.put_dataset("2026-11-01")
    world.put_dataset("nov 2026")
    # When a scheduled run picks the newest dataset
    with pytest.raises(DatasetError) as raised:
        _initiate(world, world.own_event("run-1"))
    # Then it refuses that dataset by name instead of training on it (or silently on an older one)
    assert f"s3://{DATA_BUCKET}/incoming/nov 2026/" in str(raised.value)
    assert "[A-Za-z0-9._-]" in str(raised.value)


# --- images ------------------------------------------------------------------------------------------


def test_build_is_needed_when_ecr_lacks_the_source_hash_tag(world: World) -> None:
    # Given empty repositories
    world.put_dataset("2026-11-01")
    # When the run is initiated
    result = _initiate(world, world.own_event("run-1"))
    # Then both images must be built, tagged with their full source hash
    assert result.code is not None
    assert result.code.training.build_needed is True
    assert result.code.inference.build_needed is True
    assert result.code.training.image_tag == TRAINING_HASH
    assert result.code.training.image_uri == f"{world.training_repo_uri}:{TRAINING_HASH}"
    assert result.code.inference.image_uri == f"{world.inference_repo_uri}:{INFERENCE_HASH}"
    assert result.code.version == f"{TRAINING_HASH[:12]}-{INFERENCE_HASH[:12]}"


def test_build_is_skipped_for_an_image_ecr_already_holds(world: World) -> None:
    # Given ECR already holds the training image for this source hash, under another tag as well
    world.put_dataset("2026-11-01")
    world.push_image(world.training_repo_uri, TRAINING_HASH)
    world.push_image(world.inference_repo_uri, "some-older-hash")
    # When the run is initiated
    result = _initiate(world, world.own_event("run-1"))
    # Then only the inference image needs a build
    assert result.code is not None
    assert result.code.training.build_needed is False
    assert result.code.inference.build_needed is True


def test_repository_name_is_the_part_after_the_registry() -> None:
    # Given a repository URI whose name has a namespace
    uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/fraud/training"
    # When the repository name is taken from it
    # Then it is everything after the first slash
    assert repository_name(uri) == "fraud/training"


def test_image_tag_keeps_only_characters_ecr_accepts() -> None:
    # Given a source hash with characters ECR tags may not hold
    # When it becomes a tag
    # Then those characters are replaced and the length is capped
    assert image_tag("abc/def+1") == "abc-def-1"
    assert len(image_tag("f" * 300)) == 128


# --- SSM ---------------------------------------------------------------------------------------------


def test_hyperparameters_become_strings_and_settings_pass_through(world: World) -> None:
    # Given typed hyperparameters in SSM
    world.put_dataset("2026-11-01")
    # When the run is initiated
    result = _initiate(world, world.own_event("run-1"))
    # Then every hyperparameter value is a string, as CreateTrainingJob requires, and settings are kept
    assert result.hyperparameters == {
        "n_estimators": "200",
        "learning_rate": "0.1",
        "early_stopping": "true",
        "objective": "binary",
    }
    assert result.settings == SETTINGS


def test_settings_without_a_required_key_fail_naming_parameter_and_key(world: World) -> None:
    # Given a settings document that lost its endpoint instance type
    world.put_dataset("2026-11-01")
    broken = {k: v for k, v in SETTINGS.items() if k != "endpoint_instance_type"}
    world.ssm.put_parameter(Name="/fraud/dev/settings", Type="String", Value=json.dumps(broken), Overwrite=True)
    # When the run is initiated
    with pytest.raises(PipelineConfigError) as raised:
        _initiate(world, world.own_event("run-1"))
    # Then the error names the parameter and the key
    assert "/fraud/dev/settings" in str(raised.value)
    assert "endpoint_instance_type" in str(raised.value)


# --- notifications and the overlap guard -------------------------------------------------------------


def test_started_notification_describes_the_run(world: World) -> None:
    # Given a complete dataset and a training image already built
    world.put_dataset("2026-11-01")
    world.push_image(world.training_repo_uri, TRAINING_HASH)
    # When an S3-triggered run is initiated
    result = _initiate(world, world.own_event("run-1", kind="s3"))
    # Then one "started" message says what runs on what
    [message] = world.published()
    assert message["Subject"] == f"[FraudPipeline dev] run {result.run_id} started"
    body = message["Message"]
    assert result.run_id in body
    assert f"s3 (new object s3://{DATA_BUCKET}/incoming/2026-11-01/_SUCCESS)" in body
    assert "new data arrived" in body
    assert f"s3://{DATA_BUCKET}/incoming/2026-11-01/" in body
    assert result.data is not None
    assert result.data.version in body
    assert f"{TRAINING_HASH[:12]}-{INFERENCE_HASH[:12]}" in body
    assert "already in ECR, no build" in body
    assert "build needed" in body
    assert result.console_url in body


def test_a_drift_triggered_run_trains_on_the_newest_dataset_and_carries_its_report(world: World) -> None:
    # Given two complete datasets, the later one completed last
    world.put_dataset("2026-10-01")
    world.put_dataset("2026-11-01")
    # When the drift state machine starts a run
    result = _initiate(world, world.own_event("drift-20261124120000", kind="drift"))
    # Then it trains on the newest complete dataset, like a scheduled run, and keeps the drift report
    report = "s3://fraud-dev-artifacts/drift-reports/fraud-dev-drift-20261124120000/drift_report.json"
    assert result.data is not None
    assert result.data.prefix == "incoming/2026-11-01/"
    assert result.drift_report == report
    # And its "started" notification says it was drift, with the report and the drifted features
    [message] = world.published()
    assert f"Trigger:          drift (report {report})" in message["Message"]
    assert "Reason:           drift in amount, merchant_risk" in message["Message"]


def test_a_drift_triggered_run_waiting_in_line_says_why_it_was_started(world: World) -> None:
    world.put_dataset("2026-11-01")
    earlier = world.start_execution("earlier-run")
    mine = world.start_execution("drift-20261124120000")
    result = _initiate(world, world.event(mine, earlier["startDate"] + timedelta(minutes=1), kind="drift"))
    assert result.queued is True
    assert result.drift_report is not None
    [message] = world.published()
    assert "Trigger:          drift (report s3://" in message["Message"]
    assert "Reason:           drift in amount, merchant_risk" in message["Message"]


def test_a_run_waits_in_line_while_an_earlier_execution_is_running(world: World) -> None:
    # Given an execution that started a minute before this one and is still RUNNING
    world.put_dataset("2026-11-01")
    earlier = world.start_execution("earlier-run")
    mine = world.start_execution("my-run")
    now = earlier["startDate"] + timedelta(minutes=5)
    event = world.event(mine, earlier["startDate"] + timedelta(minutes=1))
    # When this scheduled run is initiated
    result = _initiate(world, event, now=now)
    # Then it waits in line behind the earlier run and looks nothing else up yet
    assert result.queued is True
    assert result.queue == QueuePosition(behind="earlier-run", ahead=1, since=now)
    assert result.data is None
    assert result.code is None
    # And it says so once: behind whom, since when, and what it will train on
    [message] = world.published()
    assert message["Subject"] == f"[FraudPipeline dev] run {result.run_id} queued behind earlier-run"
    body = message["Message"]
    assert "Starts:           when run earlier-run ends (started " in body
    assert "5 min ago); checked every 60 s" in body
    assert f"the newest complete dataset under s3://{DATA_BUCKET}/incoming/ when the run starts" in body


def test_a_dataset_landing_during_a_run_is_queued_with_its_name(world: World) -> None:
    # Given a run in progress and a second dataset completed meanwhile
    world.put_dataset("2026-11-01")
    world.put_dataset("2026-11-08")
    earlier = world.start_execution("earlier-run")
    mine = world.start_execution("my-run")
    event = world.event(mine, earlier["startDate"] + timedelta(minutes=1), kind="s3")
    event.input.object_key = "incoming/2026-11-08/_SUCCESS"
    # When its marker's run is initiated
    result = _initiate(world, event)
    # Then it is queued, its dataset already checked, and the notification names that dataset
    assert result.queued is True
    assert result.data is not None
    assert result.data.prefix == "incoming/2026-11-08/"
    [message] = world.published()
    assert f"Will train on:    s3://{DATA_BUCKET}/incoming/2026-11-08/ (checked complete)" in message["Message"]


def test_a_malformed_dataset_fails_at_once_instead_of_waiting(world: World) -> None:
    # Given a run in progress and a marker whose dataset has no validation data
    world.put("incoming/2026-11-08/train/part-0001.csv")
    world.put("incoming/2026-11-08/_SUCCESS", "")
    earlier = world.start_execution("earlier-run")
    mine = world.start_execution("my-run")
    event = world.event(mine, earlier["startDate"] + timedelta(minutes=1), kind="s3")
    event.input.object_key = "incoming/2026-11-08/_SUCCESS"
    # When the marker's run is initiated
    # Then it fails on the dataset, and announces nothing (the failure route sends the one notification)
    with pytest.raises(DatasetError, match="validation/"):
        _initiate(world, event)
    assert world.published() == []


def _waiting_again(event: InitiateEvent, queue: QueuePosition) -> InitiateEvent:
    """The payload of the next check: the state machine passes back the previous ``$.run``."""
    return event.model_copy(
        update={"input": event.input.model_copy(update={"run": PreviousAttempt(queued=True, queue=queue)})}
    )


def test_a_waiting_run_announces_itself_once_and_keeps_its_place(world: World) -> None:
    # Given a run that already waited in line once
    world.put_dataset("2026-11-01")
    earlier = world.start_execution("earlier-run")
    mine = world.start_execution("my-run")
    since = earlier["startDate"] + timedelta(minutes=1)
    event = _waiting_again(world.event(mine, since), QueuePosition(behind="earlier-run", ahead=1, since=since))
    # When it checks again ten minutes later
    result = _initiate(world, event, now=since + timedelta(minutes=10))
    # Then it still waits, since the same moment, and sends nothing new
    assert result.queued is True
    assert result.queue is not None
    assert result.queue.since == since
    assert world.published() == []


def test_a_waiting_run_starts_when_the_run_ahead_ends(world: World) -> None:
    # Given a run waiting behind one that has now finished
    world.put_dataset("2026-11-01")
    earlier = world.start_execution("earlier-run")
    mine = world.start_execution("my-run")
    since = earlier["startDate"] + timedelta(minutes=1)
    event = _waiting_again(world.event(mine, since), QueuePosition(behind="earlier-run", ahead=1, since=since))
    world.sfn.stop_execution(executionArn=earlier["executionArn"])
    # When it checks again
    result = _initiate(world, event)
    # Then it starts: data, code and settings looked up, and a "started" notification sent
    assert result.queued is False
    assert result.queue is None
    assert result.data is not None
    assert result.code is not None
    [message] = world.published()
    assert message["Subject"].endswith("started")


def test_a_run_that_waited_too_long_gives_up_saying_why(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a run that has waited a day behind one that is still running
    monkeypatch.setenv("QUEUE_MAX_WAIT_SECONDS", "86400")
    world.put_dataset("2026-11-01")
    earlier = world.start_execution("earlier-run")
    mine = world.start_execution("my-run")
    since = earlier["startDate"] + timedelta(minutes=1)
    event = _waiting_again(world.event(mine, since), QueuePosition(behind="earlier-run", ahead=1, since=since))
    # When it checks again after more than a day
    # Then it gives up, naming the run ahead and the setting
    with pytest.raises(QueueTimeoutError, match=r"24 h 1 min in line behind run earlier-run.*QUEUE_MAX_WAIT_SECONDS"):
        _initiate(world, event, now=since + timedelta(days=1, minutes=1))


def test_runs_wait_in_the_order_they_started(world: World) -> None:
    # Given one run in progress and one already waiting (names in start order, should times tie)
    world.put_dataset("2026-11-01")
    running = world.start_execution("a-running")
    waiting = world.start_execution("b-waiting")
    mine = world.start_execution("c-mine")
    now = mine["startDate"] + timedelta(minutes=3)
    # When the latest run is initiated
    result = _initiate(world, world.event(mine, mine["startDate"]), now=now)
    # Then it is second in line, behind the running one
    assert result.queue is not None
    assert (result.queue.behind, result.queue.ahead) == (running["name"], 2)
    [message] = world.published()
    assert "then 1 more waiting run;" in message["Message"]
    # And the waiting one is first in line
    first = _initiate(world, world.event(waiting, waiting["startDate"]), now=now)
    assert first.queue is not None
    assert (first.queue.behind, first.queue.ahead) == (running["name"], 1)


def test_run_goes_ahead_when_the_other_running_execution_started_later(world: World) -> None:
    # Given a RUNNING execution that started after this one (it will wait for this one)
    world.put_dataset("2026-11-01")
    later = world.start_execution("later-run")
    mine = world.start_execution("my-run")
    event = world.event(mine, later["startDate"] - timedelta(minutes=1))
    # When this run is initiated
    result = _initiate(world, event)
    # Then it is not queued
    assert result.queued is False


def test_simultaneous_executions_are_ordered_by_name(world: World) -> None:
    # Given two RUNNING executions that report the same start time
    world.put_dataset("2026-11-01")
    other = world.start_execution("aaa-run")
    mine = world.start_execution("zzz-run")
    event = world.event(mine, other["startDate"])
    # When the run with the later name is initiated
    result = _initiate(world, event)
    # Then it waits for the one with the earlier name
    assert result.queued is True
    assert result.queue is not None
    assert result.queue.behind == "aaa-run"


# --- the handler -------------------------------------------------------------------------------------


def test_handler_returns_the_contract_document(world: World, lambda_context: FakeLambdaContext) -> None:
    # Given the state machine's payload for a scheduled run
    world.put_dataset("2026-11-01")
    execution = world.start_execution("run-1")
    payload = load_event("initiate_pipeline_schedule")
    payload["execution"].update(
        id=execution["executionArn"], name="run-1", start_time=execution["startDate"].isoformat()
    )
    payload["execution"]["state_machine_arn"] = world.state_machine_arn
    # When the Lambda handler is invoked
    result = app.handler(payload, lambda_context)
    # Then it returns plain JSON with every key of the contract
    assert json.loads(json.dumps(result)) == result
    assert set(result) == {
        "run_id",
        "queued",
        "queue",
        "execution_arn",
        "console_url",
        "data",
        "code",
        "hyperparameters",
        "settings",
        "names",
        "output_uri",
        "evaluation_uri",
        "drift_report",
    }
    assert result["drift_report"] is None
    assert set(result["data"]) == {"bucket", "prefix", "train_uri", "validation_uri", "test_uri", "version"}
    assert set(result["code"]["training"]) == {"source_hash", "image_uri", "image_tag", "build_needed"}
    assert set(result["names"]) == {"training_job", "evaluation_job", "model", "endpoint_config", "endpoint"}


def test_handler_rejects_a_missing_environment_variable(
    world: World, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment that forgot TOPIC_ARN
    monkeypatch.delenv("TOPIC_ARN")
    execution = world.start_execution("run-1")
    payload = load_event("initiate_pipeline_schedule")
    payload["execution"].update(id=execution["executionArn"], name="run-1")
    # When the handler is invoked
    # Then it fails naming the variable
    with pytest.raises(ConfigurationError, match="TOPIC_ARN"):
        app.handler(payload, lambda_context)
