"""An endpoint or API alarm reaches people: CloudWatch may publish to the encrypted alert topic.

CloudWatch publishes as ``cloudwatch.amazonaws.com``, a service principal with no identity
policy, so the topic's own policy must allow it, and the topic's key policy must let it use
the key. Before the fix the topic policy held only the TLS-only Deny and every alarm
notification was dropped.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from offline.deploy.assembly import Assembly
from offline.run.progress import silent
from offline.run.session import LocalPipeline

pytestmark = pytest.mark.slow


def _fire_first_alarm(pipeline: LocalPipeline) -> str:
    # An alarm offline mode does not evaluate (the API's): the endpoint's would be set back to OK by its data.
    alarm = next(name for name in pipeline.deployment.alarms if not name.startswith("fraud-detector-"))
    pipeline.aws.client("cloudwatch").set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="test: 5xx")
    pipeline.progress.poll()
    return alarm


def test_an_alarm_notifies_the_alert_topic(assembly: Assembly, workdir: Path) -> None:
    with LocalPipeline(assembly, workdir=workdir, log=silent) as pipeline:
        alarm = _fire_first_alarm(pipeline)
        notes = [n for n in pipeline.progress.notifications if alarm in n.subject]
    assert len(notes) == 1
    assert notes[0].subject.startswith("ALARM:")
    assert json.loads(notes[0].message)["NewStateValue"] == "ALARM"


def _without_cloudwatch_statement(assembly: Assembly) -> Assembly:
    mutated = copy.deepcopy(assembly)
    for stack in mutated.stacks:
        for resource in stack.template["Resources"].values():
            if resource["Type"] == "AWS::SNS::TopicPolicy":
                statements: list[dict[str, Any]] = resource["Properties"]["PolicyDocument"]["Statement"]
                statements[:] = [s for s in statements if s.get("Principal") != {"Service": "cloudwatch.amazonaws.com"}]
    return mutated


def test_without_the_topic_policy_statement_the_alarm_notification_is_lost(assembly: Assembly, workdir: Path) -> None:
    # Given the topic policy as it was before the fix (the TLS-only Deny alone)
    with LocalPipeline(_without_cloudwatch_statement(assembly), workdir=workdir, log=silent) as pipeline:
        alarm = _fire_first_alarm(pipeline)
        notes = [n for n in pipeline.progress.notifications if alarm in n.subject]
        (outcome,) = pipeline.alarms.outcomes
    # Then nothing reaches the topic, and the alarm's history says why, naming the action
    assert notes == []
    assert not outcome.delivered
    assert "Failed to execute action" in outcome.detail
    assert "is not authorized to perform: sns:Publish" in outcome.detail
