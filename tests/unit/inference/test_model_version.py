"""The version a server reports: the deployment's MODEL_VERSION when set, else the model's own."""

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from inference import serve
from inference.asgi import make_app
from inference.model import LoadedModel, load_model
from inference.settings import ServerSettings
from tests.unit.inference.test_app import ROW, call


@pytest.mark.parametrize(("raw", "expected"), [(None, None), ("", None), ("  ", None), ("7", "7")])
def test_model_version_is_read_from_the_environment(raw: str | None, expected: str | None) -> None:
    env = {} if raw is None else {"MODEL_VERSION": raw}
    assert ServerSettings.from_env(env).model_version == expected


def _served_model(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> LoadedModel:
    """The model ``serve.main`` would serve, captured instead of starting the server."""
    served: dict[str, Any] = {}
    monkeypatch.setattr(serve, "run", lambda settings, model: served.update(model=model) or 0)
    assert serve.main(env) == 0
    model: LoadedModel = served["model"]
    return model


def test_model_version_overrides_the_metadata_in_answers_and_ping(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a server started with the model package version the deployment passes
    model = _served_model(monkeypatch, {"SM_MODEL_DIR": str(model_dir), "MODEL_VERSION": "3"})
    app = make_app(model)
    # Then /ping and every prediction report that version, not the training job's
    assert call(app, "GET", "/ping")[2] == {"status": "ok", "model_version": "3"}
    assert call(app, "POST", "/invocations", ROW, CONTENT_TYPE="text/csv")[2]["model_version"] == "3"


def test_without_model_version_the_metadata_version_is_reported(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _served_model(monkeypatch, {"SM_MODEL_DIR": str(model_dir), "MODEL_VERSION": ""})
    assert call(make_app(model), "GET", "/ping")[2]["model_version"] == "unit-model"


@pytest.mark.parametrize("run_id", [None, "0a1b2c"])
def test_metadata_with_an_mlflow_run_id_still_loads(tmp_path: Path, model_dir: Path, run_id: str | None) -> None:
    # Given the metadata training writes now, with its MLflow run id (or null)
    shutil.copytree(model_dir, tmp_path / "model")
    metadata_path = tmp_path / "model/model.json"
    metadata = json.loads(metadata_path.read_text()) | {"mlflow_run_id": run_id}
    metadata_path.write_text(json.dumps(metadata))
    # Then the serving loader accepts it
    assert load_model(tmp_path / "model").version == "unit-model"
