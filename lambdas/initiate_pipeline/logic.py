"""Everything ``initiate_pipeline`` decides, with the AWS clients passed in.

The pieces live beside it: :mod:`.datasets` (which data), :mod:`.images` (which code),
:mod:`.parameters` (SSM documents), :mod:`.queue` (one run at a time) and
:mod:`.messages` (what is announced).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lambdas.common.sns import execution_console_url, publish
from lambdas.initiate_pipeline import messages, naming
from lambdas.initiate_pipeline.datasets import (
    DatasetError,
    dataset_prefix_for_key,
    describe_dataset,
    newest_dataset_prefix,
)
from lambdas.initiate_pipeline.images import code_version
from lambdas.initiate_pipeline.models import DataVersion, InitiateEvent, InitiateResult, InitiateSettings, ResourceNames
from lambdas.initiate_pipeline.parameters import hyperparameters, pipeline_settings
from lambdas.initiate_pipeline.queue import RunAhead, check_wait, describe_wait, position, runs_ahead, utc


@dataclass(frozen=True)
class Clients:
    """The AWS clients the step uses; tests pass moto-backed or stubbed ones."""

    s3: Any
    ssm: Any
    ecr: Any
    sfn: Any
    sns: Any


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
    unique = f"{execution.id}|{utc(execution.start_time).isoformat()}"
    prefix = settings.sagemaker_name_prefix
    return ResourceNames(
        training_job=naming.sagemaker_name(f"{prefix}train", execution.name, unique),
        evaluation_job=naming.sagemaker_name(f"{prefix}eval", execution.name, unique),
        model=naming.sagemaker_name(f"{prefix}model", execution.name, unique),
        endpoint_config=naming.sagemaker_name(f"{prefix}config", execution.name, unique),
        endpoint=settings.endpoint_name,
    )


def initiate(
    event: InitiateEvent, settings: InitiateSettings, clients: Clients, now: datetime | None = None
) -> InitiateResult:
    """Decide what this execution does and announce it on SNS.

    An S3-triggered run checks its dataset first, so a malformed dataset fails at
    once (one failure notification) instead of waiting in line. A run with others
    ahead of it returns ``queued`` (see :mod:`lambdas.initiate_pipeline.queue`) and
    announces that once, on its first attempt.

    Raises :class:`DatasetError`, :class:`PipelineConfigError` or
    :class:`QueueTimeoutError` with a message naming what to fix.
    """
    now = now or datetime.now(UTC)
    execution = event.execution
    run_id = naming.run_id(settings.environment, execution.name, execution.start_time)
    result = InitiateResult(
        run_id=run_id,
        queued=False,
        queue=None,
        execution_arn=execution.id,
        console_url=execution_console_url(execution.id),
        data=choose_dataset(clients.s3, event, settings) if event.input.trigger == "s3" else None,
        code=None,
        hyperparameters=None,
        settings=None,
        names=resource_names(event, settings),
        output_uri=f"s3://{settings.artifacts_bucket}/training-output/",
        evaluation_uri=f"s3://{settings.artifacts_bucket}/evaluations/{run_id}/",
        drift_report=event.input.drift_report if event.input.trigger == "drift" else None,
    )
    ahead = runs_ahead(clients.sfn, execution)
    if ahead:
        return _wait_in_line(result, event, settings, clients, ahead, now)

    data = result.data or choose_dataset(clients.s3, event, settings)
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
        subject=f"{messages.subject_prefix(settings.environment)} run {result.run_id} started",
        message=messages.started(result, event, data, code),
    )
    return result


def _wait_in_line(
    result: InitiateResult,
    event: InitiateEvent,
    settings: InitiateSettings,
    clients: Clients,
    ahead: list[RunAhead],
    now: datetime,
) -> InitiateResult:
    previous = event.input.run.queue if event.input.run is not None and event.input.run.queued else None
    queue = position(ahead, previous, now)
    check_wait(queue, now, settings.queue_max_wait_seconds)
    result = result.model_copy(update={"queued": True, "queue": queue})
    if previous is None:
        starts = describe_wait(queue, ahead, now, settings.queue_poll_seconds)
        publish(
            clients.sns,
            topic_arn=settings.topic_arn,
            subject=f"{messages.subject_prefix(settings.environment)} run {result.run_id} queued behind {queue.behind}",
            message=messages.queued(result, event, starts, f"s3://{settings.data_bucket}/{settings.data_prefix}"),
        )
    return result
