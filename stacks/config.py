"""The typed, validated configuration of one deployment environment.

``app.py`` is the only reader of CDK context: it calls :func:`load_environment`
once and hands the frozen result to the stacks as keyword arguments. Nothing
below ``app.py`` looks at context or the process environment.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stacks.monitoring_config import Batch, DataCapture, Drift
from stacks.regions import SUPPORTED_REGIONS
from stacks.rollout_config import Autoscaling, EndpointAlarmSettings, Rollout, check_rollout

#: CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS: tuple[int, ...] = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096)
LOG_RETENTION_DAYS += (1827, 2192, 2557, 2922, 3288, 3653)

_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_SCHEDULE = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(\S+ \S+ \S+ \S+ \S+ \S+\))$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
#: Most checks a run waiting in line may make (a day at the default 60 s).
MAX_QUEUE_CHECKS = 1440
#: Instance families with accelerators; the scikit-learn framework image has no GPU build.
_GPU_FAMILIES = ("p2", "p3", "p4", "p5", "g4", "g5", "g6")


class ConfigError(ValueError):
    """The configuration is wrong; the message names the environment and the key."""


class QualityGate(BaseModel):
    """What a retrained model (the challenger) must show on the held-out test data to be registered as approvable.

    PR-AUC is the primary metric: fraud is rare (about 2 % of rows), and a model that ranks every
    transaction at random scores a PR-AUC near that rate while its ROC-AUC still sits near 0.5.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Absolute floor on PR-AUC (average precision).
    min_pr_auc: float = Field(default=0.05, ge=0, le=1)
    #: Absolute floor on ROC-AUC.
    min_roc_auc: float = Field(default=0.65, ge=0, le=1)
    #: How much lower than the champion's the challenger's PR-AUC may be (absolute), on the same test data.
    max_drop: float = Field(default=0.05, ge=0, le=1)


