"""Patch to moto's CloudWatch: ``SetAlarmState`` runs the alarm's actions.

moto changes the state and stops there; ``offline.services.cloudwatch_alarms`` publishes to
the alarm's SNS actions as CloudWatch would, authorized against the topic and key policies.
"""

from __future__ import annotations

from typing import Any

from moto.cloudwatch.models import CloudWatchBackend

from offline.moto_patches._registry import original, patch
from offline.run.active import current


def install() -> None:
    patch(CloudWatchBackend, "set_alarm_state", _set_alarm_state)


def _set_alarm_state(self: Any, alarm_name: str, reason: str, reason_data: str, state_value: str) -> None:
    alarm = self.alarms.get(alarm_name)
    old_state = alarm.state_value if alarm is not None else None
    original(CloudWatchBackend, "set_alarm_state")(self, alarm_name, reason, reason_data, state_value)
    active = current()
    if active is not None and active.alarms is not None and old_state is not None:
        active.alarms.on_state_change(self.alarms[alarm_name], old_state, state_value)
