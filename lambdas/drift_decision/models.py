"""The boundary of ``drift_decision``: its payload, environment, the drift report it reads, and its decision."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lambdas.common.settings import EnvSettings


class DecideSettings(EnvSettings):
    """The function's environment variables."""

    environment: str = Field(min_length=1)
    #: The state machine a drift starts, and whose ``drift-*`` executions the rate limit counts.
    retraining_state_machine_arn: str = Field(min_length=1)
    #: At most one drift-triggered retraining per this many hours; 0 turns the limit off.
    retrain_cooldown_hours: int = Field(ge=0)
    min_drifted_features: int = Field(ge=1)


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Window(_Loose):
    start: str
    end: str


class DriftRunInfo(_Loose):
    """The part of ``$.run`` (``prepare_drift``'s answer) this step reads."""

    job_name: str = Field(min_length=1)
    report_uri: str = Field(pattern=r"^s3://[^/]+/.+/$")
    started: datetime
    endpoint: str
    model_version: str = ""
    window: Window


class DecideEvent(_Loose):
    """``{"run": $.run}``."""

    run: DriftRunInfo


class FeatureDrift(_Loose):
    """One feature's (or the predicted probability's) comparison, as the monitor reports it."""

    name: str
    psi: float | None = None
    test: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    drifted: bool = False
    missing_rate: float | None = None
    invalid_rate: float | None = None
    live_count: int | None = None
    baseline_count: int | None = None


class GroundTruth(_Loose):
    """Live quality where labels arrived: precision and recall at the model's threshold, and the AUCs."""

    labelled: int | None = None
    precision: float | None = None
    recall: float | None = None
    roc_auc: float | None = None
    pr_auc: float | None = None
    threshold: float | None = None
    below_floor: list[str] = Field(default_factory=list)


ReportStatus = Literal["drift", "no_drift", "insufficient_data"]


class DriftReport(_Loose):
    """``drift_report.json`` as ``python -m training.monitor`` writes it."""

    status: ReportStatus
    summary: str = ""
    records: int = 0
    min_records: int | None = None
    window: Window | None = None
    model_version: str | None = None
    drifted_features: list[str] = Field(default_factory=list)
    features: list[FeatureDrift] = Field(default_factory=list)
    prediction: FeatureDrift | None = None
    ground_truth: GroundTruth | None = None


class PreviousRun(BaseModel):
    """A drift-triggered retraining execution."""

    name: str
    started: str
    status: str


class RetrainingAction(BaseModel):
    """What became of retraining: started (this execution), rate-limited (by an earlier one), or not needed."""

    action: Literal["started", "rate_limited", "not_needed"]
    reason: str
    execution_name: str | None = None
    execution_arn: str | None = None
    last_drift_run: PreviousRun | None = None


class DriftDecision(BaseModel):
    """``$.drift``: what the drift job found and what was done about it (the drift notification's document)."""

    status: ReportStatus
    reason: str
    summary: str
    endpoint: str
    model_version: str | None
    window: Window
    records: int
    min_records: int | None
    drifted_features: list[str]
    features: list[FeatureDrift]
    prediction: FeatureDrift | None
    ground_truth: GroundTruth | None
    report_json: str
    report_html: str
    job_name: str
    retraining: RetrainingAction
