# ruff: noqa: N806 - X is the feature matrix, as in scikit-learn
"""The compiled trees give sklearn's probabilities exactly, and bad model dirs are refused."""

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inference.model import CompiledTrees, ModelLoadError, load_model
from training.feature_schema import MAX_ROWS_PER_REQUEST, MODEL_FILE, MODEL_METADATA_FILE
from training.synthetic import generate


def test_compiled_trees_match_predict_proba_bit_for_bit(classifier: Any) -> None:
    # Given rows from a shifted distribution (new paths through the trees)
    X, _ = generate(3_000, seed=99, drift=1.5)
    # When both score them
    expected = classifier.predict_proba(X)[:, 1]
    got = CompiledTrees(classifier)(X)
    # Then every probability is identical
    assert np.array_equal(got, expected)


def test_compiled_trees_follow_sklearn_for_missing_values(classifier: Any) -> None:
    X, _ = generate(500, seed=7)
    X[::3, 0] = np.nan
    X[::5, 7] = np.nan
    assert np.array_equal(CompiledTrees(classifier)(X), classifier.predict_proba(X)[:, 1])


def test_one_row_scores_the_same_alone_and_in_a_batch(classifier: Any) -> None:
    X, _ = generate(50, seed=8)
    trees = CompiledTrees(classifier)
    assert trees(X[10:11])[0] == trees(X)[10]


def test_the_largest_request_scores_in_bounded_memory(classifier: Any) -> None:
    import tracemalloc

    # Given as many rows as one request may hold
    X, _ = generate(MAX_ROWS_PER_REQUEST, seed=5)
    trees = CompiledTrees(classifier)
    # When they are scored, with numpy's allocations traced
    tracemalloc.start()
    try:
        probabilities = trees(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then the work arrays stay small (scored in chunks), and every row is scored as sklearn would
    assert peak < 32 * 1024 * 1024, f"peak {peak / 2**20:.0f} MiB"
    assert np.array_equal(probabilities, classifier.predict_proba(X)[:, 1])


def test_load_model_reads_version_and_threshold(model_dir: Path) -> None:
    model = load_model(model_dir)
    assert model.version == "unit-model"
    assert model.threshold == 0.2
    assert model.compiled is True


def test_missing_model_dir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "nope")


def test_missing_model_file_is_refused(tmp_path: Path, model_dir: Path) -> None:
    shutil.copy(model_dir / MODEL_METADATA_FILE, tmp_path)
    with pytest.raises(ModelLoadError, match=f"has no {MODEL_FILE}"):
        load_model(tmp_path)


def test_corrupt_model_file_is_refused(tmp_path: Path, model_dir: Path) -> None:
    shutil.copy(model_dir / MODEL_METADATA_FILE, tmp_path)
    (tmp_path / MODEL_FILE).write_bytes(b"not a pickle")
    with pytest.raises(ModelLoadError, match="could not be loaded"):
        load_model(tmp_path)


def test_metadata_for_other_features_is_refused(tmp_path: Path, model_dir: Path) -> None:
    shutil.copy(model_dir / MODEL_FILE, tmp_path)
    (tmp_path / MODEL_METADATA_FILE).write_text(
        json.dumps({"model_version": "x", "threshold": 0.5, "feature_names": ["a", "b"]})
    )
    with pytest.raises(ModelLoadError, match="lists features a, b"):
        load_model(tmp_path)


def test_a_model_that_cannot_be_compiled_is_served_by_predict_proba(
    model_dir: Path, classifier: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given trees the compiler refuses (as it refuses categorical splits)
    def refuse(self: CompiledTrees, _classifier: Any) -> None:
        raise ValueError("categorical splits are not compiled")

    monkeypatch.setattr(CompiledTrees, "__init__", refuse)
    # When the model is loaded
    model = load_model(model_dir)
    # Then it still scores, through sklearn
    X, _ = generate(20, seed=3)
    assert model.compiled is False
    assert np.array_equal(model.score(X), classifier.predict_proba(X)[:, 1])
