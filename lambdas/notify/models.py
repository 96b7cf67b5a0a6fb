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


class Scores(_Loose):
    """One model's figures on the test data, at its own threshold (the gate's ``challenger`` / ``champion``)."""

    pr_auc: float | None = None
    roc_auc: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    threshold: float | None = None


class ChampionScores(Scores):
    version: str | None = None


class GateCheck(_Loose):
    """One rule of the quality gate and how the challenger fared."""

    name: str
    value: float | None = None
    limit: float | None = None
    passed: bool


class GateInfo(_Loose):
    """The quality gate's result (``$.gate``)."""

    #: ``approved``, ``pending`` or ``rejected``.
    decision: str = "unknown"
    approval_status: str | None = None
    reason: str = ""
    checks: list[GateCheck] = Field(default_factory=list)
    challenger: Scores = Field(default_factory=Scores)
    champion: ChampionScores | None = None
    mlflow_run_id: str | None = None
    mlflow: str | None = None
    model_version: str | None = None
    report_uri: str | None = None


class RegisteredInfo(_Loose):
    """What CreateModelPackage returned (``$.registered``)."""

    arn: str | None = None


class DeployedPackage(_Loose):
    """The version a deployment put live (``$.run.package`` of the deployment state machine)."""

    arn: str | None = None
    version: str | None = None
    model_data_url: str | None = None
    image: str | None = None
    run_id: str | None = None
    data_version: str | None = None


class LivePackage(_Loose):
    """What the endpoint served when the deployment started (``$.run.live``)."""

    package_arn: str | None = None
    version: str | None = None
    endpoint_config: str | None = None


class DeploymentNamesInfo(_Loose):
    model: str | None = None
    endpoint_config: str | None = None
    endpoint: str | None = None


class DeploymentRun(_Loose):
    """The deployment state machine's ``$.run`` (``resolve_deployment``'s result)."""

    run_id: str | None = None
    reason: str = ""
    trigger: Literal["approved", "rejected"] | None = None
    package: DeployedPackage | None = None
    live: LivePackage | None = None
    names: DeploymentNamesInfo | None = None


class RolloutInfo(_Loose):
    """How the deployment put the version live (``$.update``): ``create`` or ``update``, and the traffic shifting."""

    kind: str | None = None
    traffic: str | None = None


class RollbackAlarm(_Loose):
    name: str
    state: str | None = None
    reason: str | None = None


class CanaryInfo(_Loose):
    invocations: int | None = None
    errors_5xx: int | None = None
    max_model_latency_ms: float | None = None


class RollbackInfo(_Loose):
    """``explain_rollback``'s report (``$.rollback.report``)."""

    #: ``rolled_back`` by SageMaker, or ``superseded`` by a later deployment.
    outcome: str = "rolled_back"
    version: str | None = None
    alarms: list[RollbackAlarm] = Field(default_factory=list)
    canary: CanaryInfo | None = None
    failure_reason: str | None = None
    rejected: bool = False
    summary: str | None = None


class RollbackState(_Loose):
    report: RollbackInfo | None = None


class PipelineState(_Loose):
    """The state JSON; which keys are present depends on the state machine and how far it got."""

    run: dict[str, Any] | None = None
    failed_state: str | None = None
    error: ErrorInfo | None = None
    training: TrainingInfo | None = None
    endpoint: EndpointInfo | None = None
    #: The clean-up's report, or (``cleanup_error``) why it failed; either way the run deployed.
    cleanup: CleanupInfo | None = None
    cleanup_error: ErrorInfo | None = None
    #: Retraining: the quality gate's result and the registered model package.
    gate: GateInfo | None = None
    registered: RegisteredInfo | None = None
    #: Deployment: how the version went live, and (``rollback``) why SageMaker put the old one back.
    update: RolloutInfo | None = None
    rollback: RollbackState | None = None
    #: Drift state machine: what the drift job found and what was done about it (``drift_messages``).
    drift: dict[str, Any] | None = None
    #: Batch state machine: the transform job and its output (``batch_messages``).
    batch: dict[str, Any] | None = None


#: ``success`` / ``failure``: a retraining run's end; ``registered``: a new model package version;
#: ``deployed`` / ``deployment_skipped`` / ``rolled_back``: the deployment state machine's outcome;
#: ``drift``: the drift job's finding; ``batch_scored``: a batch transform's output.
NotificationKind = Literal[
    "success", "failure", "registered", "deployed", "deployment_skipped", "rolled_back", "drift", "batch_scored"
]


class NotifyEvent(BaseModel):
    """``{"kind": <NotificationKind>, "execution_arn": ..., "state": {...}}``."""

    kind: NotificationKind
    execution_arn: str = Field(min_length=1)
    state: PipelineState = Field(default_factory=PipelineState)


class Notification(BaseModel):
    """The subject and body to publish."""

    subject: str
    message: str
