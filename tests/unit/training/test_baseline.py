# ruff: noqa: N806 - X is the feature matrix, as in scikit-learn
"""The training baseline: written by training next to the model, enough for PSI and a two-sample test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.unit.training.drift_support import train_small_model
from training.baseline import (
    BASELINE_FILE,
    SAMPLE_SIZE,
    bin_counts,
    bin_edges,
    build_baseline,
    column_baseline,
)
from training.feature_schema import FEATURE_NAMES, FEATURES, MODEL_METADATA_FILE


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_model(tmp_path_factory.mktemp("baseline-job"))


def _training_rows(model_dir: Path) -> np.ndarray:
    table = np.loadtxt(model_dir.parent / "data/train.csv", delimiter=",", skiprows=1)
    return table[:, :-1]


def test_training_writes_the_baseline_next_to_the_model(trained: Path) -> None:
    # Given a real training run
    baseline = json.loads((trained / BASELINE_FILE).read_text())
    metadata = json.loads((trained / MODEL_METADATA_FILE).read_text())
    X = _training_rows(trained)
    # Then the baseline describes every feature in schema order, over the training rows
    assert [c["name"] for c in baseline["features"]] == list(FEATURE_NAMES)
    assert baseline["rows"]["train"] == len(X) == 2_100
    amount = baseline["features"][0]
    assert amount["count"] == len(X)
    assert amount["missing"] == 0
    assert amount["mean"] == pytest.approx(X[:, 0].mean())
    assert (amount["min"], amount["max"]) == (X[:, 0].min(), X[:, 0].max())
    assert amount["quantiles"]["0.5"] == pytest.approx(np.median(X[:, 0]))
    assert sum(amount["bins"]["counts"]) == len(X)
    # And the predicted probability over the validation rows, within [0, 1]
    prediction = baseline["prediction"]
    assert prediction["name"] == "probability"
    assert prediction["count"] == baseline["rows"]["probability"] == 450
    assert 0.0 <= prediction["min"] <= prediction["max"] <= 1.0
    assert metadata["threshold"] > 0  # the threshold stays in model.json, read beside the baseline


def test_numeric_bins_are_training_deciles(trained: Path) -> None:
    # Given the baseline of a continuous feature
    column = json.loads((trained / BASELINE_FILE).read_text())["features"][FEATURE_NAMES.index("amount")]
    # Then it has 9 interior edges and each of its 10 bins holds about a tenth of the training rows
    assert len(column["bins"]["edges"]) == 9
    shares = np.array(column["bins"]["counts"]) / column["count"]
    assert np.all(np.abs(shares - 0.1) < 0.01)
    assert column["test"] == "ks"


def test_a_bool_feature_is_categorical_with_two_bins() -> None:
    # Given a 0/1 column with 30 % ones
    values = np.array([0.0] * 70 + [1.0] * 30)
    # When its baseline is taken
    column = column_baseline("is_online", values, "bool", seed=0)
    # Then it has one edge between the categories, the counts of each, and the chi-square test
    assert column["bins"] == {"edges": [0.5], "counts": [70, 30]}
    assert column["test"] == "chi2"


def test_a_whole_number_feature_with_few_values_gets_a_bin_per_value() -> None:
    values = np.repeat([0.0, 1.0, 2.0, 3.0], 25)
    assert bin_edges(values, "int") == [1.0, 2.0, 3.0]
    assert bin_counts(values, [1.0, 2.0, 3.0]) == [25, 25, 25, 25]


def test_bins_are_closed_on_the_left_and_open_ended() -> None:
    # Given edges 1 and 2: bins (-inf, 1), [1, 2), [2, inf)
    values = np.array([-50.0, 0.99, 1.0, 1.5, 2.0, 1e9, np.nan])
    # Then an edge value counts in the bin it starts, values beyond the range in the end bins, NaN nowhere
    assert bin_counts(values, [1.0, 2.0]) == [2, 2, 2]


def test_the_sample_is_bounded_seeded_and_drawn_from_the_data() -> None:
    # Given a long column
    values = np.random.default_rng(1).normal(size=10_000)
    # When its baseline is taken twice with the same seed, and once with another
    first = column_baseline("amount", values, "float", seed=3)["sample"]
    again = column_baseline("amount", values, "float", seed=3)["sample"]
    other = column_baseline("amount", values, "float", seed=4)["sample"]
    # Then the sample has SAMPLE_SIZE values, repeats with its seed, and holds values of the column
    assert len(first) == SAMPLE_SIZE
    assert first == again
    assert first != other
    column = np.sort(values)
    drawn = np.asarray(first)
    at = np.clip(np.searchsorted(column, drawn), 1, len(column) - 1)
    nearest = np.minimum(np.abs(column[at] - drawn), np.abs(column[at - 1] - drawn))
    assert np.all(nearest <= 1e-6 * np.maximum(1.0, np.abs(drawn)))  # 7 significant digits of a column value


def test_missing_training_values_are_counted_and_left_out() -> None:
    values = np.array([1.0, np.nan, 3.0, np.nan])
    column = column_baseline("amount", values, "float", seed=0)
    assert (column["count"], column["missing"], column["mean"]) == (4, 2, 2.0)
    assert sum(column["bins"]["counts"]) == 2
    assert sorted(column["sample"]) == [1.0, 3.0]


def test_a_feature_matrix_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match=f"{len(FEATURES)} columns"):
        build_baseline(np.zeros((5, 3)), np.zeros(5))


def test_the_baseline_stays_small_whatever_the_training_size() -> None:
    # Given 200,000 training rows
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.random(200_000) * f.maximum for f in FEATURES])
    document: dict[str, Any] = build_baseline(X, rng.random(30_000))
    # Then the document is a few hundred KB: samples are capped
    assert len(json.dumps(document)) < 400_000
