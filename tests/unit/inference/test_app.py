"""The WSGI app in-process: routing, answers, and the server settings it is run with."""

import io
import json
from pathlib import Path
from typing import Any

import pytest
from gunicorn.http import errors as http_errors  # type: ignore[import-untyped]

from inference.app import make_app
from inference.model import load_model
from inference.serve import ServerSettings
from inference.workers import protocol_error

REPO = Path(__file__).resolve().parents[3]
ROW = b"125.5,14,3.2,0,2,400,1,0.02\n"


@pytest.fixture(scope="module")
def app(model_dir: Path) -> Any:
    return make_app(load_model(model_dir))


def call(
    app: Any, method: str, path: str, body: bytes = b"", stream: Any = None, **headers: str
) -> tuple[int, dict[str, str], Any]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.input": stream if stream is not None else io.BytesIO(body),
        **headers,
    }
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = int(status.split()[0]), dict(response_headers)

    raw = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], json.loads(raw) if raw else None


def test_ping_reports_the_model_version(app: Any) -> None:
    status, headers, body = call(app, "GET", "/ping")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body == {"status": "ok", "model_version": "unit-model"}


def test_invocations_answers_probability_and_label_per_row(app: Any) -> None:
    status, _, body = call(app, "POST", "/invocations", ROW * 3, CONTENT_TYPE="text/csv")
    assert status == 200
    assert len(body["predictions"]) == 3
    assert body["model_version"] == "unit-model"
    first = body["predictions"][0]
    assert first["label"] == int(first["probability"] >= 0.2)


def test_a_body_over_the_limit_is_drained_in_small_reads_then_refused(app: Any) -> None:
    # Given a 7 MB request body that records how it is read
    class Recording(io.BytesIO):
        reads: list[int] = []

        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            self.reads.append(len(data))
            return data

    stream = Recording(b"1" * (7 << 20))
    # When it is handled
    status, _, body = call(
        app, "POST", "/invocations", stream=stream, CONTENT_TYPE="text/csv", CONTENT_LENGTH=str(7 << 20)
    )
    # Then all of it was read (so the client can finish sending and read the answer), 64 KB at a time,
    # and the answer is a 413 that names the size, the limit and where to go instead
    assert sum(stream.reads) == 7 << 20
    assert max(stream.reads) <= 64 * 1024
    assert status == 413
    assert "7340032 bytes" in body["error"]
    assert "6 MB" in body["error"]
    assert "batch transform" in body["error"]


def test_a_claimed_size_past_the_drain_limit_is_refused_unread(app: Any) -> None:
    # Given a request claiming a body far past anything worth draining, whose stream must not be touched
    class Untouchable(io.BytesIO):
        def read(self, *_: Any) -> bytes:
            raise AssertionError("the body was read")

    # When it is handled
    status, _, body = call(
        app, "POST", "/invocations", stream=Untouchable(), CONTENT_TYPE="text/csv", CONTENT_LENGTH=str(1 << 40)
    )
    # Then it is refused from the header alone
    assert status == 413
    assert f"{1 << 40} bytes" in body["error"]


def test_an_invalid_content_length_is_a_400(app: Any) -> None:
    status, _, body = call(app, "POST", "/invocations", ROW, CONTENT_TYPE="text/csv", CONTENT_LENGTH="ten")
    assert status == 400
    assert "Content-Length" in body["error"]


@pytest.mark.parametrize(
    ("error", "status", "fragment"),
    [
        (http_errors.InvalidHeader("CONTENT-LENGTH"), 400, "Content-Length"),
        (http_errors.InvalidRequestMethod("post"), 400, "POST /invocations"),
        (http_errors.InvalidRequestLine("GARBAGE"), 400, "METHOD /path HTTP/1.1"),
        (http_errors.LimitRequestLine(9000, 4094), 414, "too long"),
        (http_errors.UnsupportedTransferCoding("gzip"), 400, "Transfer-Encoding"),
        (RuntimeError("secret internal detail"), 500, "internal error"),
    ],
    ids=["content-length", "method", "request-line", "long-line", "transfer-coding", "server-fault"],
)
def test_requests_gunicorn_cannot_parse_get_json_that_says_what_to_fix(
    error: Exception, status: int, fragment: str
) -> None:
    # Given an error gunicorn raises before the app runs
    # When the worker turns it into an answer
    answer_status, message = protocol_error(error)
    # Then the status is a 4xx for the caller's mistake (500 for ours) and the message says what to do
    assert answer_status == status
    assert fragment in message
    assert "secret" not in message


def test_head_ping_has_no_body(app: Any) -> None:
    status, _, body = call(app, "HEAD", "/ping")
    assert (status, body) == (200, None)


def test_wrong_method_names_the_allowed_ones(app: Any) -> None:
    status, headers, body = call(app, "DELETE", "/ping")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert "use GET or HEAD" in body["error"]


def test_settings_follow_the_sagemaker_hosting_variables() -> None:
    settings = ServerSettings.from_env(
        {"SM_MODEL_DIR": "/m", "SAGEMAKER_BIND_TO_PORT": "9000", "SAGEMAKER_MODEL_SERVER_WORKERS": "3"}
    )
    assert (settings.model_dir, settings.port, settings.workers, settings.host) == ("/m", 9000, 3, "0.0.0.0")


def test_settings_default_to_opt_ml_and_8080() -> None:
    settings = ServerSettings.from_env({})
    assert (settings.model_dir, settings.port) == ("/opt/ml/model", 8080)
    assert settings.workers >= 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SAGEMAKER_BIND_TO_PORT": "http"}, "SAGEMAKER_BIND_TO_PORT must be a whole number"),
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "0"}, "SAGEMAKER_MODEL_SERVER_WORKERS must be >= 1"),
        ({"SERVE_WORKER_CLASS": "eventlet"}, "SERVE_WORKER_CLASS must be"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerSettings.from_env(env)


def _pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return dict(line.split("==") for line in lines if "==" in line)


def test_the_serving_image_pins_the_same_model_runtime_as_training() -> None:
    # The model is pickled by training and unpickled by serving: the libraries must match exactly.
    training = _pins(REPO / "training/requirements.txt")
    serving = _pins(REPO / "inference/requirements.txt")
    assert {name: serving.get(name) for name in training} == training
