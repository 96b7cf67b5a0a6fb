"""SageMaker endpoint invocation metrics offline, written into the local AWS's CloudWatch.

SageMaker publishes, for every InvokeEndpoint request, in namespace ``AWS/SageMaker``
(SageMaker Developer Guide, "Amazon SageMaker AI metrics in Amazon CloudWatch", "Endpoint
invocation metrics"): ``Invocations`` (the requests; Sum counts them), ``Invocation4XXErrors``
and ``Invocation5XXErrors`` (1 for a request the model answered with that class of status,
else 0, so that Average is the error rate), ``ModelLatency`` (the container's time, in
microseconds) and ``OverheadLatency`` (SageMaker's own time around it, in microseconds), under
the dimensions ``EndpointName, VariantName`` and ``EndpointName, VariantName,
EndpointConfigName``. Offline mode records the same, for each request the local SageMaker
Runtime forwards, so that ``aws cloudwatch get-metric-statistics`` shows them and the
endpoint's alarms can be evaluated on them (``offline.services.alarm_evaluation``).

``record`` only queues the request: a timer writes the queue into moto's CloudWatch backend
every ``flush_interval`` seconds (and ``flush`` does at once), so a few hundred requests a
second cost the runtime almost nothing. The counts are written as statistic sets of one value
each (SampleCount n, Minimum = Maximum), per 50 ms of requests, which keeps every statistic,
percentiles included, exact; latencies are written one value per request (a percentile needs
them all). Datapoints are timestamped with the request's time, never earlier than one already
written: the series stays in time order (``offline.services.cloudwatch_metrics``).
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offline.services import cloudwatch_metrics

NAMESPACE = "AWS/SageMaker"
#: Requests within this many seconds share one statistic set per count metric and value.
COUNT_BUCKET_SECONDS = 0.05
#: moto's PutMetricData takes at most this many datapoints per call, as CloudWatch does.
_BATCH = 1000


@dataclass(frozen=True)
class Invocation:
    """One request the local SageMaker Runtime forwarded to a model server."""

    endpoint: str
    variant: str
    config_name: str
    #: The container's HTTP status (200, 4xx, 5xx); 5xx also for "did not answer".
    status: int
    #: Time the container took (microseconds).
    model_latency_us: int
    #: The runtime's own time around it (microseconds).
    overhead_latency_us: int
    #: time.time() of the request.
    at: float


class EndpointMetrics:
    """Queues invocations and writes their CloudWatch metrics into the local AWS."""

    def __init__(
        self,
        *,
        account: str,
        region: str,
        flush_interval: float = 0.1,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.account = account
        self.region = region
        self.flush_interval = flush_interval
        self.log = log
        self._pending: list[Invocation] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._watermark = 0.0
        self.recorded = 0

    def record(self, invocation: Invocation) -> None:
        """Queue one request's metrics. Cheap and thread-safe; never raises into the caller."""
        if not isinstance(invocation, Invocation):
            return
        try:
            with self._lock:
                self._pending.append(invocation)
                self.recorded += 1
                if self._timer is None:
                    self._timer = threading.Timer(self.flush_interval, self._timed_flush)
                    self._timer.daemon = True
                    self._timer.start()
        except Exception:  # a metric must never fail the request it describes
            return

    def flush(self) -> None:
        """Write every queued request's datapoints into moto's CloudWatch backend now."""
        with self._flush_lock:
            with self._lock:
                pending, self._pending = self._pending, []
            if not pending:
                return
            data = self._datapoints(sorted(pending, key=lambda invocation: invocation.at))
            store = cloudwatch_metrics.backend(self.account, self.region)
            for start in range(0, len(data), _BATCH):
                store.put_metric_data(NAMESPACE, data[start : start + _BATCH])

    def close(self) -> None:
        """Stop the timer and write what is queued."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.flush()

    def _timed_flush(self) -> None:
        with self._lock:
            self._timer = None
        try:
            self.flush()
        except Exception as error:  # the timer thread has no caller to raise to
            if self.log is not None:
                self.log(f"endpoint metrics: could not write datapoints: {error}")

    def _datapoints(self, invocations: list[Invocation]) -> list[dict[str, Any]]:
        counts: dict[tuple[str, tuple[tuple[str, str], ...], float, int], list[float]] = defaultdict(list)
        latencies: list[dict[str, Any]] = []
        for invocation in invocations:
            at = max(invocation.at, self._watermark)
            self._watermark = at
            bucket = math.floor(at / COUNT_BUCKET_SECONDS)
            for dimensions in _dimension_sets(invocation):
                for metric, value in _counts(invocation.status):
                    counts[(metric, dimensions, value, bucket)].append(at)
                for metric, micros in (
                    ("ModelLatency", invocation.model_latency_us),
                    ("OverheadLatency", invocation.overhead_latency_us),
                ):
                    latencies.append(_value(metric, dimensions, float(micros), at, "Microseconds"))
        sets = [_statistic_set(metric, dims, value, times) for (metric, dims, value, _), times in counts.items()]
        return sorted(sets + latencies, key=lambda datum: datum["Timestamp"])


def _dimension_sets(invocation: Invocation) -> tuple[tuple[tuple[str, str], ...], ...]:
    variant = (("EndpointName", invocation.endpoint), ("VariantName", invocation.variant))
    return variant, (*variant, ("EndpointConfigName", invocation.config_name))


def _counts(status: int) -> tuple[tuple[str, float], ...]:
    return (
        ("Invocations", 1.0),
        ("Invocation4XXErrors", 1.0 if 400 <= status < 500 else 0.0),
        ("Invocation5XXErrors", 1.0 if status >= 500 else 0.0),
    )


def _dimensions(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"Name": name, "Value": value} for name, value in pairs]


def _value(metric: str, dimensions: tuple[tuple[str, str], ...], value: float, at: float, unit: str) -> dict[str, Any]:
    timestamp = cloudwatch_metrics.to_datetime(at)
    return {
        "MetricName": metric,
        "Dimensions": _dimensions(dimensions),
        "Timestamp": timestamp,
        "Value": value,
        "Unit": unit,
    }


def _statistic_set(
    metric: str, dimensions: tuple[tuple[str, str], ...], value: float, times: list[float]
) -> dict[str, Any]:
    count = float(len(times))
    return {
        "MetricName": metric,
        "Dimensions": _dimensions(dimensions),
        "Timestamp": cloudwatch_metrics.to_datetime(max(times)),
        "StatisticValues": {"SampleCount": count, "Sum": count * value, "Minimum": value, "Maximum": value},
        "Unit": "None",
    }
