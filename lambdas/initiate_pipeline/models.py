"""The boundary of ``initiate_pipeline``: its event, environment, SSM documents and result."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lambdas.common.execution import ExecutionContext
from lambdas.common.settings import EnvSettings


class QueuePosition(BaseModel):
    """Where a run waits: behind which execution, with how many ahead, since when."""

    behind: str = Field(min_length=1)
    ahead: int = Field(ge=1)
    since: datetime


class PreviousAttempt(BaseModel):
    """What this execution's previous Initiate returned, present when the run waited in line."""

    model_config = ConfigDict(extra="ignore")

    queued: bool = False
    queue: QueuePosition | None = None


class ExecutionInput(BaseModel):
    """What EventBridge rules and manual starts send to the state machine.

    The state machine passes its whole state, so after a wait in line ``run`` holds
    the previous attempt's result.
    """

    model_config = ConfigDict(extra="allow")

    #: ``drift``: the drift state machine found drift in production; the run takes the newest complete
    #: dataset, like a scheduled one, and carries the drift report it was started for.
    trigger: Literal["schedule", "s3", "manual", "drift"]
    reason: str = ""
    bucket: str | None = None
    #: The real S3 key; see :meth:`_decode_event_key`.
    object_key: str | None = None
    #: ``s3://.../drift_report.json`` of a drift-triggered run.
    drift_report: str | None = None
    run: PreviousAttempt | None = None

    @model_validator(mode="after")
    def _decode_event_key(self) -> ExecutionInput:
        """S3 URL-encodes object keys in its event notifications (a space arrives as ``+``, other characters
        as ``%XX``), and the s3 rule passes ``detail.object.key`` through unchanged; decode it once, here."""
        if self.trigger == "s3" and self.object_key is not None:
            self.object_key = unquote_plus(self.object_key)
        return self


class InitiateEvent(BaseModel):
    """The Lambda payload: ``{"input": <execution input>, "execution": {...}}``."""

    input: ExecutionInput
    execution: ExecutionContext


class InitiateSettings(EnvSettings):
    """The function's environment variables."""

    environment: str = Field(min_length=1)
    topic_arn: str = Field(min_length=1)
    data_bucket: str = Field(min_length=1)
    data_prefix: str = "incoming/"
    artifacts_bucket: str = Field(min_length=1)
    hyperparameters_parameter: str = Field(min_length=1)
    settings_parameter: str = Field(min_length=1)
    training_repository_uri: str = Field(min_length=1)
    inference_repository_uri: str = Field(min_length=1)
    training_source_hash: str = Field(min_length=1)
    inference_source_hash: str = Field(min_length=1)
    endpoint_name: str = Field(min_length=1)
    #: Optional; the state machine's IAM policy scopes SageMaker resources to this prefix.
    name_prefix: str | None = None
    #: How often a run waiting in line checks again (the state machine's Wait), for messages.
    queue_poll_seconds: int = Field(default=60, ge=1)
    #: How long a run waits in line before it gives up.
    queue_max_wait_seconds: int = Field(default=86400, ge=1)

    @property
    def sagemaker_name_prefix(self) -> str:
        """``NAME_PREFIX`` if set, else ``fraud-<env>-``: every run's SageMaker names start with it."""
        return self.name_prefix or f"fraud-{self.environment}-"

    @field_validator("data_prefix")
    @classmethod
    def _folder(cls, value: str) -> str:
        value = value.lstrip("/")
        return value if not value or value.endswith("/") else value + "/"


class GateSettings(BaseModel):
    """The quality gate's part of the settings (checked again by the ``quality_gate`` function)."""

    model_config = ConfigDict(extra="forbid")

    min_pr_auc: float = Field(ge=0, le=1)
    min_roc_auc: float = Field(ge=0, le=1)
    max_drop: float = Field(ge=0, le=1)
    approval: Literal["auto", "manual"]


class PipelineSettings(BaseModel):
    """The ``SETTINGS_PARAMETER`` document; unknown keys are passed through untouched."""

    model_config = ConfigDict(extra="allow")

    training_instance_type: str
    training_instance_count: int = Field(ge=1)
    training_volume_gb: int = Field(ge=1)
    max_runtime_seconds: int = Field(ge=1)
    endpoint_instance_type: str
    endpoint_initial_instance_count: int = Field(ge=1)
    processing_instance_type: str
    evaluation_max_runtime_seconds: int = Field(ge=1)
    gate: GateSettings


class DataVersion(BaseModel):
    """The dataset a run trains on."""

    bucket: str
    prefix: str
    train_uri: str
    validation_uri: str
    test_uri: str
    version: str


class ImageVersion(BaseModel):
    """One container image: the source it is built from and whether it still has to be built."""

    source_hash: str
    image_uri: str
    image_tag: str
    build_needed: bool


class CodeVersion(BaseModel):
    """Both images and the combined code version recorded with the model."""

    training: ImageVersion
    inference: ImageVersion
    version: str


class ResourceNames(BaseModel):
    """SageMaker names for this run; the endpoint name is fixed per environment."""

    training_job: str
    evaluation_job: str
    model: str
    endpoint_config: str
    endpoint: str


class InitiateResult(BaseModel):
    """What the state machine keeps at ``$.run``.

    A run waiting in line (``queued``) carries its ``queue`` position, and ``code``,
    ``hyperparameters`` and ``settings`` are null: they are looked up when its turn
    comes. ``data`` is already known for an S3-triggered run (its dataset was checked
    before it joined the line) and null for the others, which take the newest
    complete dataset when they start.
    """

    run_id: str
    queued: bool
    queue: QueuePosition | None
    execution_arn: str
    console_url: str
    data: DataVersion | None
    code: CodeVersion | None
    hyperparameters: dict[str, str] | None
    settings: dict[str, Any] | None
    names: ResourceNames
    output_uri: str
    #: Where the evaluation job writes this run's report (``evaluation.json``).
    evaluation_uri: str
    #: The drift report a drift-triggered run was started for; null for the other triggers.
    drift_report: str | None = None
