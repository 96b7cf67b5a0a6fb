"""The boundary of ``notify``: its payload and environment."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lambdas.common.settings import EnvSettings


class NotifySettings(EnvSettings):
    """The function's environment variables."""

    topic_arn: str = Field(min_length=1)
    environment: str = Field(min_length=1)


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorInfo(_Loose):
    """A Catch's ``ResultPath`` content: ``{"Error": ..., "Cause": ...}``."""

    Error: str = "UnknownError"
    Cause: str | None = None


class Metric(_Loose):
    """One entry of DescribeTrainingJob's ``FinalMetricDataList``."""

    MetricName: str
    Value: float | str | None = None


class TrainingInfo(_Loose):
    """What the state machine keeps about the training job."""

    job_name: str | None = None
    model_artifacts: str | None = None
    metrics: list[Metric] = Field(default_factory=list)
    #: Why the metrics could not be read from SageMaker, if they could not.
    metrics_error: str | None = None


class EndpointInfo(_Loose):
    """What DescribeEndpoint reported when the endpoint went InService."""

    EndpointName: str | None = None
    EndpointConfigName: str | None = None
    EndpointStatus: str | None = None


class CleanupInfo(_Loose):
    """What the clean-up step after a deploy reported (``sagemaker_cleanup``'s report)."""

    kept_endpoint_configs: list[str] = Field(default_factory=list)
    deleted_endpoint_config_count: int = 0
    deleted_model_count: int = 0


class PipelineState(_Loose):
    """The state JSON; which keys are present depends on how far the run got."""

    run: dict[str, Any] | None = None
    failed_state: str | None = None
    error: ErrorInfo | None = None
    training: TrainingInfo | None = None
    endpoint: EndpointInfo | None = None
    #: The clean-up's report, or (``cleanup_error``) why it failed; either way the run deployed.
    cleanup: CleanupInfo | None = None
    cleanup_error: ErrorInfo | None = None


class NotifyEvent(BaseModel):
    """``{"kind": "success" | "failure", "execution_arn": ..., "state": {...}}``."""

    kind: Literal["success", "failure"]
    execution_arn: str = Field(min_length=1)
    state: PipelineState = Field(default_factory=PipelineState)


class Notification(BaseModel):
    """The subject and body to publish."""

    subject: str
    message: str
