"""The boundary of ``batch_scoring``: its payloads, environment and results."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lambdas.common.settings import EnvSettings


class BatchSettings(EnvSettings):
    """The functions' environment variables."""

    environment: str = Field(min_length=1)
    #: The environment's data bucket: batches arrive under ``batch/incoming/`` and are scored to ``batch/output/``.
    data_bucket: str = Field(min_length=1)
    #: ``fraud-<env>-``: the batch's model and transform job are named ``<prefix>batch-…``.
    name_prefix: str = Field(min_length=1)


class BatchTrigger(BaseModel):
    """The execution's input: ``{"bucket", "object_key"}`` of the completion marker (the S3 rule's input)."""

    model_config = ConfigDict(extra="ignore")

    bucket: str = Field(min_length=1)
    object_key: str = Field(min_length=1)

    @field_validator("object_key")
    @classmethod
    def _decode(cls, value: str) -> str:
        """S3 URL-encodes keys in its events (a space arrives as ``+``); the rule passes the key through as is."""
        return unquote_plus(value)


class ExecutionContext(BaseModel):
    """The ``$$.Execution`` / ``$$.StateMachine`` facts the state machine passes along."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    start_time: datetime
    state_machine_arn: str = ""


class PrepareEvent(BaseModel):
    """``{"event": <execution input>, "execution": {...}}`` (``stacks.workflows.shared.execution_step``)."""

    event: BatchTrigger
    execution: ExecutionContext


class BatchData(BaseModel):
    """Where the batch is: the failure notification prints ``s3://<bucket>/<prefix>``."""

    bucket: str
    prefix: str


class BatchNames(BaseModel):
    """The names this run gives what it creates: unique per run, under the environment's prefix."""

    model: str
    transform_job: str


class BatchRun(BaseModel):
    """``$.run`` of the batch state machine."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    trigger: str = "s3"
    dataset: str
    data: BatchData
    #: ``s3://<bucket>/batch/incoming/<name>/``: the transform's S3Prefix input.
    input_uri: str
    #: ``s3://<bucket>/batch/output/<name>/``: the transform's S3OutputPath.
    output_uri: str
    output_prefix: str
    names: BatchNames


class ScoringVersion(BaseModel):
    """``$.version``: the Approved model package the batch was scored with."""

    model_config = ConfigDict(extra="ignore")

    arn: str
    version: str


class TransformInfo(BaseModel):
    """``$.transform``: what the finished transform job reported."""

    model_config = ConfigDict(extra="ignore")

    job_name: str
    status: str | None = None


class SummaryEvent(BaseModel):
    """``{"run": $.run, "version": $.version, "transform": $.transform}``."""

    run: BatchRun
    version: ScoringVersion
    transform: TransformInfo


class BadRow(BaseModel):
    """One input row the model could not score: its file, its line in that file, and why."""

    file: str
    line: int
    reason: str


class FileCounts(BaseModel):
    """The rows of one output file."""

    file: str
    output_key: str
    rows: int = 0
    bad_rows: int = 0
    flagged: int = 0
    header: bool = False


class BatchSummary(BaseModel):
    """``$.batch``: what the notification says about a scored batch."""

    dataset: str
    input: str
    output: str
    rows: int
    scored: int
    bad_rows: int
    flagged: int
    files: list[FileCounts]
    bad_samples: list[BadRow]
    version: str
    model_package: str
    transform_job: str
    model: str
