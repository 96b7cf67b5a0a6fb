# ruff: noqa: N803, N806 - X is the feature matrix, as in scikit-learn
"""Deterministic synthetic card transactions with a learnable fraud signal.

``python -m training.synthetic --rows N --seed S --out DIR`` writes ``train.csv``,
``validation.csv`` and ``test.csv`` (70 / 15 / 15 % of ``N`` rows): a header row,
the features of :mod:`training.feature_schema` in schema order, then the label
``is_fraud``. About 2 % of rows are fraud.

How the data is made: each feature is drawn from a plausible marginal, then the
label is drawn from a logistic model of those features (night-time, far from
home, new accounts, bursts of transactions, risky online merchants raise the
odds). The label is noisy, so a model can learn it but not perfectly: ROC-AUC
lands around 0.9, which makes the metrics mean something.

``--shuffle-labels`` shuffles the labels of the train and validation splits (not
test): a model trained on them is no better than chance, which is how a scenario
trains a model that a quality gate must reject.

``drift`` (0 = none) moves the feature distributions (larger amounts, more
online and more distant transactions, riskier merchants) while keeping the
label model fixed: covariate shift for drift-detection work.

Everything is vectorized numpy; the CSV is formatted with one ``%`` per chunk,
which is several times faster than ``np.savetxt``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from training.feature_schema import FEATURE_NAMES, FEATURES, LABEL

#: The fractions of rows written to each split, in order.
SPLITS: Final[tuple[tuple[str, float], ...]] = (("train", 0.70), ("validation", 0.15), ("test", 0.15))

#: printf formats per column, schema order then the label; whole-number features print as ints.
_FORMATS: Final[dict[str, str]] = {
    "amount": "%.2f",
    "distance_from_home_km": "%.3f",
    "merchant_risk_score": "%.4f",
}
_ROW_FORMAT: Final = ",".join(_FORMATS.get(f.name, "%d") for f in FEATURES) + ",%d\n"
_CHUNK_ROWS: Final = 50_000

#: The intercept of the label model, tuned so that about 2 % of rows are fraud at drift 0.
_INTERCEPT: Final = -7.2

FloatArray = npt.NDArray[np.float64]


def header() -> str:
    """The CSV header line (no newline): the features in schema order, then the label."""
    return ",".join((*FEATURE_NAMES, LABEL))


def generate(rows: int, seed: int, drift: float = 0.0) -> tuple[FloatArray, FloatArray]:
    """Draw ``rows`` transactions; return ``(X, y)`` with ``X`` in schema column order.

    The same ``(rows, seed, drift)`` always gives the same arrays. Every value
    lies inside the schema's range and whole-number features hold whole numbers.
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    rng = np.random.default_rng(seed)
    n = rows
    amount = np.round(np.clip(rng.lognormal(3.6 + 0.5 * drift, 1.1, n), 0.01, 100_000.0), 2)
    # Most activity in the day, a long quiet night.
    hour_weights = np.array(
        [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3.5, 4.5, 5, 5.5, 6, 6, 5.5, 5, 5, 5.5, 6, 5.5, 4.5, 3.5, 2.5, 1.5]
    )
    hour = rng.choice(24, size=n, p=hour_weights / hour_weights.sum()).astype(np.float64)
    distance = np.round(np.clip(rng.lognormal(1.6 + 0.6 * drift, 1.3, n), 0.0, 20_000.0), 3)
    state_mismatch = (rng.random(n) < 0.04 + 0.5 * np.clip(distance / 2_000.0, 0, 1)).astype(np.float64)
    transactions = np.clip(rng.poisson(2.5 + drift, n), 0, 1_000).astype(np.float64)
    account_age = np.clip(np.floor(rng.exponential(1_200.0, n)), 0, 36_500)
    is_online = (rng.random(n) < np.clip(0.35 + 0.2 * drift, 0.0, 1.0)).astype(np.float64)
    merchant_risk = np.round(np.clip(rng.beta(1.2, 40.0 / (1.0 + drift), n), 0.0, 1.0), 4)

    night = ((hour <= 4) | (hour >= 23)).astype(np.float64)
    logit = (
        _INTERCEPT
        + 0.8 * np.log1p(amount / 50.0)
        + 2.2 * night
        + 0.6 * np.log1p(distance / 10.0)
        + 1.2 * state_mismatch
        + 0.35 * np.minimum(transactions, 15.0)
        - 1.1 * np.log1p(account_age / 365.0)
        + 1.0 * is_online
        + 35.0 * merchant_risk
        + 1.2 * is_online * night
        + rng.normal(0.0, 0.3, n)
    )
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)
    X = np.column_stack(
        [amount, hour, distance, state_mismatch, transactions, account_age, is_online, merchant_risk]
    ).astype(np.float64)
    return X, y


def _csv_chunks(X: FloatArray, y: FloatArray) -> Iterator[str]:
    for start in range(0, len(X), _CHUNK_ROWS):
        block = np.column_stack([X[start : start + _CHUNK_ROWS], y[start : start + _CHUNK_ROWS]])
        yield (_ROW_FORMAT * len(block)) % tuple(block.ravel().tolist())


def write_csv(path: Path, X: FloatArray, y: FloatArray) -> None:
    """Write one CSV file with a header row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(header() + "\n")
        out.writelines(_csv_chunks(X, y))


def write_splits(
    out_dir: Path | str, rows: int, seed: int, drift: float = 0.0, *, shuffle_labels: bool = False
) -> dict[str, Path]:
    """Generate ``rows`` transactions and write ``train.csv``, ``validation.csv``, ``test.csv``.

    ``shuffle_labels`` permutes the labels within the train and the validation split, which
    severs them from the features (a model trained on them learns nothing) while keeping the
    fraud rate; the test split stays honest, so an evaluation on it shows the damage.
    Returns the path of each split by name.
    """
    out = Path(out_dir)
    X, y = generate(rows, seed, drift)
    shuffler = np.random.default_rng([seed, 1])  # its own stream: the features stay those of ``seed``
    paths: dict[str, Path] = {}
    start = 0
    for i, (name, fraction) in enumerate(SPLITS):
        stop = rows if i == len(SPLITS) - 1 else start + round(rows * fraction)
        labels = y[start:stop]
        if shuffle_labels and name != "test":
            labels = shuffler.permutation(labels)
        paths[name] = out / f"{name}.csv"
        write_csv(paths[name], X[start:stop], labels)
        start = stop
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``--rows N --seed S --out DIR [--drift F] [--shuffle-labels]``."""
    parser = argparse.ArgumentParser(prog="python -m training.synthetic", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="total rows over the three splits")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    parser.add_argument("--out", type=Path, required=True, help="directory to write the CSV files into")
    parser.add_argument("--drift", type=float, default=0.0, help="shift the feature distributions (0 = none)")
    parser.add_argument(
        "--shuffle-labels",
        action="store_true",
        help="shuffle the train and validation labels (a model trained on them learns nothing); test stays honest",
    )
    args = parser.parse_args(argv)
    if args.rows < 3:
        parser.error("--rows must be at least 3 (one row per split)")
    paths = write_splits(args.out, args.rows, args.seed, args.drift, shuffle_labels=args.shuffle_labels)
    for name, path in paths.items():
        print(f"wrote {name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
