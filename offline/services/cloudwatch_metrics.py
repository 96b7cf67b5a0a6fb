"""Metric datapoints in the local AWS: where offline mode writes them and how it reads them back.

The store is moto's CloudWatch backend (``cloudwatch_backends[account][region].metric_data``),
so ``aws cloudwatch get-metric-statistics`` and ``list-metrics`` see what offline mode writes.
moto keeps each datapoint as it was put: a ``MetricDatum`` (one value) or a
``MetricAggregatedDatum`` (a statistic set: SampleCount, Sum, Minimum, Maximum), with a naive
UTC ``timestamp`` and its dimensions as ``Dimension(name, value)`` objects.

Reads follow CloudWatch's rules:

* a metric is its namespace, name and its exact set of dimensions: "CloudWatch treats each
  unique combination of dimensions as a separate metric" (CloudWatch User Guide, "Metrics
  concepts" → "Dimensions"); a datapoint stored with one more dimension is another metric;
* percentiles come from the raw values; a statistic set counts only when its values are all
  the same (SampleCount 1, or Minimum equal to Maximum), as "CloudWatch statistics
  definitions" says of percentiles on data published as statistic sets.

Namespaces that begin with ``AWS/`` are written by offline mode alone (AWS reserves them for
its services; CloudWatch API Reference, PutMetricData, Namespace), in time order, so a read
of one stops at the first of its datapoints older than the read's start; other namespaces
are read in full.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

UTC = datetime.UTC


@dataclass(frozen=True)
class Sample:
    """One stored datapoint, as a statistic set (a single value is a set of one)."""

    at: float  # seconds since the epoch
    count: float
    total: float
    minimum: float
    maximum: float
    unit: str | None

    def values(self) -> list[float] | None:
        """The raw values, where CloudWatch can know them (for percentiles); else None."""
        if self.count == 1 or self.minimum == self.maximum:
            return [self.minimum] * int(self.count)
        return None


def backend(account: str, region: str) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[account][region]


def to_datetime(at: float) -> datetime.datetime:
    """moto's timestamp for ``at``: naive, in UTC."""
    return datetime.datetime.fromtimestamp(at, tz=UTC).replace(tzinfo=None)


def to_epoch(timestamp: datetime.datetime) -> float:
    aware = timestamp if timestamp.tzinfo is not None else timestamp.replace(tzinfo=UTC)
    return aware.timestamp()


def same_dimensions(stored: Iterable[Any], wanted: Mapping[str, str]) -> bool:
    """Whether moto's ``Dimension`` objects are exactly ``wanted`` (no more, no fewer)."""
    found = {(dimension.name, dimension.value) for dimension in stored}
    return found == set(wanted.items())


def dimension_map(dimensions: Iterable[Any]) -> dict[str, str]:
    """moto's ``Dimension`` objects (an alarm's, a datapoint's) as a name → value map."""
    return {str(dimension.name): str(dimension.value) for dimension in dimensions}


def read_samples(
    account: str,
    region: str,
    *,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, str],
    since: float,
    unit: str | None = None,
) -> list[Sample]:
    """The stored datapoints of one metric from ``since`` on, oldest first."""
    stored = backend(account, region).metric_data
    start = to_datetime(since)
    ordered = namespace.startswith("AWS/")
    found: list[Sample] = []
    for index in range(len(stored) - 1, -1, -1):
        datum = stored[index]
        if datum.namespace != namespace:
            continue
        if datum.timestamp < start:
            if ordered:
                break
            continue
        if datum.name != metric or not same_dimensions(datum.dimensions, dimensions):
            continue
        if unit is not None and datum.unit != unit:
            continue
        found.append(_sample(datum))
    found.reverse()
    return found


def _sample(datum: Any) -> Sample:
    at = to_epoch(datum.timestamp)
    unit = None if datum.unit is None else str(datum.unit)
    if hasattr(datum, "value"):
        value = float(datum.value)
        return Sample(at, 1.0, value, value, value, unit)
    return Sample(at, float(datum.sample_count), float(datum.sum), float(datum.min), float(datum.max), unit)
