"""``python -m training.evaluate`` as SageMaker Processing runs it: a subprocess on real training artifacts."""

import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.process.conftest import REPO, TrainedJob, free_port, job_env, layout_job, run_training
from training.synthetic import write_splits

pytestmark = pytest.mark.slow


def _pack(model_dir: Path, archive: Path) -> None:
    """Tar the model directory as SageMaker does with ``SM_MODEL_DIR``: its files at the top level."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)


def _processing_job(root: Path, test_csv: Path, challenger: Path, champion: Path | None = None) -> None:
    (root / "input/test").mkdir(parents=True)
    (root / "input/test/test.csv").write_bytes(test_csv.read_bytes())
    _pack(challenger, root / "input/challenger/model.tar.gz")
    if champion is not None:
        _pack(champion, root / "input/champion/model.tar.gz")


def _run_evaluation(root: Path, **extra: str) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "MLFLOW_"))}
    env |= {"PROCESSING_DIR": str(root), "RUN_ID": "run-7", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "training.evaluate"],
        env=env | extra,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result, time.monotonic() - started


@pytest.fixture(scope="module")
def shuffled_job(tmp_path_factory: pytest.TempPathFactory) -> TrainedJob:
    """A job trained on the same kind of data with its labels shuffled: the worse model of a scenario."""
    data = tmp_path_factory.mktemp("shuffled-data")
    write_splits(data, rows=6_000, seed=17, shuffle_labels=True)
    root = tmp_path_factory.mktemp("shuffled-job")
    layout_job(root, data, {"max_iter": "30", "max_depth": "6"})
    return TrainedJob(root, run_training(job_env(root, TRAINING_JOB_NAME="fraud-train-shuffled")))


def test_the_challenger_alone_is_evaluated(tmp_path: Path, trained_job: TrainedJob, dataset: Path) -> None:
    # Given the training job's artifact and the honest test split
    assert trained_job.result.returncode == 0, trained_job.result.stderr
    _processing_job(tmp_path, dataset / "test.csv", trained_job.model_dir)
    # When the evaluation job runs
    result, _ = _run_evaluation(tmp_path)
    # Then it exits 0 and writes the report, with no champion and tracking off
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "evaluation/evaluation.json").read_text())
    metadata = json.loads((trained_job.model_dir / "model.json").read_text())
    assert report["schema_version"] == 1
    assert report["run_id"] == "run-7"
    assert report["test"]["rows"] == 900
    assert report["champion"] is None
    assert report["mlflow"] == {"status": "off"}
    assert report["challenger"]["model_version"] == "fraud-train-test-1"
    assert report["challenger"]["threshold"] == metadata["threshold"]
    assert report["challenger"]["metrics"]["roc_auc"] > 0.7
    assert result.stderr == ""


def test_a_challenger_trained_on_shuffled_labels_is_shown_worse_than_the_champion(
    tmp_path: Path, trained_job: TrainedJob, shuffled_job: TrainedJob, dataset: Path
) -> None:
    # Given the worse model as challenger and the honest one as champion (package version 4)
    assert shuffled_job.result.returncode == 0, shuffled_job.result.stderr
    _processing_job(tmp_path, dataset / "test.csv", shuffled_job.model_dir, trained_job.model_dir)
    # When the evaluation job runs
    result, seconds = _run_evaluation(tmp_path, CHAMPION_VERSION="4")
    # Then both are scored on the same rows, each at its own threshold, and the gap is plain
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "evaluation/evaluation.json").read_text())
    challenger, champion = report["challenger"], report["champion"]
    assert champion["package_version"] == "4"
    assert champion["model_version"] == "fraud-train-test-1"
    assert challenger["threshold"] != champion["threshold"]
    assert champion["metrics"]["pr_auc"] > 3 * challenger["metrics"]["pr_auc"]
    assert challenger["metrics"]["roc_auc"] < 0.65 < 0.8 < champion["metrics"]["roc_auc"]
    assert sum(champion["confusion_matrix"].values()) == sum(challenger["confusion_matrix"].values()) == 900
    assert "champion (package version 4) fraud-train-test-1" in result.stdout
    assert seconds < 30, seconds


def test_a_corrupt_artifact_fails_the_job_with_one_error_line(tmp_path: Path, dataset: Path) -> None:
    # Given a challenger "artifact" that is not a tarball
    (tmp_path / "input/test").mkdir(parents=True)
    (tmp_path / "input/test/test.csv").write_bytes((dataset / "test.csv").read_bytes())
    (tmp_path / "input/challenger").mkdir(parents=True)
    (tmp_path / "input/challenger/model.tar.gz").write_bytes(b"\x1f\x8b garbage")
    # When the job runs, then it exits 1 with one line on stderr, the reason a person reads
    result, _ = _run_evaluation(tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: the challenger model archive model.tar.gz cannot be unpacked: ")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "evaluation/evaluation.json").exists()


def test_an_unreachable_tracking_server_only_costs_a_warning(
    tmp_path: Path, trained_job: TrainedJob, dataset: Path
) -> None:
    # Given a tracking URI on a closed port
    _processing_job(tmp_path, dataset / "test.csv", trained_job.model_dir)
    # When the evaluation job runs
    result, seconds = _run_evaluation(tmp_path, MLFLOW_TRACKING_URI=f"http://127.0.0.1:{free_port()}")
    # Then it still succeeds, quickly, and the report says why nothing was logged
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("WARNING: MLflow tracking unavailable (cannot reach http://127.0.0.1:")
    assert result.stderr.rstrip().endswith("evaluation continues without it")
    report = json.loads((tmp_path / "evaluation/evaluation.json").read_text())
    assert report["mlflow"]["status"] == "unavailable"
    assert seconds < 15, seconds
