# ruff: noqa: N806 - X is the feature matrix, as in scikit-learn
"""``--shuffle-labels``: train and validation lose their signal, the test split stays honest."""

from pathlib import Path

import numpy as np

from training.synthetic import main, write_splits


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    return table[:, :-1], table[:, -1]


def test_only_the_train_and_validation_labels_are_shuffled(tmp_path: Path) -> None:
    # Given the same rows written honestly and with shuffled labels
    honest = write_splits(tmp_path / "honest", rows=4_000, seed=6)
    shuffled = write_splits(tmp_path / "shuffled", rows=4_000, seed=6, shuffle_labels=True)
    # Then the test split is identical, byte for byte
    assert shuffled["test"].read_bytes() == honest["test"].read_bytes()
    for split in ("train", "validation"):
        X_honest, y_honest = _read(honest[split])
        X_shuffled, y_shuffled = _read(shuffled[split])
        # And the other splits keep their features and their fraud count, but not which rows are fraud
        assert np.array_equal(X_shuffled, X_honest), split
        assert y_shuffled.sum() == y_honest.sum(), split
        assert not np.array_equal(y_shuffled, y_honest), split


def test_shuffling_is_deterministic(tmp_path: Path) -> None:
    first = write_splits(tmp_path / "a", rows=1_000, seed=2, shuffle_labels=True)
    second = write_splits(tmp_path / "b", rows=1_000, seed=2, shuffle_labels=True)
    assert all(first[name].read_bytes() == second[name].read_bytes() for name in first)


def test_the_command_line_flag_shuffles(tmp_path: Path) -> None:
    # When the CLI writes the same rows with and without the flag
    assert main(["--rows", "2000", "--seed", "4", "--out", str(tmp_path / "plain")]) == 0
    assert main(["--rows", "2000", "--seed", "4", "--out", str(tmp_path / "flag"), "--shuffle-labels"]) == 0
    # Then only the training labels differ
    assert (tmp_path / "flag/test.csv").read_bytes() == (tmp_path / "plain/test.csv").read_bytes()
    assert (tmp_path / "flag/train.csv").read_bytes() != (tmp_path / "plain/train.csv").read_bytes()
