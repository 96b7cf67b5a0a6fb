"""The boundary of ``quality_gate``: its payload, environment, the evaluation report it reads, and its result."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lambdas.common.settings import EnvSettings

Decision = Literal["approved", "pending", "rejected"]
#: The model package's ``ModelApprovalStatus`` for each decision.
ApprovalStatus = Literal["Approved", "PendingManualApproval", "Rejected"]

#: A share such as a metric, a threshold or a tolerance: a finite number from 0 to 1.
Share = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class GateEnvironment(EnvSettings):
    """The function's environment variables."""

    environment: str = Field(min_length=1)


class GateSettings(BaseModel):
    """The ``gate`` document of the run settings (SSM), set per environment."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    #: PR-AUC (average precision) the challenger must reach: the primary metric, as fraud is rare.
    min_pr_auc: Share
    min_roc_auc: Share
    #: How far (absolute) the challenger's PR-AUC may fall below the champion's.
    max_drop: Share
    #: ``auto`` approves a version that passes; ``manual`` leaves it PendingManualApproval.
    approval: Literal["auto", "manual"]


class ChampionRef(BaseModel):
    """What the state machine's FindChampion step found (``$.champion``)."""

    model_config = ConfigDict(extra="ignore")

    found: bool
    arn: str | None = None
    version: str | int | None = None
    model_data_url: str | None = None


class GateEvent(BaseModel):
    """The Lambda payload: ``{"report_uri", "settings", "champion"}``."""

    report_uri: str = Field(pattern=r"^s3://[^/]+/.+")
    settings: GateSettings
    champion: ChampionRef = Field(default_factory=lambda: ChampionRef(found=False))


# --- the evaluation report (evaluation.json, schema_version 1) ----------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ReportMetrics(_Strict):
    pr_auc: Share
    roc_auc: Share
    precision: Share
    recall: Share
    f1: Share


class ConfusionMatrix(_Strict):
    tp: int = Field(ge=0)
    fp: int = Field(ge=0)
    tn: int = Field(ge=0)
    fn: int = Field(ge=0)


class ModelScores(_Strict):
    """One model scored on the test data at its own threshold."""

    model_version: str = Field(min_length=1)
    mlflow_run_id: str | None = None
    threshold: Share
    metrics: ReportMetrics
    confusion_matrix: ConfusionMatrix


class ChampionScores(ModelScores):
    #: The champion's model package version (``CHAMPION_VERSION``).
    package_version: str = Field(min_length=1)


class HeldOutData(_Strict):
    """The test data both models were scored on."""

    rows: int = Field(ge=1)
    positives: int = Field(ge=0)


class TrackingStatus(_Strict):
    """The report's ``mlflow`` block: whether the evaluation could log to MLflow, and if not why."""

    status: str = "off"
    reason: str | None = None

    def describe(self) -> str:
        """``logged``, ``off``, or ``unavailable (<reason>)``: what a person reads in the notification."""
        return f"{self.status} ({self.reason})" if self.reason else self.status


class EvaluationReport(_Strict):
    """``evaluation.json`` as ``training.evaluate`` writes it."""

    schema_version: Literal[1]
    run_id: str
    test: HeldOutData
    primary_metric: Literal["pr_auc"]
    challenger: ModelScores
    champion: ChampionScores | None = None
    mlflow: TrackingStatus = TrackingStatus()

    @model_validator(mode="after")
    def _scored_on_the_test_data(self) -> EvaluationReport:
        """Each confusion matrix must count the test rows and positives: a fair comparison needs the same data."""
        for name, scores in (("challenger", self.challenger), ("champion", self.champion)):
            if scores is None:
                continue
            matrix = scores.confusion_matrix
            rows, positives = matrix.tp + matrix.fp + matrix.tn + matrix.fn, matrix.tp + matrix.fn
            if (rows, positives) != (self.test.rows, self.test.positives):
                raise ValueError(
                    f"{name}.confusion_matrix counts {rows} rows and {positives} positives, but the test data has "
                    f"{self.test.rows} rows and {self.test.positives} positives"
                )
        return self


# --- the result ($.gate) ----------------------------------------------------------------------------------


class Check(BaseModel):
    """One rule of the gate and how the challenger fared."""

    name: str
    value: float
    limit: float
    passed: bool


class ScoreSummary(BaseModel):
    pr_auc: float
    roc_auc: float
    precision: float
    recall: float
    f1: float
    threshold: float

    @classmethod
    def of(cls, scores: ModelScores) -> ScoreSummary:
        return cls(threshold=scores.threshold, **scores.metrics.model_dump())


class ChampionSummary(ScoreSummary):
    version: str


class GateResult(BaseModel):
    """What the state machine keeps at ``$.gate`` (Register reads ``approval_status`` and ``reason``)."""

    passed: bool
    decision: Decision
    approval_status: ApprovalStatus
    reason: str
    checks: list[Check]
    challenger: ScoreSummary
    champion: ChampionSummary | None
    mlflow_run_id: str
    #: Whether the evaluation logged to MLflow: ``logged``, ``off`` or ``unavailable (<reason>)``.
    mlflow: str = "off"
    model_version: str
    report_uri: str
