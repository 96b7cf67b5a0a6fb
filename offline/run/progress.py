"""Terminal progress: every state entered and left (with durations), every SNS message.

Both come from public APIs of the local AWS, the same ones a person would use from another
shell: ``GetExecutionHistory`` for the states, and an SQS queue subscribed to the pipeline's
topic(s) for the notifications. Plain timestamped lines, so the output reads the same in a
terminal, a CI log or a test's captured stdout.
"""

from __future__ import annotations

import datetime
import json
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from offline.run.local_aws import LocalAws

_ENTERED = "StateEntered"
_EXITED = "StateExited"


@dataclass(frozen=True)
class Notification:
    subject: str
    message: str


@dataclass(frozen=True)
class StateTiming:
    execution: str
    state: str
    seconds: float
    outcome: str


@dataclass
class _ExecutionView:
    arn: str
    label: str
    seen: int = 0
    entered: dict[str, datetime.datetime] = field(default_factory=dict)
    by_id: dict[int, dict[str, Any]] = field(default_factory=dict)
    status: str = "RUNNING"


class Log(Protocol):
    """Where progress lines go; ``at`` is when the line's event happened (default: now)."""

    def __call__(self, text: str, at: datetime.datetime | None = None) -> None: ...


def silent(text: str, at: datetime.datetime | None = None) -> None:
    """A ``Log`` that discards everything (tests)."""


def stamp(at: datetime.datetime | None = None) -> str:
    moment = at.astimezone() if at is not None else datetime.datetime.now()
    return moment.strftime("%H:%M:%S.%f")[:-3]


class Printer:
    """Thread-safe timestamped lines on one stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        # Bound now: Lambda handlers run with stdout redirected to their log file.
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, text: str, at: datetime.datetime | None = None) -> None:
        stream = self._stream
        with self._lock:
            for line in text.splitlines() or [""]:
                stream.write(f"{stamp(at)} {line}\n")
            stream.flush()


class Progress:
    """Follows executions and the notification queue, printing what happens."""

    def __init__(self, *, aws: LocalAws, topics: list[str], log: Log) -> None:
        self._sfn = aws.client("stepfunctions")
        self._sqs = aws.client("sqs")
        self._log = log
        self._executions: dict[str, _ExecutionView] = {}
        self.notifications: list[Notification] = []
        self.timings: list[StateTiming] = []
        self._queue_url = self._sqs.create_queue(QueueName="offline-notifications")["QueueUrl"]
        queue_arn = self._sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns = aws.client("sns")
        for topic in topics:
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

    def follow(self, execution_arn: str) -> None:
        if execution_arn not in self._executions:
            label = execution_arn.rsplit(":", 1)[-1][:8]
            self._executions[execution_arn] = _ExecutionView(execution_arn, label)

    def status(self, execution_arn: str) -> str:
        return self._executions[execution_arn].status

    def running(self) -> bool:
        return any(view.status == "RUNNING" for view in self._executions.values())

    def poll(self) -> None:
        for view in list(self._executions.values()):
            if view.status == "RUNNING" or view.seen == 0:
                self._poll_execution(view)
        self._poll_notifications()

    def _poll_execution(self, view: _ExecutionView) -> None:
        events: list[dict[str, Any]] = []
        paginator = self._sfn.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=view.arn):
            events += page["events"]
        status = self._sfn.describe_execution(executionArn=view.arn)["status"]
        for event in events[view.seen :]:
            view.by_id[event["id"]] = event
            self._show(view, event)
        view.seen = len(events)
        view.status = status

    def _show(self, view: _ExecutionView, event: dict[str, Any]) -> None:
        kind: str = event["type"]
        at: datetime.datetime = event["timestamp"]
        prefix = f"[{view.label}]"
        if kind.endswith(_ENTERED):
            name = event["stateEnteredEventDetails"]["name"]
            view.entered[name] = at
            self._log(f"{prefix} → {name} ({kind[: -len(_ENTERED)] or 'State'})", at=at)
        elif kind.endswith(_EXITED):
            name = event["stateExitedEventDetails"]["name"]
            if name not in view.entered:  # a caught task failure, already reported
                return
            seconds = (at - view.entered.pop(name)).total_seconds()
            self.timings.append(StateTiming(view.label, name, seconds, "ok"))
            self._log(f"{prefix} ← {name} {seconds:.2f}s", at=at)
        elif kind in ("TaskFailed", "LambdaFunctionFailed"):
            details = event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails") or {}
            # A caught task failure has no StateExited event: time it from its entry.
            name = _entered_state(view, event)
            seconds = (at - view.entered.pop(name, at)).total_seconds()
            self.timings.append(StateTiming(view.label, name, seconds, "failed"))
            self._log(
                f"{prefix} ✗ {name} failed after {seconds:.2f}s: {details.get('error')}: "
                f"{_short(details.get('cause'))}",
                at=at,
            )
        elif kind == "ExecutionStarted":
            self._log(f"{prefix} execution started: {view.arn}", at=at)
        elif kind in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"):
            details = event.get("executionFailedEventDetails", {})
            extra = f": {details.get('error')}: {_short(details.get('cause'))}" if details else ""
            self._log(f"{prefix} {kind.removeprefix('Execution').upper()}{extra}", at=at)

    def _poll_notifications(self) -> None:
        while True:
            messages = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return
            for message in messages:
                envelope = json.loads(message["Body"])
                note = Notification(str(envelope.get("Subject") or ""), str(envelope.get("Message") or ""))
                self.notifications.append(note)
                self._log(f"SNS ▸ {note.subject}\n      {_short(note.message, 400)}")
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])


def _entered_state(view: _ExecutionView, event: dict[str, Any]) -> str:
    """The state an event belongs to: follow ``previousEventId`` back to its StateEntered."""
    current: dict[str, Any] | None = event
    while current is not None:
        details = current.get("stateEnteredEventDetails")
        if details:
            return str(details["name"])
        current = view.by_id.get(current.get("previousEventId", -1))
    return next(reversed(view.entered), "?")


def _short(text: Any, limit: int = 240) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
