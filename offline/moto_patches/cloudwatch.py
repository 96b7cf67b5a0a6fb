"""Patches to moto's CloudWatch: ``SetAlarmState`` runs the alarm's actions; metrics match exactly.

* ``CloudWatchBackend.set_alarm_state``: moto changes the state and stops there;
  ``offline.services.cloudwatch_alarms`` publishes to the alarm's SNS actions as CloudWatch
  would, authorized against the topic and key policies. Offline alarm evaluation
  (``offline.services.alarm_evaluation``) changes states through it too.
* ``CloudWatchBackend.get_metric_statistics``: moto returned every datapoint whose dimensions
  include the requested ones, so a metric recorded under ``EndpointName, VariantName`` and
  under ``EndpointName, VariantName, EndpointConfigName`` (as SageMaker publishes it) was
  counted twice. CloudWatch matches the exact set ("CloudWatch treats each unique
  combination of dimensions as a separate metric ... If a specific combination of dimensions
  was not published, you can't retrieve statistics for it": CloudWatch API Reference,
  GetMetricStatistics, Dimensions); offline, each period keeps only those datapoints.
"""

from __future__ import annotations

from typing import Any

from moto.cloudwatch.models import CloudWatchBackend

from offline.moto_patches._registry import original, patch
from offline.run.active import current
from offline.services import cloudwatch_metrics


def install() -> None:
    patch(CloudWatchBackend, "set_alarm_state", _set_alarm_state)
    patch(CloudWatchBackend, "get_metric_statistics", _get_metric_statistics)


def _set_alarm_state(self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
    alarm = self.alarms.get(alarm_name)
    old_state = alarm.state_value if alarm is not None else None
    original(CloudWatchBackend, "set_alarm_state")(self, alarm_name, reason, reason_data, state_value)
    active = current()
    if active is not None and active.alarms is not None and old_state is not None:
        active.alarms.on_state_change(self.alarms[alarm_name], old_state, state_value)


def _get_metric_statistics(
    self: Any,
    namespace: str,
    metric_name: str,
    start_time: Any,
    end_time: Any,
    period: int,
    stats: list[str],
    dimensions: list[dict[str, str]],
    unit: str | None = None,
) -> list[Any]:
    replaced = original(CloudWatchBackend, "get_metric_statistics")
    periods: list[Any] = replaced(self, namespace, metric_name, start_time, end_time, period, stats, dimensions, unit)
    if current() is None:
        return periods
    wanted = {str(d["Name"]): str(d.get("Value")) for d in dimensions or []}
    exact = []
    for found in periods:
        found.metric_data = [d for d in found.metric_data if cloudwatch_metrics.same_dimensions(d.dimensions, wanted)]
        if found.metric_data:
            exact.append(found)
    return exact
