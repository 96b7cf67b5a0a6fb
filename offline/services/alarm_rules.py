"""CloudWatch's alarm rules, as pure functions: a period's statistic, and the state a set of datapoints gives.

Sources (CloudWatch User Guide):

* "Using Amazon CloudWatch alarms" → "Evaluating an alarm": **Evaluation Periods** (N) is the
  number of most recent periods evaluated, **Datapoints to Alarm** (M) how many of them must
  breach for ALARM ("M out of N"); fewer than M breaching is OK;
* "Configuring how CloudWatch alarms treat missing data" → "How alarm state is evaluated when
  data is missing": CloudWatch retrieves more periods than N (the *evaluation range*); with at
  least N real datapoints in it, the N most recent real ones are evaluated and the missing-data
  setting does not matter; with fewer, the real ones are all evaluated, completed by as few
  missing datapoints as possible, treated per ``TreatMissingData`` (``breaching``,
  ``notBreaching``; ``missing``: INSUFFICIENT_DATA when nothing can be concluded; ``ignore``:
  the state is kept). :func:`decide` reproduces both example tables of that page (tested).
  The page's examples retrieve 5 periods for N = 3; AWS says the exact number depends on the
  period, offline mode uses N + 2 (:func:`evaluation_range`);
* "CloudWatch statistics definitions": SampleCount, Sum, Average, Minimum, Maximum, and the
  percentile ``pNN``; offline mode computes a percentile by linear interpolation between the
  closest ranks (numpy's default, Hyndman & Fan's type 7); CloudWatch's own method is not
  documented beyond "approximate";
* "Percentile-based alarms and low data samples": with ``EvaluateLowSampleCountPercentile``
  = ``ignore``, a percentile from fewer than 10/(1 - p) samples (10/p below p50) does not
  change the state.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from offline.services.cloudwatch_metrics import Sample

#: ComparisonOperator → (test, the words CloudWatch's StateReason uses).
COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
STATISTICS = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


@dataclass(frozen=True)
class Decision:
    """What the evaluated datapoints say: the state (None: keep the current one) and why."""

    state: str | None
    evaluated: tuple[int, ...]  # the indexes of the real datapoints evaluated, oldest first
    filled: int  # missing datapoints the evaluation treated per TreatMissingData


def evaluation_range(evaluation_periods: int) -> int:
    """How many recent periods are retrieved for an alarm of N evaluation periods."""
    return evaluation_periods + 2


def is_percentile(statistic: str) -> bool:
    return statistic.startswith("p") and _percentile_of(statistic) is not None


def statistic_of(samples: Sequence[Sample], statistic: str) -> float | None:
    """The period's statistic over its samples; None when CloudWatch would have no datapoint."""
    if not samples:
        return None
    count = sum(sample.count for sample in samples)
    if statistic == "SampleCount":
        return count
    if statistic == "Sum":
        return sum(sample.total for sample in samples)
    if statistic == "Average":
        return sum(sample.total for sample in samples) / count if count else None
    if statistic == "Minimum":
        return min(sample.minimum for sample in samples)
    if statistic == "Maximum":
        return max(sample.maximum for sample in samples)
    percent = _percentile_of(statistic)
    if percent is None:
        raise ValueError(f"statistic {statistic} is not evaluated offline")
    values = [value for sample in samples for value in (sample.values() or [])]
    return percentile(values, percent) if values else None


def percentile(values: Sequence[float], percent: float) -> float:
    """Linear interpolation between closest ranks (numpy.percentile's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * percent / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def low_sample_threshold(statistic: str) -> float:
    """Fewer samples than this make a percentile "low sample count" (10/(1-p), or 10/p below p50)."""
    percent = _percentile_of(statistic) or 50.0
    fraction = percent / 100
    return 10 / (1 - fraction) if fraction >= 0.5 else 10 / fraction


def decide(
    datapoints: Sequence[float | None], *, periods: int, to_alarm: int, breaches: Callable[[float], bool], treat: str
) -> Decision:
    """The state the evaluation range gives (oldest first, None = missing), per the User Guide's rules."""
    real = [index for index, value in enumerate(datapoints) if value is not None]
    if len(real) >= periods:
        chosen = tuple(real[-periods:])
        breaching = sum(1 for index in chosen if breaches(_value(datapoints, index)))
        return Decision("ALARM" if breaching >= to_alarm else "OK", chosen, 0)
    if not real:
        state = {"breaching": "ALARM", "notBreaching": "OK", "missing": "INSUFFICIENT_DATA"}.get(treat)
        return Decision(state, (), periods)
    missing = [index for index, value in enumerate(datapoints) if value is None]
    fills = missing[len(missing) - (periods - len(real)) :]
    breaching = sum(1 for index in real if breaches(_value(datapoints, index)))
    if treat in ("breaching", "notBreaching"):
        total = breaching + (len(fills) if treat == "breaching" else 0)
        return Decision("ALARM" if total >= to_alarm else "OK", tuple(real), len(fills))
    if breaching >= to_alarm:
        return Decision("ALARM", tuple(real), len(fills))
    if breaching < len(real):
        return Decision("OK", tuple(real), len(fills))
    # Only breaching datapoints, too few: "missing" alarms when the oldest evaluated one breaches
    # (the guide's sixth example), else cannot tell; "ignore" keeps the state.
    if treat == "missing":
        return Decision("ALARM" if real[0] < fills[0] else "INSUFFICIENT_DATA", tuple(real), len(fills))
    return Decision(None, tuple(real), len(fills))


def _value(datapoints: Sequence[float | None], index: int) -> float:
    value = datapoints[index]
    assert value is not None
    return value


def _percentile_of(statistic: str) -> float | None:
    try:
        percent = float(statistic[1:])
    except ValueError:
        return None
    return percent if statistic.startswith("p") and 0 <= percent <= 100 else None
