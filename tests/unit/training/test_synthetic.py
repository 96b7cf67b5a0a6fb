# ruff: noqa: N806 - X is the feature matrix, as in scikit-learn
"""The synthetic generator: deterministic, inside the schema, imbalanced, learnable."""

from pathlib import Path

import numpy as np
import pytest

from training.feature_schema import FEATURE_NAMES, FEATURES, LABEL
from training.synthetic import generate, main, write_splits


def test_same_seed_gives_identical_data() -> None:
    X1, y1 = generate(2_000, seed=5)
    X2, y2 = generate(2_000, seed=5)
    assert np.array_equal(X1, X2)
    assert np.array_equal(y1, y2)


def test_different_seeds_give_different_data() -> None:
    assert not np.array_equal(generate(500, seed=1)[0], generate(500, seed=2)[0])


@pytest.mark.parametrize("drift", [0.0, 2.0])
def test_every_value_respects_the_schema(drift: float) -> None:
    # Given a large sample, with and without drift
    X, y = generate(50_000, seed=3, drift=drift)
    # Then every column lies within its range, and whole-number kinds hold whole numbers
    for i, feature in enumerate(FEATURES):
        column = X[:, i]
        assert column.min() >= feature.minimum, feature.name
        assert column.max() <= feature.maximum, feature.name
        if feature.kind in ("int", "bool"):
            assert np.array_equal(column, np.round(column)), feature.name
    assert set(np.unique(y)) == {0.0, 1.0}


def test_fraud_is_rare_like_real_card_fraud() -> None:
    _, y = generate(100_000, seed=11)
    assert 0.01 <= y.mean() <= 0.03


def test_drift_shifts_the_feature_distribution() -> None:
    base, _ = generate(20_000, seed=4)
    drifted, _ = generate(20_000, seed=4, drift=1.0)
    amount = FEATURE_NAMES.index("amount")
    assert np.median(drifted[:, amount]) > 1.3 * np.median(base[:, amount])


def test_the_label_carries_signal() -> None:
    # Given a sample, the fraud rate among risky merchants is far above the rest
    X, y = generate(50_000, seed=8)
    risky = X[:, FEATURE_NAMES.index("merchant_risk_score")] > 0.1
    assert y[risky].mean() > 3 * y[~risky].mean()


def test_write_splits_writes_three_csvs_with_header_and_all_rows(tmp_path: Path) -> None:
    # When 1000 rows are written
    paths = write_splits(tmp_path, rows=1_000, seed=2)
    # Then three files hold a header and together every row
    assert sorted(paths) == ["test", "train", "validation"]
    total = 0
    for path in paths.values():
        lines = path.read_text().splitlines()
        assert lines[0] == ",".join((*FEATURE_NAMES, LABEL))
        assert all(len(line.split(",")) == len(FEATURE_NAMES) + 1 for line in lines[1:])
        total += len(lines) - 1
    assert total == 1_000
    assert len(paths["train"].read_text().splitlines()) - 1 == 700


def test_written_values_parse_back_to_the_generated_ones(tmp_path: Path) -> None:
    # Given the CSV written for a seed
    write_splits(tmp_path, rows=300, seed=9)
    X, y = generate(300, seed=9)
    # When the train split is read back
    data = np.loadtxt(tmp_path / "train.csv", delimiter=",", skiprows=1)
    # Then it holds the generated rows (rounding is part of generation)
    assert np.array_equal(data[:, :-1], X[:210])
    assert np.array_equal(data[:, -1], y[:210])


def test_command_line_writes_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--rows", "100", "--seed", "1", "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"train.csv", "validation.csv", "test.csv"}
    assert "wrote train" in capsys.readouterr().out
