"""Start a run by hand, on the newest complete dataset, and optionally follow it to its end.

The execution gets the input a manual start documents (``{"trigger": "manual", ...}``):
the Initiate step then picks the newest dataset whose completion marker exists, exactly
as a scheduled run does. The dataset is looked up here too, so that a bucket without a
complete dataset is reported at once instead of as a failed execution.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lambdas.common.sns import execution_console_url
from lambdas.initiate_pipeline.datasets import DatasetError, newest_dataset_prefix
from pipeline.environments import OperationError, required, stack_outputs
from stacks.components.retraining_triggers import DATA_PREFIX

#: The Pipeline stack's outputs this command reads.
STATE_MACHINE_OUTPUT = "StateMachineArn"
DATA_BUCKET_OUTPUT = "DataBucket"
FINAL_STATUSES = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class Started:
    execution_arn: str
    dataset: str

    @property
    def console_url(self) -> str:
        return execution_console_url(self.execution_arn)


def execution_name(now: datetime) -> str:
    """``retrain-<UTC time>-<4 hex>``: readable in the console, unique per start."""
    return f"retrain-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def start(
    *, cloudformation: Any, s3: Any, sfn: Any, stack_name: str, reason: str, now: datetime | None = None
) -> Started:
    """Start one execution of the environment's state machine; raise :class:`OperationError` if it cannot."""
    outputs = stack_outputs(cloudformation, stack_name)
    machine = required(outputs, STATE_MACHINE_OUTPUT, stack_name)
    bucket = required(outputs, DATA_BUCKET_OUTPUT, stack_name)
    try:
        dataset = newest_dataset_prefix(s3, bucket, DATA_PREFIX)
    except DatasetError as error:
        raise OperationError(str(error)) from None
    response = sfn.start_execution(
        stateMachineArn=machine,
        name=execution_name(now or datetime.now(UTC)),
        input=json.dumps({"trigger": "manual", "reason": reason}),
    )
    return Started(execution_arn=response["executionArn"], dataset=f"s3://{bucket}/{dataset}")


def follow(
    sfn: Any,
    execution_arn: str,
    *,
    report: Callable[[str], None],
    poll_seconds: float = 10,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Report each state the execution enters until it ends; return its final status."""
    seen = 0
    while True:
        events = _history(sfn, execution_arn)
        for event in events[seen:]:
            entered = event.get("stateEnteredEventDetails")
            if entered:
                report(f"  {event['timestamp']:%H:%M:%S}  {entered['name']}")
        seen = len(events)
        described = sfn.describe_execution(executionArn=execution_arn)
        status = str(described["status"])
        if status in FINAL_STATUSES:
            if status != "SUCCEEDED":
                cause = described.get("cause") or described.get("error") or "no cause given"
                report(f"  {status}: {cause}")
            return status
        sleep(poll_seconds)


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events.extend(page["events"])
    return events
