"""MLflow tracking against a real local ``mlflow server``: what training and evaluation log.

The server (sqlite in a temporary folder) starts once for the module on a free port; what arrived
is read back through ``MlflowClient``.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.process.conftest import free_port
from tests.unit.training.conftest import job_outputs, train_job
from training.evaluate import run as run_evaluation
from training.feature_schema import FEATURE_NAMES, LEGACY_PICKLE_FILE, MODEL_METADATA_FILE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` on a free port with a sqlite store; its whole process group ends in teardown."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no job runner: a dozen fewer processes
    command = [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
    ]
    log = (root / "server.log").open("w")
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # it creates its database first; slow on a busy machine
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mlflow server did not answer /health within 120 s") from None
                time.sleep(0.5)
        yield url
    finally:
        # The server runs uvicorn as a child: end the whole group this fixture started.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        log.close()


@pytest.fixture(scope="module")
def tracked_job(tmp_path_factory: pytest.TempPathFactory, small_dataset: Path, mlflow_server: str) -> Path:
    root = tmp_path_factory.mktemp("tracked-job")
    result = train_job(
        root,
        small_dataset,
        MLFLOW_TRACKING_URI=mlflow_server,
        ENVIRONMENT="tracktest",
        TRAINING_JOB_NAME="fraud-train-tracked",
        DATA_VERSION="data-v7",
        CODE_VERSION="code-v3",
        RUN_ID="run-42",
    )
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture(scope="module")
def client(mlflow_server: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=mlflow_server)


def test_training_logs_its_parameters_metrics_and_tags(tracked_job: Path, client: Any) -> None:
    # Given a job run against the server
    evaluation, metadata = job_outputs(tracked_job)
    # Then its run id is in the model metadata and the evaluation, and the run holds what it logged
    assert evaluation["mlflow"]["status"] == "logged"
    assert metadata["mlflow_run_id"] == evaluation["mlflow"]["run_id"]
    run = client.get_run(metadata["mlflow_run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "fraud-tracktest"
    assert run.info.run_name == "fraud-train-tracked"
    assert run.info.status == "FINISHED"
    assert run.data.params == evaluation["hyperparameters"]
    assert run.data.params["max_iter"] == "20"
    assert run.data.metrics == {name.replace(":", "_"): value for name, value in evaluation["metrics"].items()}
    assert {name: run.data.tags[name] for name in ("run_id", "data_version", "code_version", "training_job_name")} == {
        "run_id": "run-42",
        "data_version": "data-v7",
        "code_version": "code-v3",
        "training_job_name": "fraud-train-tracked",
    }


def test_training_logs_the_model_with_its_signature_and_an_example(
    tracked_job: Path, client: Any, mlflow_server: str
) -> None:
    import joblib
    import mlflow
    import numpy as np

    run_id = job_outputs(tracked_job)[1]["mlflow_run_id"]
    mlflow.set_tracking_uri(mlflow_server)
    # When the logged model is read back
    info = mlflow.models.get_model_info(f"runs:/{run_id}/model")
    logged = mlflow.sklearn.load_model(f"runs:/{run_id}/model")
    # Then its signature names the schema's features, an example is kept, and it scores as the artifact does
    assert info.signature.inputs.input_names() == list(FEATURE_NAMES)
    assert info.saved_input_example_info is not None
    rows = np.loadtxt(tracked_job / "input/data/validation/validation.csv", delimiter=",", skiprows=1)[:, :-1]
    artifact = joblib.load(tracked_job / "output/data" / LEGACY_PICKLE_FILE)
    assert np.array_equal(logged.predict_proba(rows), artifact.predict_proba(rows))


def _evaluation_layout(root: Path, job: Path, dataset: Path, *, keep_run_id: bool) -> dict[str, str]:
    (root / "input/test").mkdir(parents=True)
    shutil.copy(dataset / "test.csv", root / "input/test/test.csv")
    model_dir = root / "model"
    shutil.copytree(job / "model", model_dir)
    if not keep_run_id:
        metadata = json.loads((model_dir / MODEL_METADATA_FILE).read_text())
        (model_dir / MODEL_METADATA_FILE).write_text(json.dumps(metadata | {"mlflow_run_id": None}))
    (root / "input/challenger").mkdir(parents=True)
    with tarfile.open(root / "input/challenger/model.tar.gz", "w:gz") as tar:
        for path in model_dir.iterdir():
            tar.add(path, arcname=path.name)
    return {"PROCESSING_DIR": str(root), "RUN_ID": "run-43", "ENVIRONMENT": "tracktest"}


def test_evaluation_logs_the_comparison_into_the_challengers_run(
    tmp_path: Path, tracked_job: Path, small_dataset: Path, client: Any, mlflow_server: str
) -> None:
    # Given the tracked challenger evaluated with tracking on
    env = _evaluation_layout(tmp_path, tracked_job, small_dataset, keep_run_id=True)
    report = run_evaluation(env | {"MLFLOW_TRACKING_URI": mlflow_server})
    # Then the comparison lands in the challenger's own training run, with the report as an artifact
    challenger_run = report["challenger"]["mlflow_run_id"]
    assert report["mlflow"] == {"status": "logged", "run_id": challenger_run, "tracking_uri": mlflow_server}
    run = client.get_run(challenger_run)
    assert run.data.metrics["challenger_pr_auc"] == report["challenger"]["metrics"]["pr_auc"]
    assert run.data.metrics["challenger_threshold"] == report["challenger"]["threshold"]
    assert "validation_pr_auc" in run.data.metrics  # still the training run
    assert run.data.tags["evaluation_run_id"] == "run-43"
    artifacts = [a.path for a in client.list_artifacts(challenger_run, "evaluation")]
    assert artifacts == ["evaluation/evaluation.json"]


def test_evaluation_of_an_untracked_challenger_opens_a_run_of_its_own(
    tmp_path: Path, tracked_job: Path, small_dataset: Path, client: Any, mlflow_server: str
) -> None:
    env = _evaluation_layout(tmp_path, tracked_job, small_dataset, keep_run_id=False)
    report = run_evaluation(env | {"MLFLOW_TRACKING_URI": mlflow_server})
    assert report["mlflow"]["status"] == "logged"
    run = client.get_run(report["mlflow"]["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "fraud-tracktest"
    assert run.data.metrics["challenger_roc_auc"] == report["challenger"]["metrics"]["roc_auc"]
