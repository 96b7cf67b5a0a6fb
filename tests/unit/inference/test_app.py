"""The WSGI app in-process: routing, answers, and the server settings it is run with."""

import io
import json
from pathlib import Path
from typing import Any

import pytest

from inference.app import make_app
from inference.model import load_model
from inference.serve import ServerSettings

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


def test_content_length_over_the_limit_is_refused_without_reading(app: Any) -> None:
    # Given a request claiming 7 MB whose body stream must not be touched
    class Untouchable(io.BytesIO):
        def read(self, *_: Any) -> bytes:
            raise AssertionError("the body was read")

    # When it is handled
    status, _, body = call(
        app, "POST", "/invocations", stream=Untouchable(), CONTENT_TYPE="text/csv", CONTENT_LENGTH=str(7 << 20)
    )
    # Then it is refused from the header alone
    assert status == 413
    assert "7340032 bytes" in body["error"]


def test_an_invalid_content_length_is_a_400(app: Any) -> None:
    status, _, body = call(app, "POST", "/invocations", ROW, CONTENT_TYPE="text/csv", CONTENT_LENGTH="ten")
    assert status == 400
    assert "Content-Length" in body["error"]


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
