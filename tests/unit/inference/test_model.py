# ruff: noqa: N806 - X is the feature matrix, as in scikit-learn
"""The ONNX model scores as scikit-learn does, loads without unpickling, and bad model dirs are refused."""

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference.model import SMALL_BATCH, ModelLoadError, OnnxScorer, load_model, logistic
from training.feature_schema import LEGACY_PICKLE_FILE, MAX_ROWS_PER_REQUEST, MODEL_FILE, MODEL_METADATA_FILE
from training.onnx_export import to_onnx
from training.synthetic import generate


def test_one_row_scores_the_same_alone_and_in_a_batch(model_dir: Path) -> None:
    X, _ = generate(50, seed=8)
    model = load_model(model_dir)
    assert model.score(X[10:11])[0] == model.score(X)[10]


def test_the_largest_request_scores_as_sklearn_does(model_dir: Path, classifier: Any) -> None:
    X, _ = generate(MAX_ROWS_PER_REQUEST, seed=5)
    probabilities = load_model(model_dir).score(X)
    assert probabilities.dtype == np.float64
    assert probabilities.shape == (MAX_ROWS_PER_REQUEST,)
    assert np.abs(probabilities - classifier.predict_proba(X)[:, 1]).max() <= 1e-6


def test_load_model_reads_version_threshold_and_runtime(model_dir: Path) -> None:
    model = load_model(model_dir)
    assert model.version == "unit-model"
    assert model.threshold == 0.2
    assert model.runtime.startswith("onnxruntime ")


def test_missing_model_dir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "nope")


def test_missing_model_file_is_refused_naming_what_is_there(tmp_path: Path, model_dir: Path) -> None:
    shutil.copy(model_dir / MODEL_METADATA_FILE, tmp_path)
    with pytest.raises(ModelLoadError, match=rf"has no {MODEL_FILE} \(it holds model.json\)"):
        load_model(tmp_path)


def test_corrupt_model_file_is_refused(tmp_path: Path, model_dir: Path) -> None:
    shutil.copy(model_dir / MODEL_METADATA_FILE, tmp_path)
    (tmp_path / MODEL_FILE).write_bytes(b"not an onnx graph")
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        load_model(tmp_path)


def test_a_graph_that_does_not_take_the_schemas_rows_is_refused(
    tmp_path: Path, model_dir: Path, classifier: Any
) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    # Given a graph of float32 input (the converter's default), under the schema's metadata
    graph = convert_sklearn(
        classifier, initial_types=[("X", FloatTensorType([None, 8]))], options={id(classifier): {"zipmap": False}}
    )
    shutil.copy(model_dir / MODEL_METADATA_FILE, tmp_path)
    (tmp_path / MODEL_FILE).write_bytes(graph.SerializeToString())
    # Then it is refused, saying what the server expected
    with pytest.raises(ModelLoadError, match=r"expected a double input, got tensor\(float\)"):
        load_model(tmp_path)


def test_metadata_for_other_features_is_refused(tmp_path: Path, model_dir: Path) -> None:
    shutil.copy(model_dir / MODEL_FILE, tmp_path)
    (tmp_path / MODEL_METADATA_FILE).write_text(
        json.dumps({"model_version": "x", "threshold": 0.5, "feature_names": ["a", "b"]})
    )
    with pytest.raises(ModelLoadError, match="lists features a, b"):
        load_model(tmp_path)


class _LeavesAFile:
    """Unpickling this object writes a file: proof that something unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "unpickled"))


def test_a_malicious_pickle_under_the_old_name_is_never_unpickled(
    tmp_path: Path, model_dir: Path, classifier: Any
) -> None:
    # Given a pickle whose loading would leave a file behind, checked to do so when unpickled
    marker = tmp_path / "pwned"
    blob = pickle.dumps(_LeavesAFile(marker))
    pickle.loads(blob)
    assert marker.read_text() == "unpickled"
    marker.unlink()
    # And a model directory holding it under the old file name, next to the real model
    directory = tmp_path / "model"
    shutil.copytree(model_dir, directory)
    (directory / LEGACY_PICKLE_FILE).write_bytes(blob)
    # When the model is loaded and scores
    model = load_model(directory)
    X, _ = generate(20, seed=3)
    model.score(X)
    # Then nothing unpickled it
    assert not marker.exists()
    # And a directory holding only the pickle (the old layout) is refused without opening it
    (directory / MODEL_FILE).unlink()
    with pytest.raises(ModelLoadError, match=rf"has no {MODEL_FILE} \(it holds .*model.joblib"):
        load_model(directory)
    assert not marker.exists()


def test_the_scorer_rejects_nothing_it_is_given_and_returns_float64(classifier: Any) -> None:
    scorer = OnnxScorer(to_onnx(classifier))
    X = np.array([[np.nan] * 8, [0.0] * 8])
    probabilities = scorer(X)
    assert probabilities.dtype == np.float64
    assert np.isfinite(probabilities).all()


def test_the_logistic_of_a_few_margins_has_the_bits_of_a_large_batchs() -> None:
    # Given margins of every scale and sign, the extremes included
    rng = np.random.default_rng(7)
    margins = np.concatenate([rng.normal(0, 5, 5_000), rng.normal(0, 400, 500), [0.0, -0.0, 745.0, -745.0, 1e4, -1e4]])
    # When they are taken as one large batch, and in groups small enough for the Python-float path
    whole = logistic(margins)
    groups = [logistic(margins[i : i + SMALL_BATCH]) for i in range(0, len(margins), SMALL_BATCH)]
    # Then every probability is the same float64, bit for bit, and none overflowed
    assert np.array_equal(np.concatenate(groups), whole)
    assert whole.dtype == np.float64
    assert np.isfinite(whole).all()
    assert ((whole >= 0) & (whole <= 1)).all()
