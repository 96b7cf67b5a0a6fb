"""The EventBridge → Step Functions delivery moto lacks.

The events AWS services send, which moto never delivers (S3 "Object Created" from moto's S3,
SageMaker's "SageMaker Model Package State Change" from ``offline.moto_patches.model_registry``),
are matched against each deployed rule's own EventPattern; for every matching rule whose
target is a state machine, the target's own Input/InputTransformer builds the execution input and
StartExecution runs, signed as the target's role (EventBridge assumes it as
``events.amazonaws.com``; EventBridge User Guide, "Using IAM roles to invoke targets").
Delivery happens on a dispatcher thread after a short latency, like EventBridge's, never
inside the API call that caused the event: a dataset's two uploads are both in S3 before the
first run looks, and a model package's new status is visible before its deployment starts.

A target EventBridge cannot invoke (its role is missing, untrusted or not allowed
``states:StartExecution``) is not an error anywhere in AWS: the rule's FailedInvocations
metric counts it and no execution starts. Offline mode records it in ``failures`` and
prints it, so a run that starts nothing says why.
"""

from __future__ import annotations

import datetime
import json
import queue
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offline.deploy.deployment import Rule
from offline.services.event_patterns import matches, transform_input

#: How long after an upload its event reaches the targets.
DELIVERY_LATENCY_SECONDS = 0.5

_REASONS = {"Put": "PutObject", "Post": "POST Object", "Copy": "CopyObject"}


@dataclass(frozen=True)
class FailedInvocation:
    """A matching target EventBridge could not invoke (counted in FailedInvocations)."""

    rule: str
    target: str
    object_key: str
    reason: str


@dataclass(frozen=True)
class Delivery:
    """One execution the bridge started."""

    rule: str
    execution_arn: str
    object_key: str
    input: str


def s3_object_created_event(created: dict[str, Any]) -> dict[str, Any]:
    """The event S3 sends EventBridge for a new object (shape from the S3 user guide)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": created["account"],
        "time": datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": created["region"],
        "resources": [created["bucket_arn"]],
        "detail": {
            "version": "0",
            "bucket": {"name": created["bucket"]},
            "object": {
                # S3 URL-encodes the key in its events (a space arrives as "+").
                "key": urllib.parse.quote_plus(created["key"], safe="/"),
                "size": created["size"],
                "etag": created["etag"],
                **({"version-id": created["version_id"]} if created.get("version_id") else {}),
                "sequencer": f"{time.time_ns():018X}",
            },
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": created["account"],
            "source-ip-address": "127.0.0.1",
            "reason": _REASONS.get(created.get("reason", "Put"), created.get("reason", "PutObject")),
        },
    }


def scheduled_event(rule: Rule) -> dict[str, Any]:
    """The event a schedule rule sends its targets when its time comes (EventBridge User Guide,
    "Creating a rule that runs on a schedule": ``aws.events``, detail-type "Scheduled Event")."""
    _arn, _partition, _service, region, account, _resource = rule.arn.split(":", 5)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule.arn],
        "detail": {},
    }


def event_subject(event: dict[str, Any]) -> str:
    """What an event is about, for the run's report: an S3 object's key, else the event's first resource."""
    detail = event.get("detail") or {}
    s3_object = detail.get("object") if isinstance(detail, dict) else None
    if isinstance(s3_object, dict) and "key" in s3_object:
        return str(s3_object["key"])
    resources = event.get("resources") or []
    return str(resources[0]) if resources else str(event.get("detail-type"))


class EventBridge:
    """Delivers AWS service events to the state machine targets of matching rules."""

    def __init__(
        self,
        *,
        rules: list[Rule],
        start_execution: Callable[[Rule, dict[str, Any], str], str],
        log: Callable[[str], None] = print,
    ) -> None:
        """``start_execution(rule, target, input)`` starts the target and returns the execution ARN."""
        self._rules = rules
        self._start_execution = start_execution
        self._log = log
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.deliveries: list[Delivery] = []
        self.failures: list[FailedInvocation] = []
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._thread = threading.Thread(target=self._dispatch, name="eventbridge", daemon=True)
        self._thread.start()

    def on_object_created(self, created: dict[str, Any]) -> None:
        self.put_event(s3_object_created_event(created))

    def put_event(self, event: dict[str, Any]) -> None:
        """Queue an event an AWS service sends; it reaches the targets ``DELIVERY_LATENCY_SECONDS`` later."""
        with self._pending_lock:
            self._pending += 1
        self._queue.put({**event, "_due": time.monotonic() + DELIVERY_LATENCY_SECONDS})

    def idle(self) -> bool:
        """Whether every event received so far has been delivered."""
        with self._pending_lock:
            return self._pending == 0

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(5)

    def _dispatch(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            time.sleep(max(0.0, item.pop("_due") - time.monotonic()))
            try:
                self.deliver(item)
            except Exception as error:
                self._log(f"eventbridge: delivery failed: {type(error).__name__}: {error}")
            finally:
                with self._pending_lock:
                    self._pending -= 1

    def fire_schedule(self, target_arn: str) -> list[Delivery]:
        """Do now what the schedule rules targeting ``target_arn`` do when their time comes.

        Offline mode keeps no clock for ``rate(...)`` and ``cron(...)``: a scenario fires a schedule
        when its story needs it. The target starts as on a real schedule: its own input, its role.
        """
        started: list[Delivery] = []
        for rule in self._rules:
            if not rule.enabled or not rule.schedule:
                continue
            for target in rule.targets:
                if target.get("Arn") != target_arn:
                    continue
                event = scheduled_event(rule)
                payload = transform_input(target, event, rule_arn=rule.arn, rule_name=rule.name)
                execution_arn = self._start_execution(rule, target, payload)
                delivery = Delivery(rule.name, execution_arn, f"schedule {rule.schedule}", payload)
                self.deliveries.append(delivery)
                started.append(delivery)
        if not started:
            raise LookupError(f"no enabled schedule rule targets {target_arn}")
        return started

    def deliver(self, event: dict[str, Any]) -> list[Delivery]:
        """Start an execution for each state machine target of each rule matching ``event``."""
        started: list[Delivery] = []
        for rule in self._rules:
            if not rule.enabled or rule.event_pattern is None or not matches(rule.event_pattern, event):
                continue
            for target in rule.targets:
                if ":states:" not in str(target.get("Arn")):
                    continue
                payload = transform_input(target, event, rule_arn=rule.arn, rule_name=rule.name)
                json.loads(payload)  # EventBridge refuses to deliver an input that is not JSON
                key = event_subject(event)
                try:
                    execution_arn = self._start_execution(rule, target, payload)
                except Exception as error:
                    failure = FailedInvocation(rule.name, str(target["Arn"]), key, str(error))
                    self.failures.append(failure)
                    self._log(f"eventbridge: rule {rule.name} could not start {target['Arn']}: {error}")
                    continue
                delivery = Delivery(rule.name, execution_arn, key, payload)
                self.deliveries.append(delivery)
                started.append(delivery)
        return started
