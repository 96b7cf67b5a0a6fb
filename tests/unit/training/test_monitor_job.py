# ruff: noqa: N806 - X is the feature matrix, as in scikit-learn
"""``python -m training.monitor`` under the Processing contract: a real model, real capture files, a real process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import joblib
import numpy as np
import pytest
from moto import mock_aws

from tests.unit.training.drift_support import capture_record, csv_body, pack_model, train_small_model, write_capture
from training import monitor
from training.feature_schema import FEATURE_NAMES
from training.synthetic import generate

REPO = Path(__file__).resolve().parents[3]
#: The features ``training.synthetic`` moves at drift 2 (state_mismatch follows distance only faintly).
SHIFTED = {"amount", "distance_from_home_km", "transactions_last_24h", "is_online", "merchant_risk_score"}
UNMOVED = {"hour_of_day", "account_age_days", "state_mismatch"}
IN_WINDOW, BEFORE_WINDOW = "2026-11-24T12:00:00Z", "2026-11-23T12:00:00Z"
WINDOW = {"WINDOW_START": "2026-11-24T00:00:00Z", "WINDOW_END": "2026-11-25T00:00:00Z"}


@dataclass(frozen=True)
class LiveModel:
    archive: Path
    model: Any


@pytest.fixture(scope="module")
def live_model(tmp_path_factory: pytest.TempPathFactory) -> LiveModel:
    root = tmp_path_factory.mktemp("monitor-model")
    model_dir = train_small_model(root)
    return LiveModel(
        pack_model(model_dir, root / "model.tar.gz"), joblib.load(model_dir.parent / "output/data/model.joblib")
    )


def _layout(root: Path, live: LiveModel) -> Path:
    (root / "input/model").mkdir(parents=True)
    (root / "input/model/model.tar.gz").write_bytes(live.archive.read_bytes())
    return root


def _traffic(root: Path, live: LiveModel, *, rows: int, drift: float, seed: int, at: str = IN_WINDOW) -> np.ndarray:
    """Capture ``rows`` scored rows, three per request, request ``k`` keyed ``<seed>-<k>``; return their labels."""
    X, y = generate(rows, seed=seed, drift=drift)
    probabilities = live.model.predict_proba(X)[:, 1]
    records = [
        capture_record(csv_body(X[i : i + 3]), probabilities[i : i + 3], at=at, event_id=f"{seed}-{i // 3}")
        for i in range(0, rows, 3)
    ]
    write_capture(root / "input/capture", records, hour=at[:13].replace("-", "/").replace("T", "/"))
    return y


def _run(root: Path, **extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "METRICS_"))}
    env |= {"PYTHONPATH": str(REPO), "PROCESSING_DIR": str(root), "MIN_RECORDS": "200", "ENVIRONMENT": "dev"}
    env |= {"ENDPOINT_NAME": "fraud-detector-dev", "MODEL_VERSION": "3", "OMP_NUM_THREADS": "1", **WINDOW, **extra}
    done = subprocess.run(
        [sys.executable, "-m", "training.monitor"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((root / "output/drift_report.json").read_text())
    return done, report, (root / "output/drift_report.html").read_text()


def test_shifted_traffic_is_drift_naming_the_shifted_features(tmp_path: Path, live_model: LiveModel) -> None:
    # Given 600 rows of traffic from the shifted distribution, labels for all of them, and
    # same-distribution traffic from the day before the window
    root = _layout(tmp_path, live_model)
    y = _traffic(root, live_model, rows=600, drift=2.0, seed=21)
    _traffic(root, live_model, rows=300, drift=0.0, seed=5, at=BEFORE_WINDOW)
    labels = "".join(f"21-{i // 3}:{i % 3},{int(label)}\n" for i, label in enumerate(y))
    (root / "input/labels").mkdir(parents=True)
    (root / "input/labels/batch-1.csv").write_text("event_id,is_fraud\n" + labels)
    # When the job runs as a process
    done, report, page = _run(root)
    # Then it reports drift in exactly the shifted features, over the window's rows only
    assert report["status"] == "drift"
    assert set(report["drifted_features"]) >= SHIFTED
    assert not UNMOVED & set(report["drifted_features"])
    assert (report["records"], report["requests"], report["skipped"]) == (600, 200, {"outside_window": 100})
    assert report["model_version"] == "3"
    assert report["prediction"]["live_count"] == 600  # answers named the archive's own version
    assert report["summary"] in done.stdout
    # And the labels are joined row by row and scored at the model's threshold
    truth = report["ground_truth"]
    assert truth["labelled"] == 600
    assert truth["precision"] is not None
    assert truth["recall"] is not None
    assert truth["positives"] == int(y.sum())
    # And the page has one plot per feature and one for the probability
    assert page.count("<svg") == len(FEATURE_NAMES) + 1
    assert report["metrics"] == {"status": "off"}


def test_same_distribution_traffic_is_no_drift(tmp_path: Path, live_model: LiveModel) -> None:
    # Given 600 rows like the training data in the window, and shifted traffic before it
    root = _layout(tmp_path, live_model)
    _traffic(root, live_model, rows=600, drift=0.0, seed=22)
    _traffic(root, live_model, rows=600, drift=3.0, seed=6, at=BEFORE_WINDOW)
    # When the job runs
    _, report, _ = _run(root)
    # Then nothing drifted, and without labels there is no ground truth
    assert report["status"] == "no_drift", report["summary"]
    assert report["drifted_features"] == []
    assert report["ground_truth"] is None


def test_too_little_traffic_is_insufficient_data(tmp_path: Path, live_model: LiveModel) -> None:
    # Given 30 heavily shifted rows against a minimum of 200
    root = _layout(tmp_path, live_model)
    _traffic(root, live_model, rows=30, drift=3.0, seed=23)
    # When the job runs
    _, report, page = _run(root)
    # Then it says so, never "no drift", and calls no feature drifted
    assert report["status"] == "insufficient_data"
    assert report["drifted_features"] == []
    assert (report["records"], report["min_records"]) == (30, 200)
    assert "insufficient data" in page


def _env(root: Path, **extra: str) -> dict[str, str]:
    return {"PROCESSING_DIR": str(root), "MIN_RECORDS": "10", "ENVIRONMENT": "dev", **extra}


def test_an_archive_without_a_baseline_fails_with_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a model trained before baselines existed
    (tmp_path / "input/model").mkdir(parents=True)
    with tarfile.open(tmp_path / "input/model/model.tar.gz", "w:gz") as tar:
        blob = json.dumps({"model_version": "old", "threshold": 0.5}).encode()
        info = tarfile.TarInfo("model.json")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    # Then the job fails, its last line saying why
    assert monitor.main(_env(tmp_path)) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("ERROR: the live model archive model.tar.gz has no baseline.json")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MIN_RECORDS", "many"), ("P_VALUE", "2"), ("WINDOW_START", "yesterday"), ("PSI_THRESHOLD", "-1")],
)
def test_a_malformed_setting_is_named(
    tmp_path: Path, live_model: LiveModel, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    root = _layout(tmp_path, live_model)
    assert monitor.main(_env(root, **{variable: value})) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"ERROR: {variable}=")


def test_a_missing_model_archive_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert monitor.main(_env(tmp_path)) == 1
    assert "needs model.tar.gz" in capsys.readouterr().err


@pytest.fixture
def local_cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def test_with_a_namespace_the_metrics_are_published(
    tmp_path: Path, live_model: LiveModel, local_cloudwatch: Any
) -> None:
    root = _layout(tmp_path, live_model)
    _traffic(root, live_model, rows=30, drift=0.0, seed=24)
    report = monitor.run(_env(root, METRICS_NAMESPACE="FraudPipeline/Drift"))
    assert report["metrics"]["status"] == "published"
    published = local_cloudwatch.list_metrics(Namespace="FraudPipeline/Drift", MetricName="CapturedRecords")
    assert published["Metrics"][0]["Dimensions"] == [{"Name": "Environment", "Value": "dev"}]


def test_a_cloudwatch_failure_is_reported_but_does_not_fail_the_job(
    tmp_path: Path, live_model: LiveModel, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*_: Any, **__: Any) -> dict[str, Any]:
        raise RuntimeError("AccessDenied on cloudwatch:PutMetricData")

    monkeypatch.setattr(monitor.cloudwatch, "publish", refuse)
    root = _layout(tmp_path, live_model)
    _traffic(root, live_model, rows=30, drift=0.0, seed=25)
    assert monitor.main(_env(root, METRICS_NAMESPACE="FraudPipeline/Drift")) == 0
    report = json.loads((root / "output/drift_report.json").read_text())
    assert report["metrics"]["status"] == "failed"
    assert "AccessDenied" in report["metrics"]["reason"]
    assert "WARNING: drift metrics not published" in capsys.readouterr().err
