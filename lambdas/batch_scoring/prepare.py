"""The first step of a batch: which batch the marker completes, and the names this run creates.

A batch is the folder ``batch/incoming/<name>/`` of the data bucket; it is complete when its
completion marker ``batch/incoming/<name>/_SUCCESS`` is uploaded, last, as for training data
(``lambdas.initiate_pipeline.datasets.COMPLETION_MARKER``). ``<name>`` becomes part of the
model's and the transform job's names, so it must hold only what SageMaker allows there: letters,
digits and hyphens, starting and ending with a letter or digit (SageMaker API Reference,
CreateTransformJob ``TransformJobName`` and CreateModel ``ModelName``: pattern
``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``, at most 63 characters).
"""

from __future__ import annotations

import hashlib
import re

from lambdas.batch_scoring.models import BatchData, BatchNames, BatchRun, BatchSettings, PrepareEvent

#: Where batches arrive and where their scores go, in the data bucket.
INCOMING_PREFIX = "batch/incoming/"
OUTPUT_PREFIX = "batch/output/"
#: The object that says a batch folder is complete (the same marker as training data).
COMPLETION_MARKER = "_SUCCESS"
#: After the environment's prefix, what starts every batch model and transform job name (IAM is scoped to it).
NAME_PART = "batch-"
#: SageMaker's name rules for models and transform jobs.
MAX_NAME_LENGTH = 63
_SAGEMAKER_NAME = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9])*$")
#: Characters of the execution's hash in the names: two executions started in the same second differ.
_UNIQUE_CHARS = 4


class BatchInputError(ValueError):
    """The execution's input is not a batch of this environment: the failure route notifies with this message."""


class BatchNameError(ValueError):
    """The batch's folder name cannot be part of a SageMaker name: the failure route notifies with this message."""


def batch_name(bucket: str, key: str) -> str:
    """``<name>`` of ``batch/incoming/<name>/_SUCCESS``, checked against SageMaker's name rules."""
    where = f"s3://{bucket}/{key}"
    if not (key.startswith(INCOMING_PREFIX) and key.endswith(f"/{COMPLETION_MARKER}")):
        raise BatchInputError(
            f"{where} is not a batch's completion marker: expected {INCOMING_PREFIX}<name>/{COMPLETION_MARKER}"
        )
    name = key[len(INCOMING_PREFIX) : -len(f"/{COMPLETION_MARKER}")]
    if not _SAGEMAKER_NAME.match(name):
        raise BatchNameError(
            f"batch name {name!r} (from {where}) cannot name a SageMaker transform job: use only letters, "
            "digits and hyphens, starting and ending with a letter or digit, then upload the batch and its "
            "marker again under the new name"
        )
    return name


def run_name(prefix: str, name: str, stamp: str, unique: str) -> str:
    """``<prefix>batch-<name>-<stamp>-<unique>``, the batch name shortened to fit SageMaker's 63 characters."""
    head, tail = f"{prefix}{NAME_PART}", f"-{stamp}-{unique}"
    room = MAX_NAME_LENGTH - len(head) - len(tail)
    if room < 1:
        raise ValueError(f"name prefix {prefix!r} leaves no room for the batch name in {MAX_NAME_LENGTH} characters")
    return f"{head}{name[:room].rstrip('-')}{tail}"


def prepare(request: PrepareEvent, settings: BatchSettings) -> BatchRun:
    """The run document (``$.run``): the batch, its input and output locations, and this run's names."""
    trigger = request.event
    if trigger.bucket != settings.data_bucket:
        raise BatchInputError(
            f"s3://{trigger.bucket}/{trigger.object_key} is not in this environment's data bucket "
            f"({settings.data_bucket}); batches are scored from there only"
        )
    name = batch_name(trigger.bucket, trigger.object_key)
    execution = request.execution
    stamp = execution.start_time.strftime("%Y%m%d%H%M%S")
    unique = hashlib.sha256(execution.id.encode()).hexdigest()[:_UNIQUE_CHARS]
    resource = run_name(settings.name_prefix, name, stamp, unique)
    input_prefix, output_prefix = f"{INCOMING_PREFIX}{name}/", f"{OUTPUT_PREFIX}{name}/"
    return BatchRun(
        run_id=resource,
        dataset=name,
        data=BatchData(bucket=trigger.bucket, prefix=input_prefix),
        input_uri=f"s3://{trigger.bucket}/{input_prefix}",
        output_uri=f"s3://{trigger.bucket}/{output_prefix}",
        output_prefix=output_prefix,
        names=BatchNames(model=resource, transform_job=resource),
    )
