"""Per-column drift statistics: PSI over the baseline's bins and a two-sample test from scipy.

* **PSI** (population stability index) measures how far the live distribution moved, over the
  training bins of ``training.baseline``: ``sum((live - train) * ln(live / train))`` over the bin
  shares. It is a formula, not a test, computed here with numpy; an empty bin's share is raised to
  :data:`EPSILON` so that the logarithm stays finite (a bin empty on both sides adds 0).
* **The test** says whether the move could be noise: ``scipy.stats.ks_2samp`` (two-sample
  Kolmogorov-Smirnov) between the baseline's training sample and every live value for numeric
  columns; ``scipy.stats.chi2_contingency`` on the training and live bin counts for categorical
  (``bool``) ones. Whole-number columns go through KS too: ties make its p-value conservative,
  which errs towards "no drift".

A column **drifted** when ``PSI >= psi`` **and** ``p < p_value``: large enough to matter and
unlikely to be chance. With thousands of live rows the test alone flags shifts too small to
matter; with few rows PSI alone flags noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from training.baseline import bin_counts

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: The share an empty bin counts as in PSI (0.01 %): finite, and small next to any real share.
EPSILON: Final = 1e-4
#: The defaults of ``config.drift.tolerance`` (stacks/monitoring_config.py).
DEFAULT_PSI: Final = 0.2
DEFAULT_P_VALUE: Final = 0.01


@dataclass(frozen=True, slots=True)
class Tolerance:
    """When a column counts as drifted."""

    psi: float = DEFAULT_PSI
    p_value: float = DEFAULT_P_VALUE


def psi(expected: Sequence[int], actual: Sequence[int], epsilon: float = EPSILON) -> float:
    """The population stability index of ``actual`` bin counts against ``expected`` ones."""
    e, a = np.asarray(expected, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape or e.sum() <= 0 or a.sum() <= 0:
        raise ValueError("psi needs two non-empty count vectors of the same length")
    e_share = np.clip(e / e.sum(), epsilon, None)
    a_share = np.clip(a / a.sum(), epsilon, None)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


def two_sample_test(
    test: str, baseline: dict[str, Any], live: FloatArray, live_counts: list[int]
) -> tuple[float, float]:
    """``(statistic, p-value)`` of the column's test (``ks`` or ``chi2``) against the baseline."""
    from scipy import stats

    if test == "chi2":
        table = np.array([baseline["bins"]["counts"], live_counts], dtype=np.float64)
        table = table[:, table.sum(axis=0) > 0]
        if table.shape[1] < 2:  # one category on both sides: nothing to tell apart
            return 0.0, 1.0
        chi2 = stats.chi2_contingency(table)
        return float(chi2.statistic), float(chi2.pvalue)
    if test == "ks":
        ks = stats.ks_2samp(np.asarray(baseline["sample"], dtype=np.float64), live)
        return float(ks.statistic), float(ks.pvalue)
    raise ValueError(f"unknown test {test!r} in the baseline")


def _rate(flags: BoolArray, rows: int) -> float:
    return float(flags.sum()) / rows if rows else 0.0


def _mean(values: FloatArray) -> float | None:
    return float(values.mean()) if values.size else None


def compare_column(
    baseline: dict[str, Any],
    values: FloatArray,
    *,
    missing: BoolArray,
    invalid: BoolArray,
    tolerance: Tolerance,
    decide: bool = True,
) -> dict[str, Any]:
    """The report entry of one column: statistics, rates, the decision and the histogram behind PSI.

    ``values`` are the live values, NaN where missing or invalid. ``decide=False`` (too little
    data to judge) computes the figures but never calls the column drifted.
    """
    rows = int(values.size)
    live = values[np.isfinite(values)]
    edges = baseline["bins"]["edges"]
    live_counts = bin_counts(live, edges)
    entry: dict[str, Any] = {
        "name": baseline["name"],
        "test": baseline["test"],
        "psi": None,
        "statistic": None,
        "p_value": None,
        "drifted": False,
        "missing_rate": _rate(missing, rows),
        "invalid_rate": _rate(invalid, rows),
        "live_count": int(live.size),
        "baseline_count": int(baseline["count"] - baseline["missing"]),
        "live_mean": _mean(live),
        "baseline_mean": baseline.get("mean"),
        "bins": {"edges": edges, "baseline_counts": baseline["bins"]["counts"], "live_counts": live_counts},
    }
    if live.size == 0 or sum(baseline["bins"]["counts"]) == 0:
        return entry
    entry["psi"] = psi(baseline["bins"]["counts"], live_counts)
    entry["statistic"], entry["p_value"] = two_sample_test(baseline["test"], baseline, live, live_counts)
    entry["drifted"] = bool(decide and entry["psi"] >= tolerance.psi and entry["p_value"] < tolerance.p_value)
    return entry
