"""MLflow tracking without a working server: off, unreachable, silent or failing costs seconds, never the job.

What a real server receives is tested in ``test_tracking_server``.
"""

import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.process.conftest import free_port
from tests.unit.training.conftest import job_outputs, train_job
from training import tracking
from training.feature_schema import MODEL_FILE

WARNING_PREFIX = "WARNING: MLflow tracking unavailable ("


# --- without a server --------------------------------------------------------------------------


def test_tracking_is_off_without_a_uri() -> None:
    assert tracking.track({"MLFLOW_TRACKING_URI": "  "}, lambda: "never", job="training") == {"status": "off"}


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({}, "fraud-offline"),
        ({"ENVIRONMENT": "prod"}, "fraud-prod"),
        ({"ENVIRONMENT": "prod", "MLFLOW_EXPERIMENT_NAME": "team-x"}, "team-x"),
    ],
)
def test_the_experiment_is_named_after_the_environment(env: dict[str, str], name: str) -> None:
    assert tracking.experiment_name(env) == name


def test_credentials_in_the_uri_are_never_shown() -> None:
    assert tracking.shown_uri("https://user:secret@mlflow.example.com:8443/") == "https://mlflow.example.com:8443"


def test_a_closed_port_is_reported_at_once() -> None:
    # Given a port nothing listens on
    port = free_port()
    started = time.monotonic()
    # When it is probed, then the reason names the refused connection, well within the probe's limit
    reason = tracking.probe(f"http://127.0.0.1:{port}", {})
    assert reason is not None
    assert f"cannot reach http://127.0.0.1:{port}/health" in reason
    assert time.monotonic() - started < 1.0


def test_a_server_that_never_answers_costs_the_probe_timeout_only() -> None:
    # Given a socket that accepts connections but never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        reason = tracking.probe(f"http://127.0.0.1:{silent.getsockname()[1]}", {}, timeout=0.5)
    # Then the probe gives up after its timeout
    assert reason is not None
    assert "timed out" in reason or "no answer" in reason
    assert time.monotonic() - started < 2.0


def test_an_arn_is_probed_at_the_endpoint_the_plugin_would_call() -> None:
    # Given a tracking server ARN whose endpoint (overridden as the plugin allows) is closed
    port = free_port()
    env = {"SAGEMAKER_MLFLOW_CUSTOM_ENDPOINT": f"https://127.0.0.1:{port}"}
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/fraud-dev"
    # Then the probe tries that endpoint
    assert f"cannot reach 127.0.0.1:{port}" in (tracking.probe(arn, env) or "")
    assert "not the ARN" in (tracking.probe("arn:aws:s3:::bucket", {}) or "")


def test_a_failing_logger_becomes_one_warning_and_leaves_no_limits_behind(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a reachable URI (a local store: nothing to probe) and a logger that fails
    for name in tracking.HTTP_LIMITS:
        monkeypatch.delenv(name, raising=False)

    def log() -> str:
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"  # bounded while logging
        raise RuntimeError("the store said no\nwith details")

    # When tracking runs
    status = tracking.track({"MLFLOW_TRACKING_URI": "file:///nonexistent"}, log, job="evaluation")
    # Then the job gets the reason, one warning line is printed, and the environment is as it was
    assert status == {"status": "unavailable", "reason": "RuntimeError: the store said no with details"}
    assert capsys.readouterr().err == (
        f"{WARNING_PREFIX}RuntimeError: the store said no with details); evaluation continues without it\n"
    )
    assert not set(tracking.HTTP_LIMITS) & set(os.environ)


class _Failing(BaseHTTPRequestHandler):
    """A tracking server that is up but answers every request with a 500."""

    def _fail(self) -> None:
        self.send_response(500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._fail()

    def do_POST(self) -> None:
        self._fail()

    def log_message(self, *args: Any) -> None:
        pass


def _create_experiment() -> str:
    import mlflow

    return str(mlflow.set_experiment("x").experiment_id)


@pytest.mark.slow
def test_a_server_that_fails_every_request_costs_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a server that passes the probe but fails every API call
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        started = time.monotonic()
        # When something is logged to it
        status = tracking.track({"MLFLOW_TRACKING_URI": uri}, _create_experiment, job="training")
        elapsed = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    # Then MLflow's bounded retries give up within seconds and the job goes on
    assert status["status"] == "unavailable"
    assert elapsed < 10, elapsed
    assert capsys.readouterr().err.startswith(WARNING_PREFIX)


# --- training as a subprocess -----------------------------------------------------------------


@pytest.mark.slow
def test_without_a_uri_training_records_tracking_as_off(tmp_path: Path, small_dataset: Path) -> None:
    result = train_job(tmp_path, small_dataset)
    assert result.returncode == 0, result.stderr
    evaluation, metadata = job_outputs(tmp_path)
    assert evaluation["mlflow"] == {"status": "off"}
    assert metadata["mlflow_run_id"] is None
    assert "MLflow" not in result.stdout + result.stderr


@pytest.mark.slow
def test_an_unreachable_server_costs_training_seconds_and_one_warning(tmp_path: Path, small_dataset: Path) -> None:
    # Given a tracking URI on a port nothing listens on
    uri = f"http://127.0.0.1:{free_port()}"
    # When the job runs
    started = time.monotonic()
    result = train_job(tmp_path, small_dataset, MLFLOW_TRACKING_URI=uri)
    elapsed = time.monotonic() - started
    # Then it succeeds well within 10 s, says once why tracking is off, and records it
    assert result.returncode == 0, result.stderr
    assert elapsed < 10, elapsed
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING: MLflow")]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{WARNING_PREFIX}cannot reach {uri}/health")
    assert warnings[0].endswith("; training continues without it")
    evaluation, metadata = job_outputs(tmp_path)
    assert evaluation["mlflow"]["status"] == "unavailable"
    assert "Connection refused" in evaluation["mlflow"]["reason"]
    assert metadata["mlflow_run_id"] is None
    assert (tmp_path / "model" / MODEL_FILE).is_file()
