"""The server as a batch transform container: ``python -m inference.serve`` with ``SAGEMAKER_BATCH=true``.

One real server process, over real HTTP, started as SageMaker starts a transform container:
``SAGEMAKER_BATCH``, ``SAGEMAKER_MAX_PAYLOAD_IN_MB`` and ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS``
set (SageMaker Developer Guide, "Use Your Own Inference Code with Batch Transform").
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inference.asgi import make_app
from inference.batch import BatchSettings
from inference.model import load_model
from inference.serve import ServerSettings
from tests.unit.inference.test_app import call
from training.feature_schema import FEATURE_NAMES

REPO = Path(__file__).resolve().parents[3]
GOOD = "125.5,14,3.2,0,2,400,1,0.02"
OTHER = "900.0,3,250.0,1,9,20,1,0.3"
HEADER = ",".join(FEATURE_NAMES)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def batch_server(model_dir: Path) -> Iterator[int]:
    """A batch-mode server: MaxPayloadInMB 1, MaxConcurrentTransforms 2; yields its port."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SAGEMAKER_"))}
    env |= {
        "SM_MODEL_DIR": str(model_dir),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SERVE_HOST": "127.0.0.1",
        "PYTHONPATH": str(REPO),
        "SAGEMAKER_BATCH": "true",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "1",
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "inference.serve"], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while request(port, "GET", "/ping")[0] != 200:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the batch server did not answer /ping within 30 s"
            time.sleep(0.1)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stderr:
            process.stderr.close()


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    """(status, content type, body); status 0 when nothing answers yet."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.getheader("Content-Type") or "", answer.read()
    except OSError:
        return 0, "", b""
    finally:
        connection.close()


def batch_csv(port: int, body: bytes) -> tuple[int, str, bytes]:
    return request(port, "POST", "/invocations", body, {"Content-Type": "text/csv", "Accept": "text/csv"})


# --- over HTTP --------------------------------------------------------------------------------


def test_execution_parameters_report_the_jobs_bounds(batch_server: int) -> None:
    status, content_type, body = request(batch_server, "GET", "/execution-parameters")

    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {"MaxConcurrentTransforms": 2, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 1}


def test_each_line_gets_one_answer_line_and_a_bad_row_fails_only_itself(batch_server: int) -> None:
    # Given a mini-batch with a header, two good rows, a row with a feature out of range, and a short row
    body = f"{HEADER}\n{GOOD}\n{GOOD.replace(',14,', ',24,')}\n{OTHER}\r\n1,2,3\n".encode()

    # When the transform job sends it
    status, content_type, answer = batch_csv(batch_server, body)

    # Then it is scored, in CSV, one line per input line, in order
    assert (status, content_type) == (200, "text/csv")
    lines = answer.decode().split("\n")
    assert lines[-1] == ""  # every line ends with a newline
    header, good, bad, other, short = lines[:-1]
    assert header == "probability,label,error"
    # ...the good rows carry the real-time endpoint's probability and label, and no error
    realtime = request(
        batch_server, "POST", "/invocations", f"{GOOD}\n{OTHER}\n".encode(), {"Content-Type": "text/csv"}
    )
    expected = json.loads(realtime[2])["predictions"]
    for line, prediction in zip((good, other), expected, strict=True):
        assert line == f"{prediction['probability']!r},{prediction['label']},"
    # ...and each bad row says which line and what was wrong, in one field (no commas)
    assert bad.startswith(",,line 3: feature 'hour_of_day' is out of range: 24 is not within [0")
    assert short.startswith(",,line 5: expected 8 features")
    assert bad.count(",") == short.count(",") == 2


def test_a_mini_batch_over_max_payload_is_refused_with_a_readable_413(batch_server: int) -> None:
    body = (GOOD + "\n").encode() * ((1 << 20) // len(GOOD) + 10)

    status, content_type, answer = batch_csv(batch_server, body)

    assert (status, content_type) == (413, "application/json")
    message = json.loads(answer)["error"]
    assert f"{len(body)} bytes" in message
    assert "SAGEMAKER_MAX_PAYLOAD_IN_MB=1" in message


def test_a_json_body_cannot_be_answered_line_by_line(batch_server: int) -> None:
    body = json.dumps({"instances": [[125.5, 14, 3.2, 0, 2, 400, 1, 0.02]]}).encode()

    status, _, answer = request(
        batch_server, "POST", "/invocations", body, {"Content-Type": "application/json", "Accept": "text/csv"}
    )

    assert status == 415
    assert "send text/csv" in json.loads(answer)["error"]


# --- in process: settings, and the real-time contract left as it was ---------------------------


def test_batch_mode_runs_one_worker_per_concurrent_transform() -> None:
    env = {"SAGEMAKER_MODEL_SERVER_WORKERS": "5", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "3"}

    assert ServerSettings.from_env(env).workers == 5  # not in batch mode: ignored
    assert ServerSettings.from_env(env | {"SAGEMAKER_BATCH": "true"}).workers == 3


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SAGEMAKER_BATCH": "yes"}, "SAGEMAKER_BATCH must be 'true' or 'false'"),
        ({"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_PAYLOAD_IN_MB": "0"}, "SAGEMAKER_MAX_PAYLOAD_IN_MB must be from 1"),
        ({"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "two"}, "must be a whole number"),
    ],
)
def test_bad_batch_settings_stop_the_server_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BatchSettings.from_env(env)


def test_without_batch_mode_accept_csv_still_gets_the_json_answer(model_dir: Path) -> None:
    app: Any = make_app(load_model(model_dir), workers=3)

    status, headers, body = call(
        app, "POST", "/invocations", f"{GOOD}\n".encode(), CONTENT_TYPE="text/csv", HTTP_ACCEPT="text/csv"
    )
    parameters = call(app, "GET", "/execution-parameters")

    assert (status, headers["Content-Type"]) == (200, "application/json")
    assert len(body["predictions"]) == 1
    assert parameters[2] == {"MaxConcurrentTransforms": 3, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}
