# ruff: noqa: N806 - X is the feature matrix, as in scikit-learn
"""What the drift job hands on: the decision, ground truth, CloudWatch metrics and the HTML page."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import numpy as np
import pytest
from moto import mock_aws

from tests.unit.training.drift_support import capture_record, csv_body, write_capture
from training.baseline import build_baseline
from training.drift import cloudwatch, html_report
from training.drift.capture import CapturedRows, read_capture
from training.drift.ground_truth import Floors, LabelsError, ground_truth, read_labels
from training.drift.report import build_report, scored_by_model
from training.drift.settings import MonitorSettings
from training.feature_schema import FEATURE_NAMES
from training.synthetic import generate

X_TRAIN, _ = generate(3_000, seed=1)
BASELINE = build_baseline(X_TRAIN, np.random.default_rng(0).beta(1, 20, 500))
METADATA = {"model_version": "train-job-1", "threshold": 0.5}


def _captured(tmp_path: Path, drift: float, rows: int, probability: float = 0.05) -> CapturedRows:
    X, _ = generate(rows, seed=2, drift=drift)
    write_capture(
        tmp_path,
        [capture_record(csv_body(X[i : i + 10]), [probability] * len(X[i : i + 10])) for i in range(0, rows, 10)],
    )
    return read_capture(tmp_path)


def _report(captured: CapturedRows, truth: dict[str, Any] | None = None, **settings: Any) -> dict[str, Any]:
    chosen = MonitorSettings(environment="dev", **settings)
    eligible = scored_by_model(captured, {"train-job-1"})
    return build_report(captured, BASELINE, METADATA, chosen, truth, eligible)


def test_drift_names_the_shifted_features(tmp_path: Path) -> None:
    report = _report(_captured(tmp_path, drift=2.0, rows=600))
    assert report["status"] == "drift"
    assert {"amount", "merchant_risk_score"} <= set(report["drifted_features"])
    assert "hour_of_day" not in report["drifted_features"]
    assert report["summary"].startswith(f"drift in {len(report['drifted_features'])} of 8 features")


def test_too_few_records_is_insufficient_data_never_no_drift(tmp_path: Path) -> None:
    # Given 50 heavily shifted rows and a minimum of 200
    report = _report(_captured(tmp_path, drift=3.0, rows=50), min_records=200)
    # Then the status says so, and no feature is called drifted although the figures are there
    assert report["status"] == "insufficient_data"
    assert report["drifted_features"] == []
    assert all(f["psi"] is not None for f in report["features"])
    assert "fewer than the 200 needed" in report["summary"]


def test_min_drifted_features_raises_the_bar(tmp_path: Path) -> None:
    report = _report(_captured(tmp_path, drift=2.0, rows=600), min_drifted_features=8)
    assert report["drifted_features"]
    assert report["status"] == "no_drift"


def test_another_models_predictions_are_left_out_of_the_probability(tmp_path: Path) -> None:
    X, _ = generate(20, seed=3)
    write_capture(tmp_path, [capture_record(csv_body(X), [0.1] * 20, model_version="canary-model")])
    report = _report(read_capture(tmp_path), min_records=1)
    assert report["prediction"]["live_count"] == 0
    assert report["prediction_rows_other_model"] == 20
    assert report["features"][0]["live_count"] == 20


def _labelled(tmp_path: Path, labels: str) -> tuple[CapturedRows, dict[str, Any]]:
    # Four single-row requests scored 0.9, 0.8, 0.3, 0.1 and one request of two rows scored 0.7, 0.2
    X, _ = generate(6, seed=4)
    records = [
        capture_record(csv_body(X[i : i + 1]), [p], event_id=f"e{i}") for i, p in enumerate([0.9, 0.8, 0.3, 0.1])
    ]
    records.append(capture_record(csv_body(X[4:6]), [0.7, 0.2], event_id="multi"))
    write_capture(tmp_path / "capture", records)
    (tmp_path / "labels/2026").mkdir(parents=True)
    (tmp_path / "labels/2026/day.csv").write_text(labels)
    captured = read_capture(tmp_path / "capture")
    found = read_labels(tmp_path / "labels")
    assert found is not None
    truth = ground_truth(captured, found, scored_by_model(captured, {"train-job-1"}), 0.5, Floors(0.95, 0.5))
    return captured, truth


def test_labels_join_by_event_id_and_row_index_and_score_at_the_threshold(tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    # Given labels for three single-row requests (one by its row key) and both rows of the multi-row one
    labels = "event_id,is_fraud,note\ne0,1,x\ne1,0,\ne2:0,1,\nmulti:0,1,\nmulti:1,0,\nunknown,1,\ne3,maybe,\n"
    _, truth = _labelled(tmp_path, labels)
    # Then five rows are labelled; at 0.5, predicted positives are e0 (fraud), e1 (not), multi:0 (fraud)
    assert truth["labelled"] == 5
    assert truth["precision"] == pytest.approx(2 / 3)
    assert truth["recall"] == pytest.approx(2 / 3)  # e2 (0.3) is fraud and missed
    assert truth["roc_auc"] == pytest.approx(roc_auc_score([1, 0, 1, 1, 0], [0.9, 0.8, 0.3, 0.7, 0.2]))
    assert truth["pr_auc"] is not None
    assert truth["labels_invalid"] == 1
    # And the ROC-AUC under its 0.95 floor is named
    assert truth["below_floor"] == ["roc_auc"]


def test_labels_of_one_class_give_no_auc(tmp_path: Path) -> None:
    _, truth = _labelled(tmp_path, "event_id,is_fraud\ne0,1\ne1,1\n")
    assert (truth["labelled"], truth["precision"], truth["recall"]) == (2, 1.0, 1.0)
    assert (truth["roc_auc"], truth["pr_auc"], truth["below_floor"]) == (None, None, [])


def test_a_labels_file_without_the_columns_is_refused(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("id,label\na,1\n")
    with pytest.raises(LabelsError, match="event_id and is_fraud"):
        read_labels(tmp_path)


def test_no_label_files_means_no_ground_truth(tmp_path: Path) -> None:
    assert read_labels(tmp_path / "labels") is None


@pytest.fixture
def cloudwatch_client() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def test_metrics_are_published_per_feature_and_overall(tmp_path: Path, cloudwatch_client: Any) -> None:
    # Given a drift report with ground truth
    _, truth = _labelled(tmp_path, "event_id,is_fraud\ne0,1\ne1,0\ne2,1\n")
    report = _report(_captured(tmp_path / "more", drift=2.0, rows=400), truth)
    # When it is published in chunks of 7 datums
    sent = cloudwatch.publish(
        report, namespace="FraudPipeline/Drift", environment="dev", client=cloudwatch_client, chunk=7
    )
    # Then every datum arrived, in ceil(n / 7) calls
    assert sent["calls"] == -(-sent["datums"] // 7)
    metrics = cloudwatch_client.list_metrics(Namespace="FraudPipeline/Drift")["Metrics"]
    names = {(m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in metrics}
    for feature in [*FEATURE_NAMES, "probability"]:
        for metric in ("PSI", "PValue", "MissingRate", "Drifted"):
            assert (metric, (("Environment", "dev"), ("Feature", feature))) in names
    for metric in ("CapturedRecords", "DriftedFeatures", "InsufficientData", "LivePrecision", "LiveRecall"):
        assert (metric, (("Environment", "dev"),)) in names
    assert len(metrics) == sent["datums"]


def test_values_the_report_does_not_have_are_not_sent() -> None:
    report = {
        "status": "insufficient_data",
        "records": 0,
        "drifted_features": [],
        "features": [{"name": "amount", "psi": None, "p_value": None, "missing_rate": 0.0, "drifted": False}],
        "prediction": None,
        "ground_truth": {"precision": None, "recall": None, "roc_auc": None, "pr_auc": None},
    }
    data = cloudwatch.metric_data(report, "prod")
    assert [d["MetricName"] for d in data] == [
        "MissingRate",
        "Drifted",
        "CapturedRecords",
        "DriftedFeatures",
        "InsufficientData",
    ]
    assert data[-1]["Value"] == 1.0


def test_the_html_page_draws_one_plot_per_column_and_highlights_drift(tmp_path: Path) -> None:
    report = _report(_captured(tmp_path, drift=2.0, rows=600))
    page = html_report.render(report)
    # One inline SVG per feature and one for the probability; nothing fetched from anywhere
    assert page.count("<svg") == len(FEATURE_NAMES) + 1
    assert "<script" not in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    # Drifted columns are highlighted in the table and framed in the plots
    drifted_rows = re.findall(r'<tr class="drifted"><td>([a-z0-9_]+)</td>', page)
    assert drifted_rows == report["drifted_features"]
    assert page.count('<figure class="drifted">') == len(report["drifted_features"]) + report["prediction"]["drifted"]
    assert report["summary"] in page


def test_the_html_page_escapes_what_it_shows() -> None:
    column = {
        "name": "<b>x</b>",
        "test": "ks",
        "psi": None,
        "p_value": None,
        "drifted": False,
        "missing_rate": 0.0,
        "invalid_rate": 0.0,
        "live_count": 0,
        "bins": {"edges": [1.0], "baseline_counts": [5, 5], "live_counts": [0, 0]},
    }
    report = {"status": "no_drift", "summary": "<script>", "records": 0, "min_records": 1, "features": [column]}
    page = html_report.render(report)
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "<b>x</b>" not in page
    assert "no live values" in page


def test_the_window_is_reported_in_utc(tmp_path: Path) -> None:
    start = datetime.datetime(2026, 11, 24, tzinfo=datetime.UTC)
    report = _report(_captured(tmp_path, 0.0, 10), window_start=start, window_end=start + datetime.timedelta(days=1))
    assert report["window"] == {"start": "2026-11-24T00:00:00Z", "end": "2026-11-25T00:00:00Z"}
