"""The server's settings, its guard around the app and its banner, in-process (the running server: tests/process)."""

import json
import pickle
from pathlib import Path

import pytest

from inference.app import Service
from inference.asgi import ServiceApp
from inference.batch import BatchSettings
from inference.model import load_model
from inference.serve import banner
from inference.settings import THREADS, ServerSettings
from inference.worker import build_app
from tests.unit.inference.conftest import SECRET_DETAIL
from tests.unit.inference.test_app import ROW, call


def test_settings_follow_the_sagemaker_hosting_variables() -> None:
    settings = ServerSettings.from_env(
        {
            "SM_MODEL_DIR": "/m",
            "SAGEMAKER_BIND_TO_PORT": "9000",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
            "SAGEMAKER_MODEL_SERVER_TIMEOUT": "30",
        }
    )
    assert (settings.model_dir, settings.port, settings.workers, settings.host) == ("/m", 9000, 3, "0.0.0.0")
    assert settings.timeout == 30


def test_settings_default_to_opt_ml_8080_and_a_few_threads() -> None:
    settings = ServerSettings.from_env({})
    assert (settings.model_dir, settings.port, settings.timeout) == ("/opt/ml/model", 8080, 60)
    assert settings.workers >= 1
    assert settings.threads == THREADS > 1


def test_in_batch_mode_max_concurrent_transforms_is_the_worker_count() -> None:
    env = {"SAGEMAKER_BATCH": "true", "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "5", "SAGEMAKER_MODEL_SERVER_WORKERS": "2"}
    assert ServerSettings.from_env(env).workers == 5


def test_settings_reach_the_workers_intact() -> None:
    # The workers get the settings through multiprocessing, which pickles them under a "spawn" start method.
    settings = ServerSettings.from_env({"SAGEMAKER_BATCH": "true", "MODEL_VERSION": "7"})
    assert pickle.loads(pickle.dumps(settings)) == settings


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SAGEMAKER_BIND_TO_PORT": "http"}, "SAGEMAKER_BIND_TO_PORT must be a whole number"),
        ({"SAGEMAKER_MODEL_SERVER_WORKERS": "0"}, "SAGEMAKER_MODEL_SERVER_WORKERS must be >= 1"),
        ({"SAGEMAKER_MODEL_SERVER_TIMEOUT": "0"}, "SAGEMAKER_MODEL_SERVER_TIMEOUT must be >= 1"),
        ({"SERVE_THREADS": "0"}, "SERVE_THREADS must be >= 1"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerSettings.from_env(env)


def test_an_exception_the_service_lets_escape_is_a_bare_json_500(
    broken_service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a service with a bug
    app = ServiceApp(broken_service)
    # When it is called through the ASGI app
    status, headers, body = call(app, "POST", "/invocations", ROW, CONTENT_TYPE="text/csv")
    # Then the caller gets a JSON 500 without the detail, which goes to the log
    assert status == 500
    assert headers["Content-Type"] == "application/json"
    assert body == {"error": "internal error; the request was not scored"}
    assert SECRET_DETAIL in caplog.text


def test_a_worker_builds_the_app_with_the_deployed_version(model_dir: Path) -> None:
    settings = ServerSettings.from_env({"SM_MODEL_DIR": str(model_dir), "MODEL_VERSION": "9"})
    app = build_app(settings)
    assert call(app, "GET", "/ping")[2] == {"status": "ok", "model_version": "9"}
    assert json.dumps(call(app, "POST", "/invocations", ROW, CONTENT_TYPE="text/csv")[2]["model_version"]) == '"9"'


def test_a_worker_whose_model_vanished_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = ServerSettings.from_env({"SM_MODEL_DIR": str(tmp_path / "gone")})
    with pytest.raises(SystemExit) as stopped:
        build_app(settings)
    assert stopped.value.code == 2
    assert "inference server worker cannot start: model directory" in capsys.readouterr().err


def test_the_banner_names_address_workers_model_and_runtime(model_dir: Path) -> None:
    model = load_model(model_dir)
    settings = ServerSettings("/m", "127.0.0.1", 8080, 2, 4, 60, batch=BatchSettings(True, 6, None))
    line = banner(settings, model)
    assert line.startswith("inference server listening on http://127.0.0.1:8080 (2 workers, model unit-model, ")
    assert model.runtime in line
    assert line.endswith(", batch mode, MaxPayloadInMB=6)")
