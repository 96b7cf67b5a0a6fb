# ruff: noqa: N806 - X is the feature matrix, as in scikit-learn
"""Small datasets and model archives in the layout the training job writes and SageMaker tars."""

import io
import json
import subprocess
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.process.conftest import job_env, layout_job, run_training
from training.feature_schema import FEATURE_NAMES, MODEL_FILE, MODEL_METADATA_FILE
from training.synthetic import write_splits


def fit(data_dir: Path) -> Any:
    """A small classifier fitted on ``train.csv`` of ``data_dir``."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    table = np.loadtxt(data_dir / "train.csv", delimiter=",", skiprows=1)
    X, y = table[:, :-1], table[:, -1]
    return HistGradientBoostingClassifier(max_iter=50, max_depth=3, random_state=0).fit(X, y)


def write_model_archive(
    path: Path,
    classifier: Any,
    *,
    threshold: float = 0.2,
    version: str = "model-v1",
    mlflow_run_id: str | None = None,
    feature_names: Sequence[str] = FEATURE_NAMES,
) -> Path:
    """Write ``model.tar.gz`` as SageMaker packs ``SM_MODEL_DIR``: model + metadata at the top level."""
    from training.onnx_export import to_onnx

    model = io.BytesIO(to_onnx(classifier))
    metadata = {
        "model_version": version,
        "feature_names": list(feature_names),
        "threshold": threshold,
        "mlflow_run_id": mlflow_run_id,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in ((MODEL_FILE, model.getvalue()), (MODEL_METADATA_FILE, json.dumps(metadata).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


@pytest.fixture(scope="session")
def honest_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 rows: enough positives (about 60) for the metrics to mean something, still instant."""
    directory = tmp_path_factory.mktemp("honest")
    write_splits(directory, rows=3_000, seed=5)
    return directory


@pytest.fixture(scope="session")
def shuffled_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same rows with the train and validation labels shuffled: a model learns nothing from them."""
    directory = tmp_path_factory.mktemp("shuffled")
    write_splits(directory, rows=3_000, seed=5, shuffle_labels=True)
    return directory


@pytest.fixture(scope="session")
def good_classifier(honest_data: Path) -> Any:
    return fit(honest_data)


@pytest.fixture(scope="session")
def bad_classifier(shuffled_data: Path) -> Any:
    return fit(shuffled_data)


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1,000 rows: the smallest size of this seed with positives in every split."""
    directory = tmp_path_factory.mktemp("tracking-data")
    write_splits(directory, rows=1_000, seed=9)
    return directory


def train_job(root: Path, dataset: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m training.train`` on ``dataset`` in a SageMaker layout below ``root``, with ``extra`` env."""
    layout_job(root, dataset, {"max_iter": "20", "max_depth": "4"})
    env = job_env(root, **extra)
    for name in [name for name in env if name.startswith("MLFLOW_") and name not in extra]:
        del env[name]  # the developer's own tracking settings stay out of the tests
    return run_training(env)


def job_outputs(root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The job's evaluation.json and model metadata."""
    evaluation = json.loads((root / "output/data/evaluation.json").read_text())
    metadata = json.loads((root / "model" / MODEL_METADATA_FILE).read_text())
    return evaluation, metadata
