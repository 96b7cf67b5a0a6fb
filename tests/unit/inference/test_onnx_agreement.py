# ruff: noqa: N806 - X is the feature matrix, as in scikit-learn
"""The served model's probabilities are scikit-learn's ``predict_proba`` within 1e-6, missing values included.

The model is trained as the training job trains it (``training.train.build_model`` with the default
hyperparameters: 200 trees of depth 8), exported by ``training.onnx_export`` and loaded by the serving
loader. It is checked on rows drawn with a seed the training data did not use, with a tenth of the values
missing, rows missing everything, and extreme values (far outside any range the trees saw).
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from inference.model import OnnxScorer
from training.feature_schema import N_FEATURES
from training.hyperparameters import parse_hyperparameters
from training.onnx_export import TOLERANCE, ExportError, check_agreement, to_onnx
from training.synthetic import generate
from training.train import build_model

TRAINING_SEED, HELD_OUT_SEED = 11, 4242
THRESHOLD = 0.1


@dataclass(frozen=True)
class Trained:
    classifier: Any
    scorer: OnnxScorer


def _train(missing_rate: float) -> Trained:
    X, y = generate(20_000, seed=TRAINING_SEED)
    rng = np.random.default_rng(TRAINING_SEED)
    X[rng.random(X.shape) < missing_rate] = np.nan
    classifier = build_model(parse_hyperparameters({})).fit(X, y)
    return Trained(classifier, OnnxScorer(to_onnx(classifier)))


@pytest.fixture(scope="module", params=[0.05, 0.0], ids=["trained-with-missing-values", "trained-without"])
def trained(request: pytest.FixtureRequest) -> Trained:
    return _train(request.param)


def held_out_rows() -> np.ndarray:
    X, _ = generate(20_000, seed=HELD_OUT_SEED, drift=0.5)
    rng = np.random.default_rng(HELD_OUT_SEED)
    holes = X.copy()
    holes[rng.random(X.shape) < 0.1] = np.nan
    extremes = np.array(
        [
            [np.nan] * N_FEATURES,
            [0.0] * N_FEATURES,
            [1e300] * N_FEATURES,
            [-1e300] * N_FEATURES,
            [5e-324] * N_FEATURES,
            [100_000.0, 23, 20_000.0, 1, 1_000, 36_500, 1, 1.0],
        ]
    )
    return np.vstack([X, holes, extremes])


def test_probabilities_match_predict_proba_within_1e6(trained: Trained, record_property: Any) -> None:
    # Given held-out rows with missing and extreme values
    X = held_out_rows()
    # When the served model and scikit-learn score them
    served = trained.scorer(X)
    expected = trained.classifier.predict_proba(X)[:, 1]
    # Then every probability agrees within 1e-6
    worst = float(np.abs(served - expected).max())
    assert worst <= TOLERANCE, f"max difference {worst:.3g}"
    # And a tiny probability stays a tiny probability (float32's logistic would round it to 0.0)
    assert (served[expected > 0] > 0).all()
    # And labels differ only for rows within 1e-6 of the threshold, whose count is reported
    near = np.abs(expected - THRESHOLD) <= TOLERANCE
    flipped = (served >= THRESHOLD) != (expected >= THRESHOLD)
    assert not (flipped & ~near).any()
    record_property("rows", len(X))
    record_property("max_difference", worst)
    record_property("rows_within_1e-6_of_threshold", int(near.sum()))
    print(f"{len(X)} rows: max difference {worst:.3g}; {int(near.sum())} within 1e-6 of the threshold")


def test_the_export_check_refuses_a_model_that_disagrees(trained: Trained) -> None:
    X = held_out_rows()[:100]
    wrong = trained.scorer(X) + 1e-5
    with pytest.raises(
        ExportError,
        match=r"differ from scikit-learn.s by up to 1(\.0\d)?e-05 \(row \d+: \S+ against \S+\); the limit is 1e-06",
    ):
        check_agreement(trained.classifier, wrong, X, THRESHOLD)
