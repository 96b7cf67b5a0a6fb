"""The boundary of ``prepare_drift``: its payload, environment and result (``$.run`` of the drift state machine)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lambdas.common.execution import ExecutionContext
from lambdas.common.settings import EnvSettings


class PrepareSettings(EnvSettings):
    """The function's environment variables."""

    environment: str = Field(min_length=1)
    endpoint_name: str = Field(min_length=1)
    artifacts_bucket: str = Field(min_length=1)
    data_bucket: str = Field(min_length=1)
    #: Every SageMaker name of this environment starts with it; the drift jobs are ``<prefix>drift-<time>``.
    name_prefix: str = Field(min_length=1)
    window_hours: int = Field(ge=1)
    training_repository_uri: str = Field(min_length=1)
    #: The training source the stack was deployed with: its image tag (as ``initiate_pipeline`` derives it).
    training_source_hash: str = Field(min_length=1)
    capture_prefix: str = "data-capture/"
    labels_prefix: str = "labels/"
    reports_prefix: str = "drift-reports/"

    @field_validator("capture_prefix", "labels_prefix", "reports_prefix")
    @classmethod
    def _folder(cls, value: str) -> str:
        value = value.lstrip("/")
        return value if not value or value.endswith("/") else value + "/"


class DriftInput(BaseModel):
    """What the schedule (``{"trigger": "schedule"}``) or a person (``{}``, ``{"trigger": "manual"}``) sends."""

    model_config = ConfigDict(extra="allow")

    trigger: str = "manual"


class PrepareEvent(BaseModel):
    """The Lambda payload: ``{"input": <execution input>, "execution": {...}}``."""

    input: DriftInput = Field(default_factory=DriftInput)
    execution: ExecutionContext


class Window(BaseModel):
    """The captured requests the job examines: ``inferenceTime`` in [start, end), ISO 8601 UTC."""

    start: str
    end: str


class LiveModel(BaseModel):
    """The version the endpoint serves, found through its config and model."""

    endpoint_config: str
    model: str | None = None
    package_arn: str | None = None
    version: str | None = None
    model_data_url: str | None = None


#: ``examine``: run the drift job; ``insufficient_data``: nothing to compare (no live model, nothing
#: captured); ``skipped``: the data is there but the job cannot run yet (its image is not built).
Outcome = Literal["examine", "insufficient_data", "skipped"]


class DriftRun(BaseModel):
    """What the state machine keeps at ``$.run``. Every field is always present (null when unknown), so the
    state machine's JSONPaths never point at a missing key; the job's fields are set when ``outcome`` is
    ``examine``."""

    run_id: str
    outcome: Outcome
    #: Why the job does not run, in a few words (the notification's subject); empty when it runs.
    reason: str
    trigger: str
    environment: str
    endpoint: str
    started: str
    job_name: str
    window: Window
    live: LiveModel | None
    model_version: str
    model_data_url: str | None
    image_uri: str | None
    capture_uri: str
    capture_found: bool
    labels_uri: str
    labels_found: bool
    report_uri: str
    #: The drift notification's document (``$.drift``) when the job does not run, else null.
    notice: dict[str, Any] | None
