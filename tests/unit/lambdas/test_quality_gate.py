"""``quality_gate``: the evaluation report is checked against the floors and the champion, and decided on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws

from lambdas.common.settings import ConfigurationError
from lambdas.quality_gate import app
from lambdas.quality_gate.logic import (
    CHAMPION_DROP,
    PR_AUC_FLOOR,
    ROC_AUC_FLOOR,
    GatePayloadError,
    parse_event,
    run_gate,
)
from lambdas.quality_gate.models import GateResult
from lambdas.quality_gate.report import ReportError
from tests.unit.lambdas.conftest import FakeLambdaContext, load_event

BUCKET = "fraud-artifacts-dev"
REPORT_KEY = "evaluations/dev-20261123120000-1a2b3c4d/evaluation.json"
REPORT_URI = f"s3://{BUCKET}/{REPORT_KEY}"


@dataclass
class World:
    """A moto artifacts bucket the Evaluate step wrote its report to."""

    s3: Any

    def put_report(self, report: dict[str, Any] | str, key: str = REPORT_KEY) -> str:
        body = report if isinstance(report, str) else json.dumps(report)
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
        return f"s3://{BUCKET}/{key}"

    def gate(self, report: dict[str, Any], **payload_changes: Any) -> GateResult:
        """Write ``report``, then run the gate on the sample payload changed by ``payload_changes``."""
        self.put_report(report)
        payload = load_event("quality_gate")
        for key, value in payload_changes.items():
            if isinstance(value, dict) and isinstance(payload.get(key), dict):
                payload[key].update(value)
            else:
                payload[key] = value
        return run_gate(parse_event(payload), self.s3)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("ENVIRONMENT", "dev")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        yield World(s3)


def report(
    *, pr_auc: float = 0.412, roc_auc: float = 0.931, champion_pr_auc: float | None = 0.31, mlflow: str | None = "run-1"
) -> dict[str, Any]:
    """The sample report with the challenger's (and champion's) figures replaced; no champion when None."""
    document = load_event("evaluation_report")
    document["challenger"]["metrics"].update(pr_auc=pr_auc, roc_auc=roc_auc)
    document["challenger"]["mlflow_run_id"] = mlflow
    if champion_pr_auc is None:
        document["champion"] = None
    else:
        document["champion"]["metrics"]["pr_auc"] = champion_pr_auc
    return document


NO_CHAMPION = {"found": False}


# --- the checks ---------------------------------------------------------------------------------------


def test_a_challenger_passing_every_check_is_approved_where_approval_is_automatic(world: World) -> None:
    # Given a challenger above both floors and better than the champion, in an auto-approving environment
    # When the gate decides
    result = world.gate(report())
    # Then it passes, is Approved, and the reason gives every figure
    assert (result.passed, result.decision, result.approval_status) == (True, "approved", "Approved")
    assert result.reason == (
        "All checks passed: PR-AUC 0.412 meets the floor 0.20, ROC-AUC 0.931 meets the floor 0.70, "
        "and PR-AUC 0.412 is 0.102 above the champion's 0.310 (version 2)"
    )
    assert [(c.name, c.value, c.limit, c.passed) for c in result.checks] == [
        (PR_AUC_FLOOR, 0.412, 0.2, True),
        (ROC_AUC_FLOOR, 0.931, 0.7, True),
        (CHAMPION_DROP, 0.412, 0.26, True),
    ]


def test_a_passing_challenger_awaits_approval_where_approval_is_manual(world: World) -> None:
    # Given prod-like settings: approval is manual
    # When a challenger that passes every check is gated
    result = world.gate(report(), settings={"approval": "manual"})
    # Then it is registered PendingManualApproval, not Approved
    assert (result.passed, result.decision, result.approval_status) == (True, "pending", "PendingManualApproval")


def test_pr_auc_below_its_floor_rejects_the_challenger(world: World) -> None:
    # Given a challenger whose PR-AUC misses the floor, though its ROC-AUC is fine and it beats the champion
    # When the gate decides
    result = world.gate(report(pr_auc=0.15, champion_pr_auc=0.12))
    # Then it is Rejected, and the reason names only the failed check, with figures
    assert (result.passed, result.decision, result.approval_status) == (False, "rejected", "Rejected")
    assert result.reason == "PR-AUC 0.150 is below the floor 0.20"
    assert [c.passed for c in result.checks] == [False, True, True]


def test_roc_auc_below_its_floor_rejects_the_challenger(world: World) -> None:
    # Given a challenger with a good PR-AUC and a ROC-AUC below the floor
    result = world.gate(report(roc_auc=0.65))
    # Then it is Rejected for that reason alone
    assert result.decision == "rejected"
    assert result.reason == "ROC-AUC 0.650 is below the floor 0.70"


def test_a_challenger_worse_than_the_champion_beyond_the_tolerance_is_rejected(world: World) -> None:
    # Given a challenger above both floors but 0.09 below the champion's PR-AUC (tolerance 0.05)
    result = world.gate(report(pr_auc=0.22))
    # Then it is Rejected, and the reason gives both figures, the gap and the tolerance
    assert result.decision == "rejected"
    assert result.reason == "PR-AUC 0.220 is 0.090 below the champion's 0.310 (version 2, tolerance 0.05)"
    assert result.checks[-1].limit == 0.26


def test_a_drop_of_exactly_the_tolerance_still_passes(world: World) -> None:
    # Given a challenger exactly max_drop below the champion (0.31 - 0.05 is not exact in floating point)
    result = world.gate(report(pr_auc=0.26))
    # Then it passes, and the reason says it is within the tolerance
    assert result.passed is True
    assert "PR-AUC 0.260 is 0.050 below the champion's 0.310 (version 2), within the tolerance 0.05" in result.reason


def test_the_reason_names_every_failed_check(world: World) -> None:
    # Given a model trained on shuffled labels: worse on every check
    result = world.gate(report(pr_auc=0.021, roc_auc=0.49))
    # Then the one sentence lists each failure with its figures
    assert result.reason == (
        "PR-AUC 0.021 is below the floor 0.20; ROC-AUC 0.490 is below the floor 0.70; "
        "PR-AUC 0.021 is 0.289 below the champion's 0.310 (version 2, tolerance 0.05)"
    )


def test_a_failing_challenger_is_rejected_even_where_approval_is_manual(world: World) -> None:
    # Given manual approval: nobody should be asked to approve a model that failed the gate
    result = world.gate(report(pr_auc=0.05), settings={"approval": "manual"})
    # Then it is Rejected outright
    assert (result.decision, result.approval_status) == ("rejected", "Rejected")


def test_a_value_just_below_the_floor_is_shown_with_enough_digits_to_see_it(world: World) -> None:
    result = world.gate(report(pr_auc=0.1999, champion_pr_auc=None), champion=NO_CHAMPION)
    assert result.reason == "PR-AUC 0.1999 is below the floor 0.20"


def test_without_a_champion_only_the_floors_apply(world: World) -> None:
    # Given the first run of an environment: no Approved version yet
    result = world.gate(report(champion_pr_auc=None), champion=NO_CHAMPION)
    # Then two checks run, the result has no champion, and the reason says there was none
    assert [c.name for c in result.checks] == [PR_AUC_FLOOR, ROC_AUC_FLOOR]
    assert result.champion is None
    assert result.reason.endswith("; there is no champion to compare with")


def test_the_result_carries_both_models_figures_and_the_lineage(world: World) -> None:
    result = world.gate(report())
    assert result.challenger.model_dump() == {
        "pr_auc": 0.412,
        "roc_auc": 0.931,
        "precision": 0.55,
        "recall": 0.7,
        "f1": 0.616,
        "threshold": 0.41,
    }
    assert result.champion is not None
    assert (result.champion.version, result.champion.pr_auc, result.champion.threshold) == ("2", 0.31, 0.38)
    assert result.mlflow_run_id == "run-1"
    assert result.model_version == "dev-20261123120000-1a2b3c4d"
    assert result.report_uri == REPORT_URI


def test_a_run_without_mlflow_tracking_reports_none(world: World) -> None:
    result = world.gate(report(mlflow=None))
    assert result.mlflow_run_id == "none"


def test_a_folder_uri_means_the_report_inside_it(world: World) -> None:
    # Given the run's evaluation folder rather than the report's own URI
    result = world.gate(report(), report_uri=f"s3://{BUCKET}/evaluations/dev-20261123120000-1a2b3c4d/")
    # Then the gate reads evaluation.json there, and reports the object's URI
    assert result.report_uri == REPORT_URI


# --- a report the gate cannot trust -------------------------------------------------------------------


def test_a_missing_report_is_an_error_naming_the_object(world: World) -> None:
    payload = parse_event(load_event("quality_gate"))
    with pytest.raises(ReportError, match=rf"evaluation report {REPORT_URI} does not exist"):
        run_gate(payload, world.s3)


def test_a_malformed_report_names_each_problem_and_where(world: World) -> None:
    # Given a report with a metric above 1 and the test row count missing
    document = report()
    document["challenger"]["metrics"]["pr_auc"] = 1.7
    del document["test"]["rows"]
    # When the gate reads it
    # Then the error names the object, each field path and the rule, and nothing of pydantic's internals
    with pytest.raises(ReportError) as caught:
        world.gate(document)
    message = str(caught.value)
    assert message.startswith(f"evaluation report {REPORT_URI} is invalid: ")
    assert "test.rows: Field required" in message
    assert "challenger.metrics.pr_auc: Input should be less than or equal to 1 (got 1.7)" in message
    assert "pydantic" not in message
    assert "\n" not in message


def test_a_report_that_is_not_json_is_an_error(world: World) -> None:
    world.put_report("<html>not a report</html>")
    with pytest.raises(ReportError, match=r"is not valid JSON"):
        run_gate(parse_event(load_event("quality_gate")), world.s3)


def test_a_report_of_another_schema_version_is_refused(world: World) -> None:
    document = report()
    document["schema_version"] = 2
    with pytest.raises(ReportError, match=r"has schema_version 2; this gate reads schema_version 1"):
        world.gate(document)


def test_a_nan_metric_is_refused(world: World) -> None:
    # Given ROC-AUC undefined (a test set without positives gives NaN)
    world.put_report(json.dumps(report()).replace("0.931", "NaN"))
    with pytest.raises(ReportError, match=r"challenger\.metrics\.roc_auc"):
        run_gate(parse_event(load_event("quality_gate")), world.s3)


def test_a_champion_found_but_not_scored_is_an_error_not_a_skipped_check(world: World) -> None:
    # Given the run found champion version 2 but the report scored no champion
    # When the gate decides
    # Then it refuses: skipping the comparison could let a worse model through
    with pytest.raises(ReportError, match=r"has no champion scores, but the run found champion version 2"):
        world.gate(report(champion_pr_auc=None))


def test_a_report_scoring_another_champion_is_an_error(world: World) -> None:
    with pytest.raises(ReportError, match=r"scores champion version 2, but the run's champion is version 5"):
        world.gate(report(), champion={"version": "5"})


def test_a_report_scoring_a_champion_the_run_did_not_find_is_an_error(world: World) -> None:
    with pytest.raises(ReportError, match=r"but the run found no Approved version"):
        world.gate(report(), champion=NO_CHAMPION)


def test_models_scored_on_different_data_are_refused(world: World) -> None:
    # Given a champion confusion matrix that counts other rows than the test data has
    document = report()
    document["champion"]["confusion_matrix"]["tn"] += 100
    with pytest.raises(ReportError, match=r"champion\.confusion_matrix counts 700 rows and 12 positives"):
        world.gate(document)


# --- the handler --------------------------------------------------------------------------------------


def test_handler_returns_the_contract_document_and_counts_the_decision(
    world: World, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the report and the state machine's payload
    world.put_report(report())
    # When the handler is invoked
    result = app.handler(load_event("quality_gate"), lambda_context)
    # Then it returns plain JSON with exactly the contract's keys
    assert json.loads(json.dumps(result)) == result
    assert set(result) == {
        "passed",
        "decision",
        "approval_status",
        "reason",
        "checks",
        "challenger",
        "champion",
        "mlflow_run_id",
        "mlflow",
        "model_version",
        "report_uri",
    }
    assert set(result["checks"][0]) == {"name", "value", "limit", "passed"}
    assert set(result["champion"]) == {"pr_auc", "roc_auc", "precision", "recall", "f1", "threshold", "version"}
    # And one GateDecisions metric, by environment and decision, is emitted
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    [decisions] = [m for m in emitted if "GateDecisions" in m]
    assert (decisions["environment"], decisions["decision"], decisions["GateDecisions"]) == ("dev", "approved", [1.0])


def test_handler_refuses_invalid_gate_settings_naming_the_key(world: World, lambda_context: FakeLambdaContext) -> None:
    payload = load_event("quality_gate")
    payload["settings"]["approval"] = "sometimes"
    del payload["settings"]["min_pr_auc"]
    with pytest.raises(GatePayloadError) as caught:
        app.handler(payload, lambda_context)
    assert "settings.approval: Input should be 'auto' or 'manual'" in str(caught.value)
    assert "settings.min_pr_auc: Field required" in str(caught.value)


def test_handler_rejects_a_missing_environment_variable(
    world: World, lambda_context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ENVIRONMENT")
    with pytest.raises(ConfigurationError, match="ENVIRONMENT"):
        app.handler(load_event("quality_gate"), lambda_context)


def test_the_evaluations_tracking_status_reaches_the_result(world: World) -> None:
    document = report(mlflow=None)
    document["mlflow"] = {"status": "unavailable", "reason": "connection refused"}
    result = world.gate(document)
    assert result.mlflow == "unavailable (connection refused)"
    assert result.mlflow_run_id == "none"
