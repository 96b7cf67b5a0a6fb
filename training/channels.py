# ruff: noqa: N803, N806 - X is the feature matrix, as in scikit-learn
"""Reading a job's CSV channels: the training job's ``train``/``validation``, the evaluation job's ``test``.

Every ``*.csv`` below a channel directory is read in sorted order, each with the
header ``<features in schema order>,is_fraud`` (what ``training.synthetic``
writes and the datasets hold). Values are checked against
``training.feature_schema``: an empty cell (or ``nan``) is a missing value, allowed
in the features the schema marks nullable, as serving allows it. Labels must be
0 or 1, with both classes present: a channel that breaks any of this fails the
job with a message naming the file and what is wrong.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Final, TextIO

import numpy as np
import numpy.typing as npt

from training.feature_schema import FEATURE_NAMES, FEATURES, LABEL, float_or_nan

FloatArray = npt.NDArray[np.float64]

_HEADER: Final = (*FEATURE_NAMES, LABEL)


class InputError(Exception):
    """A problem with a job's inputs; the message is what the job reports as its failure reason."""


_NULLABLE: Final = np.array([feature.nullable for feature in FEATURES])


def _check_values(name: str, file: str, X: FloatArray, y: FloatArray) -> None:
    bad_cells = ~np.isfinite(X) & ~(np.isnan(X) & _NULLABLE)
    if bad_cells.any():
        row, bad = (int(v) for v in np.argwhere(bad_cells)[0])
        raise InputError(
            f"channel '{name}' file {file}: column '{FEATURE_NAMES[bad]}' holds empty or non-finite values "
            f"(first at data row {row + 1}); only {', '.join(f.name for f in FEATURES if f.nullable)} may be empty"
        )
    for i, feature in enumerate(FEATURES):
        column = X[:, i][~np.isnan(X[:, i])]
        if not len(column):
            continue
        low, high = float(column.min()), float(column.max())
        if low < feature.minimum or high > feature.maximum:
            raise InputError(
                f"channel '{name}' file {file}: column '{feature.name}' has values in [{low:g}, {high:g}], "
                f"outside the schema range [{feature.minimum:g}, {feature.maximum:g}]"
            )
    if not np.isin(y, (0.0, 1.0)).all():
        raise InputError(f"channel '{name}' file {file}: label '{LABEL}' must be 0 or 1")


def _load(handle: TextIO) -> FloatArray:
    """The rows after the header; empty cells become NaN (numpy's fast path first, it refuses them)."""
    start = handle.tell()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "input contained no data": checked by the caller
        try:
            data: FloatArray = np.loadtxt(handle, delimiter=",", dtype=np.float64, ndmin=2)
        except ValueError:
            handle.seek(start)
            data = np.loadtxt(handle, delimiter=",", dtype=np.float64, ndmin=2, converters=float_or_nan)
    return data


def read_channel(name: str, directory: Path) -> tuple[FloatArray, FloatArray]:
    """Read every ``*.csv`` under a channel directory (sorted); check header, values and labels."""
    if not directory.is_dir():
        raise InputError(f"channel '{name}' is missing: no directory {directory}")
    files = sorted(p for p in directory.rglob("*.csv") if p.is_file())
    if not files:
        raise InputError(f"channel '{name}' is empty: no .csv files in {directory}")
    parts: list[FloatArray] = []
    for path in files:
        shown = str(path.relative_to(directory))
        with path.open("r", encoding="utf-8", newline="") as handle:
            first = handle.readline()
            columns = tuple(c.strip() for c in first.strip().split(","))
            if columns != _HEADER:
                raise InputError(
                    f"channel '{name}' file {shown}: header must be '{','.join(_HEADER)}', got '{first.strip()[:120]}'"
                )
            try:
                data = _load(handle)
            except ValueError as err:
                raise InputError(f"channel '{name}' file {shown}: malformed CSV: {str(err)[:200]}") from None
        if data.size == 0:
            continue
        if data.shape[1] != len(_HEADER):
            raise InputError(
                f"channel '{name}' file {shown}: rows must have {len(_HEADER)} columns, got {data.shape[1]}"
            )
        _check_values(name, shown, data[:, :-1], data[:, -1])
        parts.append(data)
    if not parts:
        raise InputError(f"channel '{name}' is empty: its .csv files hold a header but no rows")
    table = np.concatenate(parts) if len(parts) > 1 else parts[0]
    X, y = np.ascontiguousarray(table[:, :-1]), np.ascontiguousarray(table[:, -1])
    if len(np.unique(y)) < 2:
        raise InputError(f"channel '{name}' holds only {LABEL}={int(y[0])} rows; it needs both classes")
    return X, y
