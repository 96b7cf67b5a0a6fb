"""``python -m training.train`` as SageMaker runs it: a subprocess in the container layout."""

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.process.conftest import HYPERPARAMETERS, TrainedJob, job_env, layout_job, run_training
from training.feature_schema import FEATURE_NAMES, MODEL_FILE, MODEL_METADATA_FILE
from training.metrics_contract import METRIC_DEFINITIONS

pytestmark = pytest.mark.slow


def test_the_job_succeeds_and_writes_the_model_artifact(trained_job: TrainedJob) -> None:
    # Then the job exits 0 and the model dir holds the model and its metadata
    assert trained_job.result.returncode == 0, trained_job.result.stderr
    assert (trained_job.model_dir / MODEL_FILE).is_file()
    metadata = json.loads((trained_job.model_dir / MODEL_METADATA_FILE).read_text())
    assert metadata["model_version"] == "fraud-train-test-1"
    assert metadata["feature_names"] == list(FEATURE_NAMES)
    assert 0.0 < metadata["threshold"] < 1.0
    assert not (trained_job.root / "output/failure").exists()


def test_every_metric_definition_captures_a_value_from_the_job_log(trained_job: TrainedJob) -> None:
    # When SageMaker's metric regexes run over the job's stdout
    captured = {d["Name"]: re.findall(d["Regex"], trained_job.result.stdout) for d in METRIC_DEFINITIONS}
    # Then each metric is captured exactly once, as a number within [0, 1]
    assert all(len(values) == 1 for values in captured.values()), captured
    assert all(0.0 <= float(values[0]) <= 1.0 for values in captured.values())


def test_evaluation_records_metrics_versions_and_row_counts(trained_job: TrainedJob) -> None:
    evaluation = json.loads((trained_job.root / "output/data/evaluation.json").read_text())
    assert evaluation["data_version"] == "data-v1"
    assert evaluation["code_version"] == "code-v1"
    assert evaluation["run_id"] == "unknown"
    assert evaluation["rows"] == {"train": 4_200, "validation": 900}
    assert evaluation["hyperparameters"]["max_iter"] == HYPERPARAMETERS["max_iter"]
    assert evaluation["metrics"]["validation:roc_auc"] > 0.7
    assert (trained_job.model_dir / "evaluation.json").read_text() == (
        trained_job.root / "output/data/evaluation.json"
    ).read_text()


def test_an_unknown_hyperparameter_fails_the_job_with_a_reason(tmp_path: Path, dataset: Path) -> None:
    # Given a job with a misspelt hyperparameter
    layout_job(tmp_path, dataset, {"learning_rte": "0.1"})
    # When it runs
    result = run_training(job_env(tmp_path))
    # Then it exits non-zero and the failure file names the hyperparameter
    assert result.returncode != 0
    assert "unknown hyperparameter(s) 'learning_rte'" in (tmp_path / "output/failure").read_text()
    assert not (tmp_path / "model" / MODEL_FILE).exists()


def test_an_invalid_hyperparameter_fails_the_job_with_a_reason(tmp_path: Path, dataset: Path) -> None:
    layout_job(tmp_path, dataset, {"learning_rate": "abc"})
    result = run_training(job_env(tmp_path))
    assert result.returncode != 0
    assert (tmp_path / "output/failure").read_text() == (
        "hyperparameter 'learning_rate' must be a number in (0, 1], got 'abc'"
    )


def test_an_empty_channel_fails_the_job_with_a_reason(tmp_path: Path, dataset: Path) -> None:
    # Given a train channel with no files
    layout_job(tmp_path, dataset, {})
    shutil.rmtree(tmp_path / "input/data/train")
    (tmp_path / "input/data/train").mkdir()
    result = run_training(job_env(tmp_path))
    assert result.returncode != 0
    assert "channel 'train' is empty" in (tmp_path / "output/failure").read_text()


def test_a_header_that_does_not_match_the_schema_fails_the_job(tmp_path: Path, dataset: Path) -> None:
    # Given a validation file whose header swaps two columns
    layout_job(tmp_path, dataset, {})
    path = tmp_path / "input/data/validation/validation.csv"
    lines = path.read_text().split("\n", 1)
    path.write_text(lines[0].replace("amount,hour_of_day", "hour_of_day,amount") + "\n" + lines[1])
    result = run_training(job_env(tmp_path))
    assert result.returncode != 0
    failure = (tmp_path / "output/failure").read_text()
    assert failure.startswith("channel 'validation' file validation.csv: header must be 'amount,hour_of_day,")
