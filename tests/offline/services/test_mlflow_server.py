"""The offline MLflow tracking server: a client process logs to it over HTTP, and it stops without a trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from offline.run import processes
from offline.services.mlflow_server import TrackingServer, TrackingServerError, start_tracking_server

pytestmark = pytest.mark.slow

# What a training job does: its own process, only the tracking URI in common with the server.
CLIENT = """
import sys
from pathlib import Path

import mlflow
import numpy as np
from sklearn.linear_model import LogisticRegression

mlflow.set_experiment("fraud-offline")
features = np.random.default_rng(0).random((40, 3))
labels = (features[:, 0] > 0.5).astype(int)
model = LogisticRegression().fit(features, labels)
note = Path(sys.argv[1])
note.write_text("hello")
with mlflow.start_run() as run:
    mlflow.log_param("C", 1.0)
    mlflow.log_metric("pr_auc", 0.75)
    mlflow.log_artifact(str(note))
    mlflow.sklearn.log_model(model, name="model", input_example=features[:2])
print(run.info.run_id)
"""


def _get(server: TrackingServer, path: str, **query: str) -> dict[str, Any]:
    url = f"{server.url}{path}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return dict(json.loads(response.read()))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingServer]:
    with start_tracking_server(tmp_path_factory.mktemp("workdir")) as started:
        started.wait_ready()
        yield started


@pytest.fixture(scope="module")
def logged_run(server: TrackingServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("client")
    (folder / "client.py").write_text(CLIENT)
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.url, "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(
        [sys.executable, str(folder / "client.py"), str(folder / "note.txt")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_a_client_process_logs_params_and_metrics_to_the_sqlite_store(server: TrackingServer, logged_run: str):
    # When a separate process logged a run through the URL
    run = _get(server, "/api/2.0/mlflow/runs/get", run_id=logged_run)["run"]
    # Then the server answers it with the param and the metric
    assert {"key": "C", "value": "1.0"} in run["data"]["params"]
    assert [(m["key"], m["value"]) for m in run["data"]["metrics"]] == [("pr_auc", 0.75)]
    # And the metadata lives in the work dir's sqlite database
    assert (server.store / "mlflow.db").stat().st_size > 0


def test_artifacts_and_the_model_go_through_the_server_into_the_work_dir(server: TrackingServer, logged_run: str):
    # When the client uploaded a file and a model over HTTP (it was given no path to the store)
    listed = _get(server, "/api/2.0/mlflow/artifacts/list", run_id=logged_run)
    # Then the run lists the file
    assert [f["path"] for f in listed["files"]] == ["note.txt"]
    # And the file and the model (MLmodel with its signature) are under <workdir>/mlflow/artifacts
    artifacts = server.store / "artifacts"
    assert [p.read_text() for p in artifacts.rglob("note.txt")] == ["hello"]
    (mlmodel,) = artifacts.rglob("MLmodel")
    assert "signature:" in mlmodel.read_text()


def test_only_loopback_host_headers_are_served(server: TrackingServer):
    # Given a request whose Host header names another site (a DNS rebinding attempt)
    request = urllib.request.Request(
        f"{server.url}/api/2.0/mlflow/experiments/search?max_results=1", headers={"Host": "attacker.example"}
    )
    # Then the security middleware refuses it
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


def test_stop_ends_the_server_and_every_process_it_started(tmp_path: Path):
    # Given a server that is ready
    server = start_tracking_server(tmp_path)
    server.wait_ready()
    # When it is stopped
    server.stop()
    # Then its whole process group is gone and nothing is left registered
    assert not _group_alive(server.process.pid)
    assert server.process not in processes.running()
    # And its output went to <workdir>/logs/mlflow.log
    assert "Uvicorn running on" in (tmp_path / "logs" / "mlflow.log").read_text()


def test_a_server_that_is_not_ready_in_time_is_stopped_and_the_error_names_its_log(tmp_path: Path):
    # Given a server that cannot have answered yet
    server = start_tracking_server(tmp_path)
    # When the wait allows no time
    with pytest.raises(TrackingServerError) as failed:
        server.wait_ready(timeout=0)
    # Then the error names the log file, and the process is stopped
    assert str(tmp_path / "logs" / "mlflow.log") in str(failed.value)
    assert not _group_alive(server.process.pid)


def test_a_work_dir_that_cannot_hold_the_store_fails_at_once_naming_the_folder(tmp_path: Path):
    # Given a work dir whose path runs through a regular file
    blocker = tmp_path / "file"
    blocker.write_text("")
    # When the server is started there
    with pytest.raises(TrackingServerError) as failed:
        start_tracking_server(blocker / "workdir")
    # Then it says which folder it could not write and what to do, and starts nothing
    message = str(failed.value)
    assert str(blocker / "workdir" / "mlflow" / "artifacts") in message
    assert "writable --workdir" in message


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_a_read_only_work_dir_fails_at_once_naming_the_folder(tmp_path: Path):
    # Given a work dir without write permission
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    workdir.chmod(0o500)
    try:
        # When the server is started there
        with pytest.raises(TrackingServerError) as failed:
            start_tracking_server(workdir)
    finally:
        workdir.chmod(0o700)
    # Then it says which folder and why
    assert "Permission denied" in str(failed.value)
    assert str(workdir / "mlflow") in str(failed.value)
