"""The notification of the drift state machine's finding (``$.drift``).

``$.drift`` is either ``drift_decision``'s document (the job ran: its report, and what became of
retraining) or ``prepare_drift``'s notice (nothing was examined, and why). Too little data is
said as such, never as "no drift".
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lambdas.common.sns import execution_console_url, safe_subject
from lambdas.notify.models import Notification, NotifyEvent
from lambdas.notify.text import figure, subject_prefix, table


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DriftWindow(_Loose):
    start: str | None = None
    end: str | None = None


class FeatureFigures(_Loose):
    """One feature's (or the predicted probability's) comparison of live data with the training baseline."""

    name: str
    psi: float | None = None
    test: str | None = None
    p_value: float | None = None
    drifted: bool = False
    missing_rate: float | None = None
    invalid_rate: float | None = None


class LiveQuality(_Loose):
    """Precision and recall at the threshold, and the AUCs, on captured predictions whose labels arrived."""

    labelled: int | None = None
    precision: float | None = None
    recall: float | None = None
    roc_auc: float | None = None
    pr_auc: float | None = None
    threshold: float | None = None
    below_floor: list[str] = Field(default_factory=list)


class PreviousDriftRun(_Loose):
    name: str
    started: str | None = None
    status: str | None = None


class RetrainingOutcome(_Loose):
    action: Literal["started", "rate_limited", "not_needed"] = "not_needed"
    reason: str = ""
    execution_name: str | None = None
    execution_arn: str | None = None
    last_drift_run: PreviousDriftRun | None = None


class DriftDocument(_Loose):
    """``$.drift``: the fields both documents share are required, the job's own are optional."""

    status: Literal["drift", "no_drift", "insufficient_data", "skipped"]
    reason: str = ""
    summary: str = ""
    endpoint: str | None = None
    model_version: str | None = None
    window: DriftWindow | None = None
    records: int | None = None
    min_records: int | None = None
    drifted_features: list[str] = Field(default_factory=list)
    features: list[FeatureFigures] = Field(default_factory=list)
    prediction: FeatureFigures | None = None
    ground_truth: LiveQuality | None = None
    report_json: str | None = None
    report_html: str | None = None
    job_name: str | None = None
    retraining: RetrainingOutcome = Field(default_factory=RetrainingOutcome)


_RETRAINING_WORDS = {
    "started": "retraining started",
    "rate_limited": "retraining rate-limited",
    "not_needed": "below tolerance, no retraining",
}


def _subject(document: DriftDocument) -> str:
    if document.status == "drift":
        # The outcome first: a long list of features is what the subject's length limit cuts.
        features = ", ".join(document.drifted_features) or "?"
        return f"drift, {_RETRAINING_WORDS[document.retraining.action]}: {features}"
    if document.status == "no_drift":
        version = f", version {document.model_version}" if document.model_version else ""
        return f"no drift ({document.records if document.records is not None else '?'} records{version})"
    if document.status == "insufficient_data":
        return f"insufficient data: {document.reason or 'too few captured records'}"
    return f"drift check skipped: {document.reason or '-'}"


def _p_value(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.1e}" if 0 < value < 1e-4 else f"{value:.4f}"


def _rate(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.1%}"


def _feature_rows(features: list[FeatureFigures]) -> list[list[str]]:
    ordered = sorted(features, key=lambda f: (not f.drifted, -(f.psi or 0.0), f.name))
    return [
        [
            f.name,
            "DRIFTED" if f.drifted else "ok",
            figure(f.psi),
            _p_value(f.p_value),
            f.test or "-",
            _rate(f.missing_rate),
            _rate(f.invalid_rate),
        ]
        for f in ordered
    ]


def _figures(document: DriftDocument) -> list[str]:
    """The per-feature table, then the predicted probability."""
    lines: list[str] = []
    if document.features:
        header = ["Feature", "Drift", "PSI", "p-value", "Test", "Missing", "Invalid"]
        lines += ["Features (training baseline against live):", *table(header, _feature_rows(document.features))]
    prediction = document.prediction
    if prediction is not None:
        compared = prediction.psi is not None and not math.isnan(prediction.psi)
        verdict = ("DRIFTED" if prediction.drifted else "no drift") if compared else "not compared"
        lines += [
            "",
            f"Predicted probability: {verdict} (PSI {figure(prediction.psi)}, p-value {_p_value(prediction.p_value)})",
        ]
    return lines


def _ground_truth(document: DriftDocument) -> list[str]:
    truth = document.ground_truth
    if truth is None:
        return ["Ground truth:   no labels for this window (upload them under labels/ to measure live quality)"]
    lines = [
        f"Ground truth:   {truth.labelled if truth.labelled is not None else '?'} labelled predictions, "
        f"at threshold {figure(truth.threshold)}: precision {figure(truth.precision)}, recall {figure(truth.recall)}, "
        f"ROC-AUC {figure(truth.roc_auc)}, PR-AUC {figure(truth.pr_auc)}"
    ]
    if truth.below_floor:
        lines.append(f"  WARNING: below the quality gate's floor: {', '.join(truth.below_floor)}")
    return lines


def _retraining(document: DriftDocument) -> list[str]:
    outcome = document.retraining
    lines = [f"Retraining:     {outcome.reason or outcome.action.replace('_', ' ')}"]
    if outcome.execution_arn:
        lines.append(f"  Run:          {execution_console_url(outcome.execution_arn)}")
    return lines


def _records(document: DriftDocument) -> str:
    if document.records is None:
        return "-"
    needed = f" (at least {document.min_records} needed)" if document.min_records is not None else ""
    return f"{document.records} captured{needed}"


def drift_notification(event: NotifyEvent, environment: str) -> Notification:
    """What the drift job found (or why it did not run), where its reports are, and what became of retraining."""
    document = DriftDocument.model_validate(event.state.drift or {})
    window = document.window or DriftWindow()
    version = f", version {document.model_version}" if document.model_version else ""
    lines = [
        f"Drift check ({environment}) of endpoint {document.endpoint or '?'}{version}: "
        f"{document.status.replace('_', ' ')}.",
        "",
        *(document.summary.splitlines() or ["-"]),
        "",
        f"Window:         {window.start or '?'} to {window.end or '?'}",
        f"Records:        {_records(document)}",
        f"Drifted:        {', '.join(document.drifted_features) or 'none'}",
    ]
    if document.job_name is not None:
        lines += _ground_truth(document)
    lines += _retraining(document)
    if document.features or document.prediction:
        lines += ["", *_figures(document)]
    if document.report_json or document.report_html:
        lines += [
            "",
            f"Report (JSON):  {document.report_json or '-'}",
            f"Report (HTML):  {document.report_html or '-'}  (one plot per feature, training against live)",
            f"Drift job:      {document.job_name or '-'}",
        ]
    lines += ["", f"Execution: {execution_console_url(event.execution_arn)}"]
    subject = f"{subject_prefix(environment)} {_subject(document)}"
    return Notification(subject=safe_subject(subject), message="\n".join(lines))
