"""One run at a time: a run that starts while others are in progress waits in line.

The line is the state machine's own list of RUNNING executions, ordered by start
time (then name, so of two simultaneous runs exactly one goes first). A run whose
Initiate finds an earlier RUNNING execution returns ``queued``; the state machine
waits ``QUEUE_POLL_SECONDS`` and calls Initiate again. Nothing is dropped: every
execution eventually reaches the front, or gives up after ``QUEUE_MAX_WAIT_SECONDS``
with a failure notification that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lambdas.initiate_pipeline.models import ExecutionContext, QueuePosition


class QueueTimeoutError(RuntimeError):
    """The run waited in line longer than ``QUEUE_MAX_WAIT_SECONDS``."""


@dataclass(frozen=True)
class RunAhead:
    """A RUNNING execution that started before this one."""

    name: str
    started: datetime


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (naive values are taken to be UTC)."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def runs_ahead(sfn: Any, execution: ExecutionContext) -> list[RunAhead]:
    """The other RUNNING executions that started before this one, earliest first."""
    mine = (utc(execution.start_time), execution.name)
    ahead: list[RunAhead] = []
    paginator = sfn.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=execution.state_machine_arn, statusFilter="RUNNING"):
        for other in page.get("executions", []):
            if other["executionArn"] == execution.id:
                continue
            theirs = RunAhead(name=str(other["name"]), started=utc(other["startDate"]))
            if (theirs.started, theirs.name) < mine:
                ahead.append(theirs)
    return sorted(ahead, key=lambda run: (run.started, run.name))


def position(ahead: list[RunAhead], previous: QueuePosition | None, now: datetime) -> QueuePosition:
    """This run's place in line; ``since`` is kept from the previous attempt."""
    return QueuePosition(behind=ahead[0].name, ahead=len(ahead), since=previous.since if previous else now)


def check_wait(queue: QueuePosition, now: datetime, max_wait_seconds: int) -> None:
    """Raise :class:`QueueTimeoutError` once the run has waited longer than allowed."""
    waited = (utc(now) - utc(queue.since)).total_seconds()
    if waited > max_wait_seconds:
        raise QueueTimeoutError(
            f"gave up after waiting {_duration(waited)} in line behind run {queue.behind} "
            f"(QUEUE_MAX_WAIT_SECONDS={max_wait_seconds}); stop or finish that run, then start this one again"
        )


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def describe_wait(queue: QueuePosition, ahead: list[RunAhead], now: datetime, poll_seconds: int) -> str:
    """When this run starts, in words: behind whom, how long they have run, how often it checks."""
    running = ahead[0]
    elapsed = _duration((utc(now) - running.started).total_seconds())
    others = queue.ahead - 1
    waiting = f", then {others} more waiting run{'s' if others != 1 else ''}" if others else ""
    return (
        f"when run {running.name} ends (started {running.started:%Y-%m-%d %H:%M:%S} UTC, {elapsed} ago){waiting}; "
        f"checked every {poll_seconds} s"
    )
