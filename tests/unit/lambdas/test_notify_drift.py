"""``notify`` kind ``drift``: what the drift job found, where its reports are, and what became of retraining."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lambdas.drift_decision.models import DriftDecision
from lambdas.notify.logic import build_notification
from lambdas.notify.models import NotifyEvent
from lambdas.prepare_drift.logic import notice
from lambdas.prepare_drift.models import DriftRun, Window
from tests.unit.lambdas.conftest import ACCOUNT, REGION

EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:drift:abc"
RETRAINING = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:retraining:drift-20261124120000"
REPORTS = "s3://fraud-stage-artifacts/drift-reports/fraud-stage-drift-20261124120000/"


def _feature(name: str, drifted: bool, psi: float, p_value: float) -> dict[str, Any]:
    return {
        "name": name,
        "psi": psi,
        "test": "ks",
        "statistic": 0.3,
        "p_value": p_value,
        "drifted": drifted,
        "missing_rate": 0.0,
        "invalid_rate": 0.01,
        "live_count": 900,
        "baseline_count": 5000,
    }


def _decision(**changes: Any) -> dict[str, Any]:
    """A document as ``drift_decision`` returns it (validated by its own model first)."""
    document: dict[str, Any] = {
        "status": "drift",
        "reason": "drift in amount, merchant_risk",
        "summary": "2 of 3 features drifted over 900 records",
        "endpoint": "fraud-detector-stage",
        "model_version": "3",
        "window": {"start": "2026-11-23T12:00:00Z", "end": "2026-11-24T12:00:00Z"},
        "records": 900,
        "min_records": 500,
        "drifted_features": ["amount", "merchant_risk"],
        "features": [
            _feature("hour", False, 0.01, 0.6),
            _feature("amount", True, 0.412, 1e-9),
            _feature("merchant_risk", True, 0.27, 0.0003),
        ],
        "prediction": _feature("probability", True, 0.31, 2e-5),
        "ground_truth": None,
        "report_json": f"{REPORTS}drift_report.json",
        "report_html": f"{REPORTS}drift_report.html",
        "job_name": "fraud-stage-drift-20261124120000",
        "retraining": {
            "action": "started",
            "reason": "retraining run drift-20261124120000 started: drift in amount, merchant_risk",
            "execution_name": "drift-20261124120000",
            "execution_arn": RETRAINING,
        },
    }
    document.update(changes)
    return DriftDecision.model_validate(document).model_dump(mode="json")


def _note(drift: dict[str, Any]) -> tuple[str, str]:
    event = NotifyEvent.model_validate({"kind": "drift", "execution_arn": EXECUTION, "state": {"drift": drift}})
    note = build_notification(event, "stage")
    return note.subject, note.message


def test_drift_names_the_features_and_that_retraining_started() -> None:
    subject, message = _note(_decision())
    assert subject == "[FraudPipeline stage] drift, retraining started: amount, merchant_risk"
    # The window, the records and the drifted features with their PSI and p-value, drifted first
    assert "Window:         2026-11-23T12:00:00Z to 2026-11-24T12:00:00Z" in message
    assert "Records:        900 captured (at least 500 needed)" in message
    rows = [line.split() for line in message.splitlines() if line.startswith("  ") and " ks " in f" {line} "]
    assert [row[0] for row in rows] == ["amount", "merchant_risk", "hour"]
    assert rows[0][:4] == ["amount", "DRIFTED", "0.412", "1.0e-09"]
    assert rows[2][:2] == ["hour", "ok"]
    # The probability's drift, where the reports are, and the retraining run started
    assert "Predicted probability: DRIFTED (PSI 0.310, p-value 2.0e-05)" in message
    assert f"Report (JSON):  {REPORTS}drift_report.json" in message
    assert f"Report (HTML):  {REPORTS}drift_report.html" in message
    assert "retraining run drift-20261124120000 started" in message
    assert RETRAINING in message
    assert "Ground truth:   no labels for this window" in message


def test_a_rate_limited_drift_says_so_and_names_the_last_drift_run() -> None:
    retraining = {
        "action": "rate_limited",
        "reason": "rate limited, retraining not started: at most one drift-triggered run per 24 h, "
        "last drift run drift-20261124060000 at 2026-11-24T06:00:00Z (RUNNING)",
        "last_drift_run": {"name": "drift-20261124060000", "started": "2026-11-24T06:00:00Z", "status": "RUNNING"},
    }
    subject, message = _note(_decision(drifted_features=["amount"], retraining=retraining))
    assert subject == "[FraudPipeline stage] drift, retraining rate-limited: amount"
    assert "last drift run drift-20261124060000 at 2026-11-24T06:00:00Z" in message


def test_no_drift_is_said_with_the_record_count() -> None:
    retraining = {"action": "not_needed", "reason": "no retraining: no drift"}
    features = [_feature("amount", False, 0.02, 0.5)]
    subject, message = _note(
        _decision(status="no_drift", drifted_features=[], features=features, prediction=None, retraining=retraining)
    )
    assert subject == "[FraudPipeline stage] no drift (900 records, version 3)"
    assert "Drifted:        none" in message


def test_insufficient_data_is_never_reported_as_no_drift() -> None:
    retraining = {"action": "not_needed", "reason": "no retraining: insufficient data"}
    subject, message = _note(
        _decision(
            status="insufficient_data",
            reason="12 records (need 500)",
            records=12,
            drifted_features=[],
            features=[],
            prediction=None,
            retraining=retraining,
        )
    )
    assert subject == "[FraudPipeline stage] insufficient data: 12 records (need 500)"
    assert "no drift" not in (subject + message).lower().replace("no retraining", "")
    assert "Records:        12 captured (at least 500 needed)" in message


def test_ground_truth_shows_precision_recall_and_warns_below_the_floor() -> None:
    truth = {
        "labelled": 340,
        "precision": 0.71,
        "recall": 0.52,
        "roc_auc": 0.61,
        "pr_auc": 0.04,
        "threshold": 0.5,
        "below_floor": ["roc_auc", "pr_auc"],
    }
    _, message = _note(_decision(ground_truth=truth))
    assert "340 labelled predictions, at threshold 0.500: precision 0.710, recall 0.520" in message
    assert "WARNING: below the quality gate's floor: roc_auc, pr_auc" in message


def test_the_notice_of_a_run_that_examined_nothing_says_why() -> None:
    # Given prepare_drift's notice when nothing serves
    run = DriftRun(
        run_id="fraud-dev-drift-20261124120000",
        outcome="insufficient_data",
        reason="no live model: endpoint fraud-detector-dev does not exist",
        trigger="schedule",
        environment="dev",
        endpoint="fraud-detector-dev",
        started="2026-11-24T12:00:00Z",
        job_name="fraud-dev-drift-20261124120000",
        window=Window(start="2026-11-23T12:00:00Z", end="2026-11-24T12:00:00Z"),
        live=None,
        model_version="",
        model_data_url=None,
        image_uri=None,
        capture_uri="s3://a/data-capture/fraud-detector-dev/",
        capture_found=False,
        labels_uri="s3://d/labels/",
        labels_found=False,
        report_uri="s3://a/drift-reports/x/",
        notice=None,
    )
    subject, message = _note(notice(run, "Nothing serves, so nothing was captured."))
    # Then it is reported as insufficient data with the reason, and no report is pointed to
    assert (
        subject == "[FraudPipeline stage] insufficient data: no live model: endpoint fraud-detector-dev does not exist"
    )
    assert "Nothing serves, so nothing was captured." in message
    assert "Report (JSON)" not in message
    assert "Retraining:     nothing was examined" in message


def test_a_skipped_run_says_what_it_waits_for() -> None:
    subject, _ = _note({"status": "skipped", "reason": "training image not built yet", "summary": "..."})
    assert subject == "[FraudPipeline stage] drift check skipped: training image not built yet"


def test_a_drift_notification_without_its_document_fails_loudly() -> None:
    with pytest.raises(ValidationError):
        _note({})


def test_a_long_list_of_drifted_features_never_cuts_the_outcome_from_the_subject() -> None:
    names = ["amount", "distance_from_home_km", "transactions_last_24h", "is_online", "merchant_risk_score"]
    features = [_feature(name, True, 0.9, 1e-20) for name in names]
    subject, _message = _note(_decision(drifted_features=names, features=features))
    assert subject.startswith("[FraudPipeline stage] drift, retraining started: amount, distance_from_home_km")
    assert len(subject) <= 100


def test_a_probability_not_compared_is_not_called_no_drift() -> None:
    prediction = {**_feature("probability", False, 0.0, 1.0), "psi": None, "p_value": None}
    _subject, message = _note(_decision(prediction=prediction))
    assert "Predicted probability: not compared" in message
