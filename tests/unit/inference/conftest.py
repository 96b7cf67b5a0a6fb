# ruff: noqa: N806 - X is the feature matrix, as in scikit-learn
"""A small model trained once per session, saved in the artifact layout training writes."""

import json
from pathlib import Path
from typing import Any

import pytest

from training.feature_schema import FEATURE_NAMES, MODEL_FILE, MODEL_METADATA_FILE
from training.synthetic import generate


@pytest.fixture(scope="session")
def classifier() -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = generate(4_000, seed=21)
    return HistGradientBoostingClassifier(max_iter=25, max_depth=6, random_state=0).fit(X, y)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, classifier: Any) -> Path:
    from training.onnx_export import to_onnx

    directory = tmp_path_factory.mktemp("model")
    (directory / MODEL_FILE).write_bytes(to_onnx(classifier))
    metadata = {"model_version": "unit-model", "feature_names": list(FEATURE_NAMES), "threshold": 0.2}
    (directory / MODEL_METADATA_FILE).write_text(json.dumps(metadata))
    return directory


#: What a service fault carries: the caller must never see it, the log must.
SECRET_DETAIL = "secret internal detail"


@pytest.fixture
def broken_service(model_dir: Path) -> Any:
    """A service with a bug: routing any request raises."""
    from inference.app import Service
    from inference.model import load_model

    class Broken(Service):
        def route(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(SECRET_DETAIL)

    return Broken(load_model(model_dir))
