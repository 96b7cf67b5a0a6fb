"""The gate's rules: absolute floors on PR-AUC and ROC-AUC, and no worse than the champion on PR-AUC.

PR-AUC (average precision) comes first because fraud is rare: with a few positives
per thousand rows, ROC-AUC stays high for models that miss most of the fraud, while
PR-AUC drops. The champion comparison uses the same metric, with an absolute
tolerance (``max_drop``) so that noise on a small test set does not block every
retrained model. Both models were scored on the same test data by the Evaluate step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from lambdas.quality_gate.models import (
    ApprovalStatus,
    ChampionRef,
    ChampionScores,
    ChampionSummary,
    Check,
    Decision,
    EvaluationReport,
    GateEvent,
    GateResult,
    GateSettings,
    ScoreSummary,
)
from lambdas.quality_gate.report import ReportError, describe_problems, read_report, report_location

PR_AUC_FLOOR = "pr_auc floor"
ROC_AUC_FLOOR = "roc_auc floor"
CHAMPION_DROP = "pr_auc vs champion"

#: Absorbs floating-point noise (0.31 - 0.05 is 0.26000000000000001): a tie passes.
_EPSILON = 1e-9

_PASSED: dict[str, tuple[Decision, ApprovalStatus]] = {
    "auto": ("approved", "Approved"),
    "manual": ("pending", "PendingManualApproval"),
}
_FAILED: tuple[Decision, ApprovalStatus] = ("rejected", "Rejected")


class GatePayloadError(ValueError):
    """The state machine sent the gate a payload it cannot use (a wiring bug)."""


def parse_event(payload: Any) -> GateEvent:
    """The validated payload; a problem is reported by field, without pydantic's links."""
    try:
        return GateEvent.model_validate(payload)
    except ValidationError as error:
        raise GatePayloadError(f"quality gate payload is invalid: {describe_problems(error)}") from None


def metric(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


def setting(value: float) -> str:
    """A configured limit as written (0.2 → ``0.20``, 0.125 → ``0.125``)."""
    text = f"{value:.2f}"
    return text if abs(float(text) - value) < _EPSILON else f"{value:.6f}".rstrip("0")


def _below(value: float, limit: float) -> str:
    """``value`` with enough digits that it visibly sits below ``limit``."""
    for digits in range(3, 7):
        if round(value, digits) < limit:
            return metric(value, digits)
    return repr(value)


@dataclass(frozen=True)
class _Outcome:
    check: Check
    #: The phrase for the reason: what went wrong, or how the challenger fared.
    phrase: str


def _floor(name: str, label: str, value: float, floor: float) -> _Outcome:
    passed = value >= floor - _EPSILON
    phrase = (
        f"{label} {metric(value)} meets the floor {setting(floor)}"
        if passed
        else f"{label} {_below(value, floor)} is below the floor {setting(floor)}"
    )
    return _Outcome(Check(name=name, value=value, limit=floor, passed=passed), phrase)


def _against_champion(value: float, champion: ChampionScores, max_drop: float) -> _Outcome:
    best = champion.metrics.pr_auc
    limit = round(max(best - max_drop, 0.0), 10)
    passed = value >= limit - _EPSILON
    theirs = f"the champion's {metric(best)} (version {champion.package_version}"
    gap = best - value
    if not passed:
        phrase = f"PR-AUC {metric(value)} is {metric(gap)} below {theirs}, tolerance {setting(max_drop)})"
    elif gap > _EPSILON:
        phrase = f"PR-AUC {metric(value)} is {metric(gap)} below {theirs}), within the tolerance {setting(max_drop)}"
    elif gap < -_EPSILON:
        phrase = f"PR-AUC {metric(value)} is {metric(-gap)} above {theirs})"
    else:
        phrase = f"PR-AUC {metric(value)} equals {theirs})"
    return _Outcome(Check(name=CHAMPION_DROP, value=value, limit=limit, passed=passed), phrase)


def _reason(outcomes: list[_Outcome], has_champion: bool) -> str:
    failed = [outcome.phrase for outcome in outcomes if not outcome.check.passed]
    if failed:
        return "; ".join(failed)
    phrases = [outcome.phrase for outcome in outcomes]
    if has_champion:
        return f"All checks passed: {', '.join(phrases[:-1])}, and {phrases[-1]}"
    return f"All checks passed: {' and '.join(phrases)}; there is no champion to compare with"


def champion_of(report: EvaluationReport, champion: ChampionRef, uri: str) -> ChampionScores | None:
    """The champion's scores, checked against what the state machine found.

    A champion the state machine found but the report leaves out would silently skip
    the comparison, so any disagreement is an error rather than a guess.
    """
    scores = report.champion
    if champion.found and scores is None:
        raise ReportError(
            f"evaluation report {uri} has no champion scores, but the run found champion version "
            f"{champion.version}: the Evaluate step did not score it, so the comparison cannot be made"
        )
    if not champion.found and scores is not None:
        raise ReportError(
            f"evaluation report {uri} scores a champion (version {scores.package_version}), "
            "but the run found no Approved version to compare with"
        )
    if scores is not None and champion.version is not None and str(champion.version) != scores.package_version:
        raise ReportError(
            f"evaluation report {uri} scores champion version {scores.package_version}, "
            f"but the run's champion is version {champion.version}"
        )
    return scores


def decide(report: EvaluationReport, settings: GateSettings, champion: ChampionScores | None, uri: str) -> GateResult:
    """Apply every check and turn the outcome into a decision and approval status."""
    challenger = report.challenger.metrics
    outcomes = [
        _floor(PR_AUC_FLOOR, "PR-AUC", challenger.pr_auc, settings.min_pr_auc),
        _floor(ROC_AUC_FLOOR, "ROC-AUC", challenger.roc_auc, settings.min_roc_auc),
    ]
    if champion is not None:
        outcomes.append(_against_champion(challenger.pr_auc, champion, settings.max_drop))
    passed = all(outcome.check.passed for outcome in outcomes)
    decision, status = _PASSED[settings.approval] if passed else _FAILED
    return GateResult(
        passed=passed,
        decision=decision,
        approval_status=status,
        reason=_reason(outcomes, champion is not None),
        checks=[outcome.check for outcome in outcomes],
        challenger=ScoreSummary.of(report.challenger),
        champion=(
            ChampionSummary(version=champion.package_version, **ScoreSummary.of(champion).model_dump())
            if champion is not None
            else None
        ),
        mlflow_run_id=report.challenger.mlflow_run_id or "none",
        mlflow=report.mlflow.describe(),
        model_version=report.challenger.model_version,
        report_uri=uri,
    )


def run_gate(event: GateEvent, s3: Any) -> GateResult:
    """Read the report named in ``event`` and decide.

    Raises :class:`ReportError` when the report is missing, malformed, or disagrees with
    the run about the champion.
    """
    uri = report_location(event.report_uri)
    report = read_report(s3, uri)
    return decide(report, event.settings, champion_of(report, event.champion, uri), uri)
