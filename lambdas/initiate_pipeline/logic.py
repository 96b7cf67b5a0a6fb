"""Everything ``initiate_pipeline`` decides, with the AWS clients passed in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]
from pydantic import ValidationError

from lambdas.common.sns import execution_console_url, publish
from lambdas.initiate_pipeline import naming
from lambdas.initiate_pipeline.datasets import (
    DatasetError,
    dataset_prefix_for_key,
    describe_dataset,
    newest_dataset_prefix,
)
from lambdas.initiate_pipeline.models import (
    CodeVersion,
    DataVersion,
    ExecutionContext,
    ImageVersion,
    InitiateEvent,
    InitiateResult,
    InitiateSettings,
    PipelineSettings,
    ResourceNames,
)

#: Characters of each source hash in the combined code version.
CODE_VERSION_HASH_CHARS = 12
#: ECR's limit on a tag's length.
MAX_IMAGE_TAG = 128


class PipelineConfigError(RuntimeError):
    """An SSM parameter or ECR repository the run depends on is missing or malformed."""


@dataclass(frozen=True)
class Clients:
    """The AWS clients the step uses; tests pass moto-backed or stubbed ones."""

    s3: Any
    ssm: Any
    ecr: Any
    sfn: Any
    sns: Any


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def running_predecessor(sfn: Any, execution: ExecutionContext) -> str | None:
    """The name of the earliest other RUNNING execution that started before this one, if any.

    Executions that started in the same instant are ordered by name, so of two
    simultaneous runs exactly one goes ahead.
    """
    mine = (_utc(execution.start_time), execution.name)
    earlier: list[tuple[datetime, str]] = []
    paginator = sfn.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=execution.state_machine_arn, statusFilter="RUNNING"):
        for other in page.get("executions", []):
            if other["executionArn"] == execution.id:
                continue
            theirs = (_utc(other["startDate"]), str(other["name"]))
            if theirs < mine:
                earlier.append(theirs)
    return min(earlier)[1] if earlier else None


def repository_name(repository_uri: str) -> str:
    """``<acct>.dkr.ecr.<region>.amazonaws.com/<name>`` → ``<name>`` (which may hold slashes)."""
    _host, sep, name = repository_uri.partition("/")
    if not sep or not name:
        raise PipelineConfigError(f"{repository_uri!r} is not an ECR repository URI (<registry>/<name>)")
    return name.split(":", 1)[0].split("@", 1)[0]


def image_tag(source_hash: str) -> str:
    """The image tag for a source hash: the hash itself, limited to ECR's tag characters and length.

    The full hash (a CDK asset hash is 64 hex digits) is used rather than a
    prefix, so the tag the build pushes and the tag looked up here can never
    disagree about how much of the hash to keep.
    """
    tag = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in source_hash.strip())
    return tag[:MAX_IMAGE_TAG].lstrip(".-") or "untagged"


def image_exists(ecr: Any, repository_uri: str, tag: str) -> bool:
    """Whether ECR already holds ``tag`` in the repository of ``repository_uri``."""
    name = repository_name(repository_uri)
    registry = repository_uri.split(".", 1)[0]
    request: dict[str, Any] = {"repositoryName": name, "imageIds": [{"imageTag": tag}]}
    if registry.isdigit():
        request["registryId"] = registry
    try:
        response = ecr.describe_images(**request)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code")
        if code == "ImageNotFoundException":
            return False
        if code == "RepositoryNotFoundException":
            raise PipelineConfigError(f"ECR repository {name!r} ({repository_uri}) does not exist") from err
        raise
    return bool(response.get("imageDetails"))


def image_version(ecr: Any, repository_uri: str, source_hash: str) -> ImageVersion:
    """Where one image lives and whether this run has to build it."""
    tag = image_tag(source_hash)
    uri = repository_uri.split("@", 1)[0]
    return ImageVersion(
        source_hash=source_hash,
        image_uri=f"{uri}:{tag}",
        image_tag=tag,
        build_needed=not image_exists(ecr, repository_uri, tag),
    )


def code_version(ecr: Any, settings: InitiateSettings) -> CodeVersion:
    """Both images plus ``<training hash>-<inference hash>`` (each cut to 12 characters)."""
    training = image_version(ecr, settings.training_repository_uri, settings.training_source_hash)
    inference = image_version(ecr, settings.inference_repository_uri, settings.inference_source_hash)
    version = f"{training.image_tag[:CODE_VERSION_HASH_CHARS]}-{inference.image_tag[:CODE_VERSION_HASH_CHARS]}"
    return CodeVersion(training=training, inference=inference, version=version)


def read_json_parameter(ssm: Any, name: str) -> Any:
    """The JSON document stored in SSM parameter ``name``."""
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ParameterNotFound":
            raise PipelineConfigError(f"SSM parameter {name} does not exist") from err
        raise
    try:
        return json.loads(value)
    except json.JSONDecodeError as err:
        raise PipelineConfigError(f"SSM parameter {name} is not valid JSON: {err.msg}") from None


def _as_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def hyperparameters(ssm: Any, name: str) -> dict[str, str]:
    """The hyperparameters object, every value a string as CreateTrainingJob requires."""
    document = read_json_parameter(ssm, name)
    if not isinstance(document, dict):
        raise PipelineConfigError(f"SSM parameter {name} must hold a JSON object of hyperparameters")
    return {str(key): _as_string(value) for key, value in document.items()}


def pipeline_settings(ssm: Any, name: str) -> dict[str, Any]:
    """The settings object, checked to hold every key the state machine reads."""
    document = read_json_parameter(ssm, name)
    try:
        return PipelineSettings.model_validate(document).model_dump()
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'document'}: {error['msg']}"
            for error in err.errors(include_url=False)
        )
        raise PipelineConfigError(f"SSM parameter {name} is invalid: {problems}") from None


def choose_dataset(s3: Any, event: InitiateEvent, settings: InitiateSettings) -> DataVersion:
    """The dataset holding the new object (S3 trigger), else the most recently updated one."""
    run_input = event.input
    bucket = settings.data_bucket
    if run_input.trigger == "s3":
        if not run_input.object_key:
            raise DatasetError("an s3-triggered run needs input.object_key")
        if run_input.bucket and run_input.bucket != bucket:
            raise DatasetError(f"object s3://{run_input.bucket}/{run_input.object_key} is not in data bucket {bucket}")
        prefix = dataset_prefix_for_key(bucket, settings.data_prefix, run_input.object_key)
    else:
        prefix = newest_dataset_prefix(s3, bucket, settings.data_prefix)
    return describe_dataset(s3, bucket, prefix)


def resource_names(event: InitiateEvent, settings: InitiateSettings) -> ResourceNames:
    """Training job, model and endpoint config names unique to this execution."""
    execution = event.execution
    unique = f"{execution.id}|{_utc(execution.start_time).isoformat()}"
    prefix = settings.sagemaker_name_prefix
    return ResourceNames(
        training_job=naming.sagemaker_name(f"{prefix}train", execution.name, unique),
        model=naming.sagemaker_name(f"{prefix}model", execution.name, unique),
        endpoint_config=naming.sagemaker_name(f"{prefix}config", execution.name, unique),
        endpoint=settings.endpoint_name,
    )


def _trigger_line(event: InitiateEvent) -> str:
    run_input = event.input
    if run_input.trigger == "s3" and run_input.object_key:
        return f"s3 (new object s3://{run_input.bucket or '?'}/{run_input.object_key})"
    return run_input.trigger


def _started_message(result: InitiateResult, event: InitiateEvent, data: DataVersion, code: CodeVersion) -> str:
    def build(image: ImageVersion) -> str:
        return "build needed" if image.build_needed else "already in ECR, no build"

    lines = [
        f"Pipeline run {result.run_id} started.",
        "",
        f"Trigger:          {_trigger_line(event)}",
        f"Reason:           {event.input.reason or '-'}",
        f"Dataset:          s3://{data.bucket}/{data.prefix}",
        f"Data version:     {data.version}",
        f"Code version:     {code.version}",
        f"Training image:   {code.training.image_uri} ({build(code.training)})",
        f"Inference image:  {code.inference.image_uri} ({build(code.inference)})",
        f"Training job:     {result.names.training_job}",
        f"Endpoint:         {result.names.endpoint}",
        "",
        f"Execution: {result.console_url}",
    ]
    return "\n".join(lines)


def _skipped_message(result: InitiateResult, event: InitiateEvent) -> str:
    lines = [
        f"Pipeline run {result.run_id} was {result.skip_reason}.",
        "",
        f"Trigger:          {_trigger_line(event)}",
        f"Reason:           {event.input.reason or '-'}",
        "",
        "Nothing was trained or deployed by this execution; the run in progress carries on.",
        f"Execution: {result.console_url}",
    ]
    return "\n".join(lines)


def initiate(event: InitiateEvent, settings: InitiateSettings, clients: Clients) -> InitiateResult:
    """Decide what this execution does and announce it on SNS.

    Raises :class:`DatasetError` or :class:`PipelineConfigError` with a message
    naming the missing bucket, prefix, parameter or repository.
    """
    execution = event.execution
    result = InitiateResult(
        run_id=naming.run_id(settings.environment, execution.name, execution.start_time),
        skip=False,
        skip_reason=None,
        execution_arn=execution.id,
        console_url=execution_console_url(execution.id),
        data=None,
        code=None,
        hyperparameters=None,
        settings=None,
        names=resource_names(event, settings),
        output_uri=f"s3://{settings.artifacts_bucket}/training-output/",
    )
    subject_prefix = f"[FraudPipeline {settings.environment}]"

    # The guard comes first: a run that will be skipped must not fail on data still being uploaded.
    predecessor = running_predecessor(clients.sfn, execution)
    if predecessor is not None:
        result = result.model_copy(update={"skip": True, "skip_reason": f"skipped: run {predecessor} in progress"})
        publish(
            clients.sns,
            topic_arn=settings.topic_arn,
            subject=f"{subject_prefix} run {result.run_id} skipped: {predecessor} in progress",
            message=_skipped_message(result, event),
        )
        return result

    data = choose_dataset(clients.s3, event, settings)
    code = code_version(clients.ecr, settings)
    result = result.model_copy(
        update={
            "data": data,
            "code": code,
            "hyperparameters": hyperparameters(clients.ssm, settings.hyperparameters_parameter),
            "settings": pipeline_settings(clients.ssm, settings.settings_parameter),
        }
    )
    publish(
        clients.sns,
        topic_arn=settings.topic_arn,
        subject=f"{subject_prefix} run {result.run_id} started",
        message=_started_message(result, event, data, code),
    )
    return result
