"""CloudWatch alarm actions: an alarm that changes state notifies its SNS topics, as CloudWatch.

moto stores alarms and lets ``SetAlarmState`` change them but never runs their actions, and
it never evaluates an alarm's metric. Offline mode runs the actions of a state change made
with ``SetAlarmState`` (``aws cloudwatch set-alarm-state`` from another shell, or a test):
for each SNS action of the new state, CloudWatch publishes as the service principal
``cloudwatch.amazonaws.com``. That needs the topic's policy to allow it, and for an
encrypted topic the key policy to let the service use the key; AWS passes the alarm as
``aws:SourceArn`` and the account as ``aws:SourceAccount``. Sources: CloudWatch User Guide,
"Using Amazon CloudWatch alarms" → "Alarm actions" and "Amazon SNS topic policies for
alarm actions"; SNS Developer Guide, "Configuring AWS KMS permissions" (encrypted topics
and AWS service publishers).

A refused publish is not an error anywhere in AWS: the alarm's history records "Failed to
execute action" and the notification is lost. Offline mode records the same and prints it.
The message is CloudWatch's alarm JSON (AlarmName, NewStateValue, NewStateReason, ...).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from offline.services.iam.authorizer import AccessDeniedError
from offline.services.iam.enforcement import Iam
from offline.services.iam.policy import Principal

CLOUDWATCH = "cloudwatch.amazonaws.com"


@dataclass(frozen=True)
class ActionOutcome:
    alarm: str
    state: str
    target: str
    delivered: bool
    detail: str


@dataclass
class AlarmActions:
    """Delivers alarm actions, authorized as CloudWatch."""

    iam: Iam
    publish: Callable[[str, str, str], None]
    log: Callable[[str], None] = print
    outcomes: list[ActionOutcome] = field(default_factory=list)

    def on_state_change(self, alarm: Any, old_state: str, new_state: str) -> None:
        if old_state == new_state or not alarm.actions_enabled:
            return
        actions = {"ALARM": alarm.alarm_actions, "OK": alarm.ok_actions}.get(new_state, alarm.insufficient_data_actions)
        for target in actions or []:
            if ":sns:" in str(target):
                self._notify(alarm, old_state, new_state, str(target))

    def _notify(self, alarm: Any, old_state: str, new_state: str, topic_arn: str) -> None:
        principal = Principal.of_service(CLOUDWATCH, self.iam.account)
        context = {"aws:SourceArn": alarm.alarm_arn, "aws:SourceAccount": self.iam.account}
        key = self.iam.catalog.keys.topic_key(topic_arn)
        try:
            self.iam.require(principal, "sns:Publish", topic_arn, context, via=f"alarm {alarm.name}")
            for action in ("kms:Decrypt", "kms:GenerateDataKey"):
                if key is not None:
                    self.iam.require(principal, action, key, context, via=f"alarm {alarm.name}")
        except AccessDeniedError as denied:
            detail = f"Failed to execute action {topic_arn}. Received error: '{denied}'"
            alarm.history.append(("Action", detail, "{}", new_state, _now()))
            self.outcomes.append(ActionOutcome(alarm.name, new_state, topic_arn, False, detail))
            self.log(f"alarm {alarm.name} → {new_state}: notification lost: {denied}")
            return
        subject = f'{new_state}: "{alarm.name}" in {self.iam.region}'[:100]
        self.publish(topic_arn, subject, json.dumps(_message(alarm, old_state, new_state, self.iam)))
        self.outcomes.append(ActionOutcome(alarm.name, new_state, topic_arn, True, "published"))


def _message(alarm: Any, old_state: str, new_state: str, iam: Iam) -> dict[str, Any]:
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": iam.account,
        "NewStateValue": new_state,
        "NewStateReason": alarm.state_reason,
        "StateChangeTime": _now().isoformat(),
        "Region": iam.region,
        "AlarmArn": alarm.alarm_arn,
        "OldStateValue": old_state,
        "Trigger": {"MetricName": alarm.metric_name, "Namespace": alarm.namespace, "Threshold": alarm.threshold},
    }


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)
