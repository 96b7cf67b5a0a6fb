"""CloudWatch alarm evaluation offline: the endpoint's alarms change state from the recorded metrics.

moto stores alarms but never evaluates them. Offline mode evaluates every alarm of namespace
``AWS/SageMaker`` (the only namespace whose metrics offline mode records:
``offline.services.endpoint_metrics``; API Gateway and Lambda alarms are never evaluated)
from its own definition as moto stores it (what ``PutMetricAlarm`` was given by the deployed
template): metric, namespace, exact dimensions, Statistic or ExtendedStatistic (``pNN``),
Unit, Period, EvaluationPeriods, DatapointsToAlarm, ComparisonOperator, Threshold,
TreatMissingData and EvaluateLowSampleCountPercentile, by CloudWatch's rules
(``offline.services.alarm_rules``, which names the CloudWatch User Guide pages).

Time is scaled like the Wait states: a period of P seconds lasts P / ``time_scale`` real
seconds; periods are aligned on multiples of that length since the epoch, and only complete
periods count (one ends ``settle_seconds`` before it is read, so that the last requests of a
period have been written). Datapoint timestamps are real wall-clock time.

A state change goes through moto's ``set_alarm_state`` with a StateReason and StateReasonData
worded as CloudWatch's (e.g. "Threshold Crossed: 1 out of the last 1 datapoints [0.25
(24/11/26 10:01:00)] was greater than or equal to the threshold (0.05) (minimum 1 datapoint
for OK -> ALARM transition)."), so the patched method (``offline.moto_patches.cloudwatch``)
runs the alarm's actions as CloudWatch would, through the topic policy. Alarms on metric math,
or with a statistic or comparison offline mode does not evaluate (trimmed means, anomaly
bands), are left as they are, said once in the log.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from offline.services import alarm_rules, cloudwatch_metrics

NAMESPACE = "AWS/SageMaker"


@dataclass(frozen=True)
class Definition:
    """What one alarm evaluates, read from moto's stored alarm."""

    name: str
    metric: str
    dimensions: dict[str, str]
    statistic: str  # "Average", ... or "p99"
    unit: str | None
    period: float  # seconds, as defined (unscaled)
    periods: int  # EvaluationPeriods (N)
    to_alarm: int  # DatapointsToAlarm (M)
    comparison: str
    threshold: float
    treat: str
    low_samples: str | None

    @classmethod
    def of(cls, alarm: Any) -> Definition:
        """The alarm's definition; ValueError says why offline mode cannot evaluate it."""
        statistic = str(alarm.extended_statistic or alarm.statistic or "")
        if alarm.metric_data_queries:
            raise ValueError("it is an alarm on metric math")
        if statistic not in alarm_rules.STATISTICS and not alarm_rules.is_percentile(statistic):
            raise ValueError(f"its statistic {statistic or '(none)'} is not evaluated offline")
        if alarm.comparison_operator not in alarm_rules.COMPARISONS:
            raise ValueError(f"its comparison {alarm.comparison_operator} is not evaluated offline")
        periods = int(alarm.evaluation_periods)
        treat = str(alarm.treat_missing_data or "missing")
        return cls(
            name=str(alarm.name),
            metric=str(alarm.metric_name),
            dimensions=cloudwatch_metrics.dimension_map(alarm.dimensions),
            statistic=statistic,
            unit=None if alarm.unit is None else str(alarm.unit),
            period=float(alarm.period),
            periods=periods,
            to_alarm=int(alarm.datapoints_to_alarm or periods),
            comparison=str(alarm.comparison_operator),
            threshold=float(alarm.threshold),
            treat=treat if treat in alarm_rules.TREATMENTS else "missing",
            low_samples=alarm.evaluate_low_sample_count_percentile,
        )

    def breaches(self, value: float) -> bool:
        return alarm_rules.COMPARISONS[self.comparison][0](value, self.threshold)


@dataclass(frozen=True)
class Datapoint:
    start: float  # the period's start (epoch seconds)
    value: float | None
    samples: float


