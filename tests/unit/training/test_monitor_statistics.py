"""PSI, the two-sample tests and the per-column decision."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from training.baseline import column_baseline
from training.drift.statistics import EPSILON, Tolerance, compare_column, psi

RNG = np.random.default_rng(11)
TRAINING = RNG.normal(50.0, 10.0, 20_000)


def _compare(baseline: dict[str, Any], live: np.ndarray, **kwargs: Any) -> dict[str, Any]:
    flags = np.zeros(live.size, dtype=bool)
    return compare_column(baseline, live, missing=flags, invalid=flags, tolerance=Tolerance(), **kwargs)


def test_psi_of_identical_shares_is_zero() -> None:
    assert psi([10, 20, 70], [1, 2, 7]) == pytest.approx(0.0)


def test_psi_is_the_formula_over_bin_shares() -> None:
    # Given shares 0.5/0.5 in training and 0.2/0.8 live
    expected = (0.2 - 0.5) * math.log(0.2 / 0.5) + (0.8 - 0.5) * math.log(0.8 / 0.5)
    assert psi([50, 50], [20, 80]) == pytest.approx(expected)


def test_an_empty_bin_counts_as_epsilon_so_psi_stays_finite() -> None:
    value = psi([100, 0], [50, 50])
    share = 0.5
    assert value == pytest.approx((share - 1.0) * math.log(share / 1.0) + (share - EPSILON) * math.log(share / EPSILON))


def test_psi_refuses_empty_counts() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        psi([0, 0], [1, 2])


def test_the_same_distribution_does_not_drift() -> None:
    # Given a baseline and 2,000 live values from the same normal
    baseline = column_baseline("amount", TRAINING, "float", seed=0)
    entry = _compare(baseline, RNG.normal(50.0, 10.0, 2_000))
    # Then PSI is small, KS does not reject, the column is not drifted
    assert entry["test"] == "ks"
    assert entry["psi"] < 0.05
    assert entry["p_value"] > 0.01
    assert entry["drifted"] is False
    assert sum(entry["bins"]["live_counts"]) == entry["live_count"] == 2_000


def test_a_shifted_distribution_drifts() -> None:
    # Given live values one standard deviation higher
    baseline = column_baseline("amount", TRAINING, "float", seed=0)
    entry = _compare(baseline, RNG.normal(60.0, 10.0, 2_000))
    # Then PSI passes the threshold, KS rejects, the column drifted
    assert entry["psi"] > 0.5
    assert entry["p_value"] < 1e-10
    assert entry["drifted"] is True
    assert entry["live_mean"] == pytest.approx(60.0, abs=1.0)


def test_a_significant_but_small_shift_is_not_drift() -> None:
    # Given 200,000 live values shifted by a twentieth of a standard deviation
    baseline = column_baseline("amount", TRAINING, "float", seed=0)
    entry = _compare(baseline, RNG.normal(50.5, 10.0, 200_000))
    # Then the test may reject, but PSI says the shift is too small to matter
    assert entry["psi"] < 0.2
    assert entry["drifted"] is False


def test_a_bool_column_is_compared_with_chi_square() -> None:
    # Given 35 % ones in training and 75 % live
    baseline = column_baseline("is_online", (RNG.random(10_000) < 0.35).astype(float), "bool", seed=0)
    entry = _compare(baseline, (RNG.random(1_000) < 0.75).astype(float))
    assert entry["test"] == "chi2"
    assert entry["p_value"] < 1e-10
    assert entry["drifted"] is True


def test_a_constant_bool_on_both_sides_does_not_drift() -> None:
    baseline = column_baseline("is_online", np.zeros(100), "bool", seed=0)
    entry = _compare(baseline, np.zeros(50))
    assert (entry["psi"], entry["p_value"], entry["drifted"]) == (pytest.approx(0.0), 1.0, False)


def test_without_a_decision_nothing_drifts() -> None:
    baseline = column_baseline("amount", TRAINING, "float", seed=0)
    entry = _compare(baseline, RNG.normal(90.0, 10.0, 50), decide=False)
    assert entry["psi"] > 1.0
    assert entry["drifted"] is False


def test_rates_count_missing_and_invalid_cells_over_all_rows() -> None:
    baseline = column_baseline("amount", TRAINING, "float", seed=0)
    live = np.array([50.0, np.nan, np.nan, 48.0])
    entry = compare_column(
        baseline,
        live,
        missing=np.array([False, True, False, False]),
        invalid=np.array([False, False, True, False]),
        tolerance=Tolerance(),
    )
    assert (entry["missing_rate"], entry["invalid_rate"], entry["live_count"]) == (0.25, 0.25, 2)


def test_a_column_without_live_values_has_no_statistics() -> None:
    baseline = column_baseline("amount", TRAINING, "float", seed=0)
    entry = _compare(baseline, np.full(10, np.nan))
    assert (entry["psi"], entry["p_value"], entry["drifted"], entry["live_count"]) == (None, None, False, 0)
