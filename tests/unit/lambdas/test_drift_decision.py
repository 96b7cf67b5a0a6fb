"""``drift_decision``: drift starts one retraining run, a second within the cool-down is held back, and
insufficient data or no drift never starts one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws

from lambdas.drift_decision import app
from tests.unit.lambdas.conftest import ACCOUNT, FakeLambdaContext

ARTIFACTS = "fraud-dev-artifacts"
#: moto stamps executions with the wall clock, so drift runs are placed relative to it.
NOW = datetime.now(UTC).replace(microsecond=0)
DEFINITION = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}})


def _report(status: str, drifted: list[str], records: int = 800) -> dict[str, Any]:
    features = [
        {
            "name": name,
            "psi": 0.4 if name in drifted else 0.01,
            "test": "ks",
            "statistic": 0.3,
            "p_value": 1e-6,
            "drifted": name in drifted,
            "missing_rate": 0.0,
            "invalid_rate": 0.0,
            "live_count": records,
            "baseline_count": 5000,
        }
        for name in ("amount", "merchant_risk", "hour")
    ]
    return {
        "status": status,
        "summary": f"{status} over {records} records",
        "records": records,
        "min_records": 200,
        "window": {"start": "2026-11-23T12:00:00Z", "end": "2026-11-24T12:00:00Z"},
        "model_version": "3",
        "drifted_features": drifted,
        "features": features,
        "prediction": {"name": "probability", "psi": 0.05, "p_value": 0.2, "drifted": False},
        "ground_truth": None,
    }


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with mock_aws():
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(
            name="retraining", definition=DEFINITION, roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn"
        )["stateMachineArn"]
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=ARTIFACTS)
        for name, value in {
            "ENVIRONMENT": "dev",
            "RETRAINING_STATE_MACHINE_ARN": machine,
            "RETRAIN_COOLDOWN_HOURS": "24",
            "MIN_DRIFTED_FEATURES": "1",
            "POWERTOOLS_METRICS_NAMESPACE": "FraudPipeline",
        }.items():
            monkeypatch.setenv(name, value)
        yield {"sfn": sfn, "s3": s3, "machine": machine}


def _name(started: datetime) -> str:
    return f"{started:%Y%m%d%H%M%S}"


def _decide(aws: dict[str, Any], report: dict[str, Any], started: datetime = NOW) -> dict[str, Any]:
    """Write the job's report for a drift run started at ``started``, then run the decision."""
    job = f"fraud-dev-drift-{_name(started)}"
    aws["s3"].put_object(Bucket=ARTIFACTS, Key=f"drift-reports/{job}/drift_report.json", Body=json.dumps(report))
    run = {
        "job_name": job,
        "report_uri": f"s3://{ARTIFACTS}/drift-reports/{job}/",
        "started": started.isoformat(),
        "endpoint": "fraud-detector-dev",
        "model_version": "3",
        "window": {"start": (started - timedelta(hours=24)).isoformat(), "end": started.isoformat()},
        "outcome": "examine",
    }
    return app.handler({"run": run}, FakeLambdaContext())


def _executions(aws: dict[str, Any]) -> list[dict[str, Any]]:
    return aws["sfn"].list_executions(stateMachineArn=aws["machine"])["executions"]


def test_drift_starts_one_retraining_run_with_the_reason_and_the_report(aws: dict[str, Any]) -> None:
    # Given a report with drift in two features
    decision = _decide(aws, _report("drift", ["amount", "merchant_risk"]))
    # Then exactly one retraining execution started, named after the drift run, saying why
    (execution,) = _executions(aws)
    assert execution["name"] == f"drift-{_name(NOW)}"
    started_input = json.loads(aws["sfn"].describe_execution(executionArn=execution["executionArn"])["input"])
    assert started_input == {
        "trigger": "drift",
        "reason": "drift in amount, merchant_risk",
        "drift_report": f"s3://{ARTIFACTS}/drift-reports/fraud-dev-drift-{_name(NOW)}/drift_report.json",
    }
    # And the decision reports it, with the report's figures for the notification
    assert decision["status"] == "drift"
    assert decision["retraining"]["action"] == "started"
    assert decision["retraining"]["execution_arn"] == execution["executionArn"]
    assert decision["drifted_features"] == ["amount", "merchant_risk"]
    assert decision["report_html"].endswith(f"fraud-dev-drift-{_name(NOW)}/drift_report.html")
    assert decision["reason"] == "drift in amount, merchant_risk"


