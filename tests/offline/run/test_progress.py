"""How progress lines describe a task error: its reason, and whether the definition expected it."""

from __future__ import annotations

import json

from offline.run.progress import reason_of, task_failure_line

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