class EnvironmentConfig(BaseModel):
    """Everything that differs between dev, stage and prod."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
    schedule: str | None = None
    training_instance_type: str = "ml.m5.large"
    training_instance_count: int = Field(default=1, ge=1, le=20)
    training_volume_gb: int = Field(default=30, ge=1, le=16384)
    training_max_runtime_seconds: int = Field(default=3600, ge=60, le=432000)
    endpoint_instance_type: str = "ml.t2.medium"
    endpoint_initial_instance_count: int = Field(default=1, ge=1, le=10)
    #: After a verified deploy, models and endpoint configs older than the newest N are deleted (never the live
    #: ones); the N kept are what ``aws sagemaker update-endpoint`` can roll back to.
    keep_last_versions: int = Field(default=3, ge=1, le=100)
    endpoint_poll_seconds: int = Field(default=30, ge=1, le=600)
    endpoint_max_polls: int = Field(default=60, ge=1, le=1000)
    #: A run that starts while another is in progress waits in line, checking this often.
    queue_poll_seconds: int = Field(default=60, ge=1, le=3600)
    #: How long a run waits in line before it gives up (and says so); default one day.
    queue_max_wait_seconds: int = Field(default=86400, ge=60, le=604800)
    #: The quality gate a retrained model must pass (floors, and no worse than the champion beyond a tolerance).
    quality_gate: QualityGate = Field(default_factory=QualityGate)
    #: ``auto``: a model that passes the gate is registered Approved, which deploys it; ``manual``: it waits as
    #: PendingManualApproval until someone approves it (``make approve``).
    approval: Literal["auto", "manual"] = "auto"
    #: The evaluation job (SageMaker Processing) that scores challenger and champion.
    processing_instance_type: str = "ml.m5.large"
    evaluation_max_runtime_seconds: int = Field(default=3600, ge=60, le=432000)
    #: How an update of the live endpoint shifts traffic (a first deployment has nothing to shift from).
    rollout: Rollout = Field(default_factory=Rollout)
    endpoint_alarms: EndpointAlarmSettings = Field(default_factory=EndpointAlarmSettings)
    #: Target tracking on invocations per instance; null leaves the instance count fixed.
    autoscaling: Autoscaling | None = Field(default_factory=Autoscaling)
    #: What the endpoint captures, how the drift job judges it, and how batches are scored.
    data_capture: DataCapture = Field(default_factory=DataCapture)
    drift: Drift = Field(default_factory=Drift)
    batch: Batch = Field(default_factory=Batch)
    #: A SageMaker managed MLflow tracking server for this environment (bills by the hour while it exists).
    mlflow_tracking_server: bool = False
    notification_emails: tuple[str, ...] = ()
    removal_policy: Literal["destroy", "retain"] = "destroy"
    log_retention_days: int = 30
    api_key_required: bool = False
    api_throttle_rate_limit: float = Field(default=50, gt=0)
    api_throttle_burst_limit: int = Field(default=100, ge=1)
    hyperparameters: dict[str, str | int | float] = Field(default_factory=dict)
    #: Version of the public Powertools for AWS Lambda (Python) v3 layer.
    powertools_layer_version: int = Field(default=27, ge=1)
    #: API Gateway's CloudWatch Logs role is one setting per account and region: ``create`` has this app own
    #: it in a shared, retained stack; ``external`` leaves it to whoever already manages it there.
    api_gateway_cloudwatch_role: Literal["create", "external"] = "create"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError("must be 1-12 lowercase letters or digits, starting with a letter")
        return value

    @field_validator("region")
    @classmethod
    def _supported_region(cls, value: str | None) -> str | None:
        if value is not None and value not in SUPPORTED_REGIONS:
            raise ValueError(
                f"{value!r} is not a supported region: the app needs the Powertools for AWS Lambda layer and "
                f"SageMaker's scikit-learn image there; supported: {', '.join(SUPPORTED_REGIONS)}"
            )
        return value

    @field_validator("training_instance_type", "endpoint_instance_type", "processing_instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        if not _INSTANCE_TYPE.match(value):
            raise ValueError(f"{value!r} is not a SageMaker instance type such as 'ml.m5.large'")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is not None and not _SCHEDULE.match(value):
            raise ValueError(
                f"{value!r} is not an EventBridge schedule; use 'rate(7 days)' or 'cron(0 3 ? * MON *)', "
                "or null to disable"
            )
        return value

    @field_validator("notification_emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [email for email in value if not _EMAIL.match(email)]
        if bad:
            raise ValueError(f"not e-mail addresses: {', '.join(bad)}")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"{value} is not a CloudWatch Logs retention; choose one of {LOG_RETENTION_DAYS}")
        return value

    @model_validator(mode="after")
    def _cpu_training(self) -> EnvironmentConfig:
        family = self.training_instance_type.split(".")[1]
        if family.startswith(_GPU_FAMILIES):
            raise ValueError(
                f"training_instance_type {self.training_instance_type!r} is a GPU instance, but the model is "
                "scikit-learn gradient boosting, whose SageMaker framework image is CPU-only"
            )
        return self

    @model_validator(mode="after")
    def _queue_fits_execution_history(self) -> EnvironmentConfig:
        # Each check in line adds about nine events to the execution's history, which
        # Step Functions caps at 25,000 (Step Functions quotas, "Maximum execution history size").
        checks = self.queue_max_wait_seconds // self.queue_poll_seconds
        if checks > MAX_QUEUE_CHECKS:
            raise ValueError(
                f"queue_max_wait_seconds / queue_poll_seconds allows {checks} checks while waiting in line; "
                f"keep it at most {MAX_QUEUE_CHECKS} (Step Functions' execution history holds 25,000 events)"
            )
        return self

    @model_validator(mode="after")
    def _rollout_fits(self) -> EnvironmentConfig:
        # A scaled-in endpoint is as small as autoscaling's minimum: the rollout must fit that fleet too.
        fleet = min(self.endpoint_initial_instance_count, self.autoscaling.min_capacity if self.autoscaling else 100)
        check_rollout(self.rollout, fleet=fleet, poll_budget=self.endpoint_poll_seconds * self.endpoint_max_polls)
        return self

    @property
    def endpoint_alarm_names(self) -> dict[str, str]:
        """The endpoint alarms by kind; every one of them rolls a deployment back."""
        names = {"5xx": f"{self.endpoint_name}-5xx-rate", "latency": f"{self.endpoint_name}-p99-latency"}
        if self.endpoint_alarms.max_4xx_rate is not None:
            names["4xx"] = f"{self.endpoint_name}-4xx-rate"
        return names

    @property
    def drift_metrics_namespace(self) -> str:
        """The CloudWatch namespace the drift job publishes its per-feature metrics in."""
        return "FraudPipeline/Drift"

    @property
    def is_production(self) -> bool:
        return self.removal_policy == "retain"

    @property
    def endpoint_name(self) -> str:
        """The endpoint's name is an interface: the inference API calls it by name."""
        return f"fraud-detector-{self.name}"

    @property
    def api_name(self) -> str:
        """The REST API's name, per environment: its CloudWatch metrics (and so the alarms) are keyed by it."""
        return f"fraud-pipeline-{self.name}"

    @property
    def model_package_group_name(self) -> str:
        """The environment's model registry: every retrained model is a version in this group."""
        return f"fraud-{self.name}-models"

    def stack_name(self, part: str) -> str:
        return f"FraudPipeline-{self.name}-{part}"


def load_environment(
    context: dict[str, Any] | None, env_name: str, *, chosen_with: str = "-c env=NAME"
) -> EnvironmentConfig:
    """Validate ``environments.<env_name>`` from the CDK context into an :class:`EnvironmentConfig`.

    ``chosen_with`` is how the caller's user picks an environment, for the error message.
    """
    environments = (context or {}).get("environments")
    if not isinstance(environments, dict) or not environments:
        raise ConfigError("cdk.json: context key 'environments' is missing or empty")
    if env_name not in environments:
        known = ", ".join(sorted(environments))
        raise ConfigError(f"unknown environment {env_name!r}; cdk.json defines: {known} (choose with {chosen_with})")
    raw = environments[env_name]
    if not isinstance(raw, dict):
        raise ConfigError(f"cdk.json environments.{env_name}: must be an object")
    try:
        return EnvironmentConfig(name=env_name, **raw)
    except ValidationError as err:
        problems = "; ".join(
            f"environments.{env_name}.{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
            for e in err.errors()
        )
        raise ConfigError(f"cdk.json: {problems}") from None