def test_a_retried_decision_does_not_start_a_second_run(aws: dict[str, Any]) -> None:
    _decide(aws, _report("drift", ["amount"]))
    again = _decide(aws, _report("drift", ["amount"]))
    assert len(_executions(aws)) == 1
    assert again["retraining"]["action"] == "started"


def test_a_second_drift_within_the_cooldown_is_rate_limited(aws: dict[str, Any]) -> None:
    # Given a drift-started run now
    _decide(aws, _report("drift", ["amount"]))
    # When drift is found again six hours later (cool-down 24 h)
    decision = _decide(aws, _report("drift", ["amount", "hour"]), started=NOW + timedelta(hours=6))
    # Then no second run starts, and the decision names the last drift run and when it started
    assert [e["name"] for e in _executions(aws)] == [f"drift-{_name(NOW)}"]
    retraining = decision["retraining"]
    assert retraining["action"] == "rate_limited"
    assert retraining["last_drift_run"]["name"] == f"drift-{_name(NOW)}"
    assert "rate limited, retraining not started" in retraining["reason"]
    assert f"last drift run drift-{_name(NOW)} at" in retraining["reason"]


def test_after_the_cooldown_drift_starts_a_run_again(aws: dict[str, Any]) -> None:
    _decide(aws, _report("drift", ["amount"]))
    # (moto stamps the first execution with the wall clock, about NOW: 25 h before the second drift run)
    decision = _decide(aws, _report("drift", ["amount"]), started=NOW + timedelta(hours=25))
    assert decision["retraining"]["action"] == "started"
    assert len(_executions(aws)) == 2


def test_runs_started_by_a_schedule_or_new_data_do_not_count_against_the_limit(aws: dict[str, Any]) -> None:
    aws["sfn"].start_execution(stateMachineArn=aws["machine"], name="scheduled-1", input="{}")
    decision = _decide(aws, _report("drift", ["amount"]))
    assert decision["retraining"]["action"] == "started"


def test_insufficient_data_starts_nothing_and_says_how_many_records(aws: dict[str, Any]) -> None:
    decision = _decide(aws, _report("insufficient_data", [], records=12))
    assert _executions(aws) == []
    assert decision["status"] == "insufficient_data"
    assert decision["reason"] == "12 records (need 200)"
    assert decision["retraining"]["action"] == "not_needed"


def test_no_drift_starts_nothing(aws: dict[str, Any]) -> None:
    decision = _decide(aws, _report("no_drift", []))
    assert _executions(aws) == []
    assert decision["status"] == "no_drift"
    assert decision["retraining"]["action"] == "not_needed"


def test_drift_in_fewer_features_than_the_tolerance_starts_nothing(
    aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIN_DRIFTED_FEATURES", "2")
    decision = _decide(aws, _report("drift", ["amount"]))
    assert _executions(aws) == []
    assert decision["retraining"]["action"] == "not_needed"
    assert "retraining needs 2" in decision["retraining"]["reason"]


def test_figures_the_monitor_could_not_compute_reach_the_state_machine_as_null(aws: dict[str, Any]) -> None:
    # Given a report with NaN and infinite figures (Python's json writes them, Step Functions cannot parse them)
    report = _report("no_drift", [])
    report["features"][0].update(psi=float("nan"), p_value=float("inf"))
    decision = _decide(aws, report)
    # Then the decision is strict JSON, with null for what could not be computed
    json.dumps(decision, allow_nan=False)
    assert decision["features"][0]["psi"] is None
    assert decision["features"][0]["p_value"] is None