class AlarmEvaluator:
    """Evaluates the AWS/SageMaker alarms of the local AWS, on a daemon thread or on demand."""

    def __init__(
        self,
        *,
        account: str,
        region: str,
        time_scale: float = 60.0,
        log: Callable[[str], None] = print,
        settle_seconds: float = 0.2,
    ) -> None:
        self.account = account
        self.region = region
        self.time_scale = time_scale
        self.log = log
        self.settle_seconds = settle_seconds
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._skipped: set[str] = set()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="alarm-evaluation", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def alarm_states(self, names: list[str]) -> dict[str, tuple[str, str]]:
        """name → (StateValue, StateReason) of each named alarm that exists."""
        alarms = cloudwatch_metrics.backend(self.account, self.region).alarms
        found = {name: alarms.get(name) for name in names}
        return {name: (str(a.state_value), str(a.state_reason)) for name, a in found.items() if a is not None}

    def evaluate_now(self, now: float | None = None) -> None:
        """Evaluate every AWS/SageMaker alarm once, at ``now`` (default: the current time)."""
        at = time.time() if now is None else now
        with self._lock:
            for alarm in list(cloudwatch_metrics.backend(self.account, self.region).alarms.values()):
                if alarm.namespace == NAMESPACE:
                    self._evaluate(alarm, at)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.evaluate_now()
            except Exception as error:  # the thread must outlive one bad evaluation
                self.log(f"alarm evaluation failed: {error}")
            self._stop.wait(self._interval())

    def _interval(self) -> float:
        """A quarter of the shortest scaled period, so a state changes soon after its period ends."""
        alarms = cloudwatch_metrics.backend(self.account, self.region).alarms.values()
        periods = [float(a.period) for a in list(alarms) if a.namespace == NAMESPACE and a.period]
        return max(0.05, min(periods, default=60.0) / self.time_scale / 4)

    def _evaluate(self, alarm: Any, now: float) -> None:
        try:
            definition = Definition.of(alarm)
        except ValueError as why:
            if alarm.name not in self._skipped:
                self._skipped.add(alarm.name)
                self.log(f"alarm {alarm.name} is not evaluated offline: {why}")
            return
        datapoints = self._datapoints(definition, now)
        values = [point.value for point in datapoints]
        decision = alarm_rules.decide(
            values,
            periods=definition.periods,
            to_alarm=definition.to_alarm,
            breaches=definition.breaches,
            treat=definition.treat,
        )
        old = str(alarm.state_value)
        if decision.state is None or decision.state == old or self._too_few_samples(definition, datapoints, decision):
            return
        reason = _reason(definition, datapoints, decision, old)
        data = _reason_data(definition, datapoints, decision, now)
        try:
            cloudwatch_metrics.backend(self.account, self.region).set_alarm_state(
                definition.name, reason, data, decision.state
            )
        except Exception as error:  # deleted meanwhile; the next round will not see it
            self.log(f"alarm {definition.name}: could not set {decision.state}: {error}")
            return
        self.log(f"alarm {definition.name}: {old} → {decision.state}: {reason}")

    def _datapoints(self, definition: Definition, now: float) -> list[Datapoint]:
        """The statistic of each period of the evaluation range, oldest first."""
        length = definition.period / self.time_scale
        last = math.floor((now - self.settle_seconds) / length) - 1
        count = alarm_rules.evaluation_range(definition.periods)
        first = last - count + 1
        samples = cloudwatch_metrics.read_samples(
            self.account,
            self.region,
            namespace=NAMESPACE,
            metric=definition.metric,
            dimensions=definition.dimensions,
            since=first * length,
            unit=definition.unit,
        )
        slots: list[list[cloudwatch_metrics.Sample]] = [[] for _ in range(count)]
        for sample in samples:
            slot = math.floor(sample.at / length) - first
            if 0 <= slot < count:
                slots[slot].append(sample)
        return [
            Datapoint((first + i) * length, alarm_rules.statistic_of(slot, definition.statistic), _count(slot))
            for i, slot in enumerate(slots)
        ]

    @staticmethod
    def _too_few_samples(definition: Definition, points: Sequence[Datapoint], decision: alarm_rules.Decision) -> bool:
        if definition.low_samples != "ignore" or not alarm_rules.is_percentile(definition.statistic):
            return False
        least = alarm_rules.low_sample_threshold(definition.statistic)
        return any(points[index].samples < least for index in decision.evaluated)


def _count(samples: Sequence[cloudwatch_metrics.Sample]) -> float:
    return sum(sample.count for sample in samples)


def _reason(definition: Definition, points: Sequence[Datapoint], decision: alarm_rules.Decision, old: str) -> str:
    """The StateReason, in CloudWatch's words."""
    new = decision.state
    treated = {"breaching": "Breaching", "notBreaching": "NonBreaching"}.get(definition.treat)
    if new == "INSUFFICIENT_DATA":
        unknown = sum(1 for point in points if point.value is None)
        return f"Insufficient Data: {_plural(unknown, 'datapoint')} {_was(unknown)} unknown."
    if not decision.evaluated:
        n = decision.filled
        return (
            f"Threshold Crossed: no datapoints were received for {_plural(n, 'period')} and "
            f"{_plural(n, 'missing datapoint')} {_was(n)} treated as [{treated}]."
        )
    alarming = new == "ALARM"
    listed = [points[i] for i in reversed(decision.evaluated) if definition.breaches(_known(points[i])) == alarming]
    words = alarm_rules.COMPARISONS[definition.comparison][1]
    shown = ", ".join(f"{_number(_known(p))} ({_when(p.start)})" for p in listed)
    text = (
        f"Threshold Crossed: {len(listed)} out of the last {definition.periods} datapoints [{shown}] "
        f"{_was(len(listed))} {'' if alarming else 'not '}{words} the threshold ({_number(definition.threshold)})"
    )
    if decision.filled and treated:
        text += f" and {_plural(decision.filled, 'missing datapoint')} {_was(decision.filled)} treated as [{treated}]"
    needed = definition.to_alarm if alarming else definition.periods - definition.to_alarm + 1
    return f"{text} (minimum {_plural(needed, 'datapoint')} for {old} -> {new} transition)."


def _reason_data(
    definition: Definition, points: Sequence[Datapoint], decision: alarm_rules.Decision, now: float
) -> str:
    """The StateReasonData JSON CloudWatch attaches to a threshold alarm's state change."""
    evaluated = [points[i] for i in decision.evaluated]
    key = "extendedStatistic" if alarm_rules.is_percentile(definition.statistic) else "statistic"
    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": _iso(now),
        "startDate": _iso(points[0].start) if points else _iso(now),
        key: definition.statistic,
        "period": int(definition.period),
        "recentDatapoints": [_known(point) for point in evaluated],
        "threshold": definition.threshold,
        "evaluatedDatapoints": [
            {"timestamp": _iso(point.start), "sampleCount": point.samples, "value": _known(point)}
            for point in reversed(evaluated)
        ],
    }
    return json.dumps(data)


def _known(point: Datapoint) -> float:
    assert point.value is not None
    return point.value


def _number(value: float) -> str:
    return repr(float(value))


def _when(at: float) -> str:
    return time.strftime("%d/%m/%y %H:%M:%S", time.gmtime(at))


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}+0000"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _was(count: int) -> str:
    return "was" if count == 1 else "were"
