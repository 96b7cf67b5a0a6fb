"""The training baseline: what the drift job compares live data with.

Training writes ``baseline.json`` into the model dir (so it travels inside ``model.tar.gz`` with
the model it describes, and the drift job of a live model always reads that model's baseline).
It holds, for every feature of :mod:`training.feature_schema` (over the **training** split) and
for the predicted probability (over the **validation** split: held-out rows, scored as live
rows are, not the training rows the trees have fitted):

* descriptive statistics: ``count``, ``missing``, ``mean``, ``std``, ``min``, ``max``, ``quantiles``;
* ``bins``: fixed interior ``edges`` and the training ``counts`` per bin, for PSI. Numeric
  columns use the distinct training deciles above the minimum, so each bin holds about a tenth of
  the training rows (a whole-number feature with few values gets one bin per value instead). A value ``v`` falls in
  bin ``i`` = the number of edges ``<= v``: bin 0 is ``(-inf, edges[0])``, the last
  ``[edges[-1], inf)``, so a live value outside the training range still has a bin.
  ``bool`` features are categorical: one edge, 0.5, two bins;
* ``test``: the two-sample test the drift job runs: ``ks`` (Kolmogorov-Smirnov, numeric) or
  ``chi2`` (chi-square on the bin counts, categorical);
* ``sample``: up to :data:`SAMPLE_SIZE` training values drawn without replacement with a fixed
  seed, the training side of the KS test (7 significant digits: enough for a test, half the bytes).

The file is about 200 KB, whatever the training set's size.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from training.feature_schema import FEATURES

FloatArray = npt.NDArray[np.float64]

BASELINE_FILE: Final = "baseline.json"
SCHEMA_VERSION: Final = 1
#: Values per column kept for the two-sample test. KS with 2,000 training values detects a
#: shift of a tenth of a standard deviation against a day of traffic; more buys little.
SAMPLE_SIZE: Final = 2_000
#: Bins per numeric column (deciles): PSI's usual resolution.
BINS: Final = 10
QUANTILES: Final = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
PROBABILITY: Final = "probability"
#: Kind of a column per its feature; the probability is a float.
CATEGORICAL_KINDS: Final = frozenset({"bool"})


def bin_edges(values: FloatArray, kind: str, bins: int = BINS) -> list[float]:
    """The interior bin edges of a column: 0.5 for a bool, else its distinct training deciles."""
    if kind in CATEGORICAL_KINDS:
        return [0.5]
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return []
    # Deciles that are data values (no interpolation: 1.5 is no edge for a whole-number feature);
    # an edge at the minimum would only open an empty first bin.
    deciles = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1], method="inverted_cdf")
    return [float(edge) for edge in np.unique(deciles) if edge > finite.min()]


def bin_counts(values: FloatArray, edges: Sequence[float]) -> list[int]:
    """How many finite ``values`` fall in each bin (``len(edges) + 1`` bins, see the module docstring)."""
    finite = values[np.isfinite(values)]
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), finite, side="right")
    return [int(c) for c in np.bincount(index, minlength=len(edges) + 1)]


def _short(value: float) -> float:
    return float(f"{value:.7g}")


def column_baseline(
    name: str, values: FloatArray, kind: str, *, seed: int, sample_size: int = SAMPLE_SIZE
) -> dict[str, Any]:
    """The baseline of one column (see the module docstring for the fields)."""
    finite = values[np.isfinite(values)]
    stats: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "test": "chi2" if kind in CATEGORICAL_KINDS else "ks",
        "count": int(values.size),
        "missing": int(values.size - finite.size),
    }
    if finite.size:
        stats |= {
            "mean": float(finite.mean()),
            "std": float(finite.std()),
            "min": float(finite.min()),
            "max": float(finite.max()),
            "quantiles": {str(q): float(v) for q, v in zip(QUANTILES, np.quantile(finite, QUANTILES), strict=True)},
        }
    else:
        stats |= {"mean": None, "std": None, "min": None, "max": None, "quantiles": {}}
    edges = bin_edges(finite, kind)
    stats["bins"] = {"edges": edges, "counts": bin_counts(finite, edges)}
    rng = np.random.default_rng(seed)
    picked = finite if finite.size <= sample_size else rng.choice(finite, size=sample_size, replace=False)
    stats["sample"] = [_short(float(v)) for v in picked]
    return stats


def build_baseline(X_train: FloatArray, probability: FloatArray, *, seed: int = 0) -> dict[str, Any]:  # noqa: N803
    """The baseline document of a training run: its features (training rows) and probabilities (validation rows)."""
    if X_train.ndim != 2 or X_train.shape[1] != len(FEATURES):
        raise ValueError(f"X_train must have {len(FEATURES)} columns, got shape {X_train.shape}")
    features = [
        column_baseline(feature.name, X_train[:, i], feature.kind, seed=seed + i) for i, feature in enumerate(FEATURES)
    ]
    return {
        "schema_version": SCHEMA_VERSION,
        "rows": {"train": int(X_train.shape[0]), "probability": int(probability.size)},
        "probability_source": "validation",
        "sample_size": SAMPLE_SIZE,
        "features": features,
        "prediction": column_baseline(PROBABILITY, probability, "float", seed=seed + len(FEATURES)),
    }


def write_baseline(model_dir: Path, baseline: dict[str, Any]) -> Path:
    """Write ``baseline.json`` into the model dir; return its path."""
    path = model_dir / BASELINE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(baseline, separators=(",", ":")) + "\n", encoding="utf-8")
    return path
