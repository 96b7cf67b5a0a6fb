"""Terminal progress: the states that do the work (with durations), and every SNS message.

Both come from public APIs of the local AWS, the same ones a person would use from another
shell: ``GetExecutionHistory`` for the states, and an SQS queue (``offline-notifications``)
subscribed to the pipeline's topic(s) for the notifications, which are printed in full and
appended to ``<workdir>/logs/notifications.log``. Plain timestamped lines, so the output
reads the same in a terminal, a CI log or a test's captured stdout.

Compact by default: Task and Parallel states (builds, training, the endpoint calls). Choice,
Pass, Wait and Succeed states appear with ``verbose``. A task failure that a Catch of
specific errors handles is an expected path (the definition says what comes next), shown
without ✗; a failure that goes to the error path shows ✗ and its reason, the one line of
the cause that explains it (a training job's FailureReason, a Lambda's errorMessage).
"""

from __future__ import annotations

import datetime
import json
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from lambdas.notify.logic import describe_cause
from offline.run.local_aws import LocalAws

_ENTERED = "StateEntered"
_EXITED = "StateExited"
#: State types shown without ``verbose``: the ones that call a service.
_WORKING_TYPES = ("Task", "Parallel", "Map")


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
    #: The state's type ("Task", "Choice", ...); "Task" for a task that failed.
    kind: str = "Task"

    @property
    def does_work(self) -> bool:
        """Whether compact progress shows it: a Task or Parallel state, not Choice, Pass or Wait."""
        return self.kind in _WORKING_TYPES


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

    def __init__(
        self,
        *,
        aws: LocalAws,
        topics: list[str],
        log: Log,
        definition: dict[str, Any] | None = None,
        verbose: bool = False,
        notifications_log: Path | None = None,
    ) -> None:
        self._sfn = aws.client("stepfunctions")
        self._sqs = aws.client("sqs")
        self._log = log
        self._states = _states_by_name(definition or {})
        self._verbose = verbose
        self._notifications_log = notifications_log
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

    def followed(self) -> list[str]:
        """Every execution followed so far, in the order they were first followed."""
        return list(self._executions)

    def following(self, execution_arn: str) -> bool:
        return execution_arn in self._executions

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
        # The status first: the history read after it holds every event up to that status. Read the
        # other way round, an execution ending between the two calls was marked ended without its
        # last events, and its SUCCEEDED line was never shown.
        status = self._sfn.describe_execution(executionArn=view.arn)["status"]
        events: list[dict[str, Any]] = []
        paginator = self._sfn.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=view.arn):
            events += page["events"]
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
            state_type = kind[: -len(_ENTERED)] or "State"
            if self._shown(state_type):
                self._log(f"{prefix} → {name} ({state_type})", at=at)
        elif kind.endswith(_EXITED):
            name = event["stateExitedEventDetails"]["name"]
            if name not in view.entered:  # a caught task failure, already reported
                return
            seconds = (at - view.entered.pop(name)).total_seconds()
            state_type = kind[: -len(_EXITED)] or "State"
            self.timings.append(StateTiming(view.label, name, seconds, "ok", state_type))
            if self._shown(state_type):
                self._log(f"{prefix} ← {name} {seconds:.2f}s", at=at)
        elif kind in ("TaskFailed", "LambdaFunctionFailed"):
            self._show_task_failure(view, event, prefix, at)
        elif kind == "ExecutionStarted":
            self._log(f"{prefix} execution started: {view.arn}", at=at)
        elif kind in ("ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"):
            details = event.get("executionFailedEventDetails", {})
            extra = f": {details.get('error')}: {reason_of(details.get('cause'))}" if details else ""
            self._log(f"{prefix} {kind.removeprefix('Execution').upper()}{extra}", at=at)

    def _shown(self, state_type: str) -> bool:
        return self._verbose or state_type in _WORKING_TYPES

    def _show_task_failure(
        self, view: _ExecutionView, event: dict[str, Any], prefix: str, at: datetime.datetime
    ) -> None:
        details = event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails") or {}
        # A caught task failure has no StateExited event: time it from its entry.
        name = _entered_state(view, event)
        seconds = (at - view.entered.pop(name, at)).total_seconds()
        line, outcome = task_failure_line(
            self._states.get(name, {}), name, seconds, str(details.get("error")), details.get("cause")
        )
        self.timings.append(StateTiming(view.label, name, seconds, outcome))
        self._log(f"{prefix} {line}", at=at)

    def _poll_notifications(self) -> None:
        while True:
            messages = self._sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return
            for message in messages:
                envelope = json.loads(message["Body"])
                note = Notification(str(envelope.get("Subject") or ""), str(envelope.get("Message") or ""))
                self.notifications.append(note)
                body = "\n".join(f"      {line}" for line in note.message.splitlines())
                self._log(f"SNS ▸ {note.subject}\n{body}")
                if self._notifications_log is not None:
                    self._notifications_log.parent.mkdir(parents=True, exist_ok=True)
                    with self._notifications_log.open("a") as handle:
                        handle.write(f"--- {stamp()} {note.subject}\n{note.message}\n")
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])


def task_failure_line(state: dict[str, Any], name: str, seconds: float, error: str, cause: Any) -> tuple[str, str]:
    """``(line, outcome)`` for a task error: "handled" when a Catch names that very error (an expected
    path of the definition, such as "not found → create it"), else "failed" with the reason."""
    handled_by = _specific_catch(state, error)
    if handled_by:
        return f"← {name} {seconds:.2f}s: {error}, handled: next {handled_by}", "handled"
    return f"✗ {name} failed after {seconds:.2f}s: {error}: {reason_of(cause)}", "failed"


def reason_of(cause: Any) -> str:
    """The line of a failure's cause that explains it, else the cause cut to one line."""
    reason, text = describe_cause(str(cause) if cause is not None else None)
    return _short(reason or text)


def _states_by_name(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state of the definition by name, including those inside Parallel branches."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition.get("States", {}).items():
        found[name] = state
        for branch in state.get("Branches", []):
            found |= _states_by_name(branch)
    return found


def _specific_catch(state: dict[str, Any], error: str) -> str | None:
    """Where a Catch naming ``error`` itself (not ``States.ALL``) sends the run: an expected path."""
    for catch in state.get("Catch", []):
        errors = catch.get("ErrorEquals", [])
        if error in errors and "States.ALL" not in errors:
            return str(catch.get("Next"))
    return None


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
