"""How progress lines describe a task error, and that an execution's last line is never lost to a race."""

from __future__ import annotations

import datetime
import json
from typing import Any, cast

from offline.run.local_aws import LocalAws
from offline.run.progress import Progress, reason_of, task_failure_line

TRAINING_CAUSE = json.dumps(
    {
        "TrainingJobName": "fraud-dev-train-1",
        "TrainingJobStatus": "Failed",
        "FailureReason": "AlgorithmError: the validation channel holds no fraud",
        "HyperParameters": {"n_estimators": "200"},
    }
)
LAMBDA_CAUSE = json.dumps(
    {"errorMessage": "no complete dataset under s3://b/incoming/", "errorType": "DatasetError", "stackTrace": ["x"]}
)


def test_a_failed_training_job_is_described_by_its_failure_reason() -> None:
    line, outcome = task_failure_line({}, "Train", 12.5, "States.TaskFailed", TRAINING_CAUSE)
    assert line == (
        "✗ Train failed after 12.50s: States.TaskFailed: AlgorithmError: the validation channel holds no fraud"
    )
    assert outcome == "failed"


def test_a_lambda_error_is_described_by_its_message_without_the_trace() -> None:
    assert reason_of(LAMBDA_CAUSE) == "no complete dataset under s3://b/incoming/"


def test_an_error_the_definition_catches_by_name_is_an_expected_path_not_a_failure() -> None:
    state = {
        "Type": "Task",
        "Catch": [
            {"ErrorEquals": ["SageMaker.ResourceNotFound"], "Next": "CreateEndpoint"},
            {"ErrorEquals": ["States.ALL"], "Next": "Failed"},
        ],
    }
    line, outcome = task_failure_line(state, "FindEndpoint", 0.2, "SageMaker.ResourceNotFound", "not found")
    assert line == "← FindEndpoint 0.20s: SageMaker.ResourceNotFound, handled: next CreateEndpoint"
    assert "✗" not in line
    assert outcome == "handled"
    # Any other error of the same state is a failure
    _line, other = task_failure_line(state, "FindEndpoint", 0.2, "SageMaker.ThrottlingException", "slow down")
    assert other == "failed"


class _FinishingExecution:
    """Step Functions where the execution ends between any two calls: each call sees it one step further."""

    def __init__(self) -> None:
        stamp = datetime.datetime(2026, 11, 24, tzinfo=datetime.UTC)
        self.events = [
            {"id": 1, "type": "ExecutionStarted", "timestamp": stamp},
            {"id": 2, "type": "ExecutionSucceeded", "timestamp": stamp},
        ]
        self.visible = 1

    def _step(self) -> int:
        seen, self.visible = self.visible, min(self.visible + 1, len(self.events))
        return seen

    def describe_execution(self, **_: str) -> dict[str, str]:
        return {"status": "SUCCEEDED" if self._step() == len(self.events) else "RUNNING"}

    def get_paginator(self, name: str) -> _FinishingExecution:
        return self

    def paginate(self, **_: str) -> list[dict[str, Any]]:
        return [{"events": self.events[: self._step()]}]


class _Queue:
    def create_queue(self, **_: str) -> dict[str, str]:
        return {"QueueUrl": "http://queue"}

    def get_queue_attributes(self, **_: Any) -> dict[str, Any]:
        return {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:q"}}

    def receive_message(self, **_: Any) -> dict[str, Any]:
        return {}


class _Aws:
    def __init__(self) -> None:
        self.sfn = _FinishingExecution()

    def client(self, service: str) -> Any:
        return {"stepfunctions": self.sfn, "sqs": _Queue(), "sns": None}[service]


def test_an_execution_ending_between_two_polls_still_shows_its_last_line() -> None:
    lines: list[str] = []
    progress = Progress(aws=cast(LocalAws, _Aws()), topics=[], log=lambda text, at=None: lines.append(text))
    arn = "arn:aws:states:us-east-1:123456789012:execution:sm:retrain-20261124"
    progress.follow(arn)
    while progress.running() or not lines:
        progress.poll()
    assert lines == [f"[retrain-] execution started: {arn}", "[retrain-] SUCCEEDED"]
    assert progress.status(arn) == "SUCCEEDED"
