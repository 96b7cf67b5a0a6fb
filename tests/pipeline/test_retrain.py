"""``python -m pipeline retrain`` (``make retrain``): a run by hand on the newest complete dataset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws

from offline.services.cloudformation import StackOutput, register_stacks
from pipeline import cli, retrain
from pipeline.environments import OperationError

ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK = "FraudPipeline-dev-Pipeline"
BUCKET = "fraud-data-dev"


@dataclass
class Account:
    cloudformation: Any
    s3: Any
    sfn: Any
    machine_arn: str

    def start(self) -> retrain.Started:
        return retrain.start(
            cloudformation=self.cloudformation,
            s3=self.s3,
            sfn=self.sfn,
            stack_name=STACK,
            reason="because",
            now=datetime(2026, 11, 24, 5, 0, tzinfo=UTC),
        )

    def complete_dataset(self, name: str) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=f"incoming/{name}/train/a.csv", Body=b"x")
        self.s3.put_object(Bucket=BUCKET, Key=f"incoming/{name}/validation/a.csv", Body=b"x")
        self.s3.put_object(Bucket=BUCKET, Key=f"incoming/{name}/_SUCCESS", Body=b"")


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name="FraudPipeline-dev",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
        )["stateMachineArn"]
        outputs = [StackOutput("StateMachineArn", machine), StackOutput("DataBucket", BUCKET)]
        register_stacks(account=ACCOUNT, region=REGION, stacks={STACK: outputs})
        yield Account(boto3.client("cloudformation", region_name=REGION), s3, sfn, machine)


def test_a_manual_run_starts_on_the_newest_complete_dataset(account: Account) -> None:
    # Given two complete datasets and one still uploading
    account.complete_dataset("2026-11-01")
    account.complete_dataset("2026-11-08")
    account.s3.put_object(Bucket=BUCKET, Key="incoming/2026-11-15/train/a.csv", Body=b"x")
    # When a run is started by hand
    started = account.start()
    # Then one execution runs with the manual trigger, named for when it was started
    (execution,) = account.sfn.list_executions(stateMachineArn=account.machine_arn)["executions"]
    assert execution["executionArn"] == started.execution_arn
    assert execution["name"].startswith("retrain-20261124T050000Z-")
    described = account.sfn.describe_execution(executionArn=started.execution_arn)
    assert json.loads(described["input"]) == {"trigger": "manual", "reason": "because"}
    # And it says which dataset the run will take
    assert started.dataset == f"s3://{BUCKET}/incoming/2026-11-08/"


def test_without_a_complete_dataset_nothing_starts_and_the_error_says_what_to_upload(account: Account) -> None:
    # Given a dataset whose marker has not arrived
    account.s3.put_object(Bucket=BUCKET, Key="incoming/2026-11-15/train/a.csv", Body=b"x")
    # When a run is started by hand
    with pytest.raises(OperationError, match=r"no complete dataset under s3://fraud-data-dev/incoming/.*_SUCCESS"):
        account.start()
    # Then no execution was started
    assert account.sfn.list_executions(stateMachineArn=account.machine_arn)["executions"] == []


def test_an_environment_that_is_not_deployed_is_named(account: Account) -> None:
    with pytest.raises(OperationError, match=r"stack FraudPipeline-stage-Pipeline is not deployed in us-east-1"):
        retrain.start(
            cloudformation=account.cloudformation,
            s3=account.s3,
            sfn=account.sfn,
            stack_name="FraudPipeline-stage-Pipeline",
            reason="x",
        )


def test_the_command_starts_a_run_and_prints_where_to_follow_it(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    account.complete_dataset("2026-11-01")
    assert cli.main(["retrain", "--env", "dev"]) == 0
    out = capsys.readouterr().out
    assert f"on the newest complete dataset, s3://{BUCKET}/incoming/2026-11-01/" in out
    assert "aws stepfunctions describe-execution --execution-arn arn:aws:states:" in out


def test_an_unknown_environment_is_a_usage_error_naming_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["retrain", "--env", "qa"]) == 2
    assert "unknown environment 'qa'; cdk.json defines: dev, prod, stage (choose with --env NAME)" in (
        capsys.readouterr().err
    )


class _History:
    """A stand-in Step Functions client whose execution moves through states, then fails."""

    def __init__(self) -> None:
        self.calls = 0
        self.events = [
            _entered("Initiate"),
            _entered("Train"),
        ]

    def get_paginator(self, _name: str) -> Any:
        history = self

        class Paginator:
            def paginate(self, **_kwargs: Any) -> list[dict[str, Any]]:
                return [{"events": history.events[: 1 + history.calls]}]

        return Paginator()

    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls += 1
        if self.calls < 2:
            return {"status": "RUNNING"}
        return {"status": "FAILED", "error": "States.TaskFailed", "cause": "AlgorithmError: no rows"}


def _entered(name: str) -> dict[str, Any]:
    return {"timestamp": datetime(2026, 11, 24, 5, 0, tzinfo=UTC), "stateEnteredEventDetails": {"name": name}}


def test_following_a_run_reports_each_state_once_and_the_cause_of_a_failure() -> None:
    lines: list[str] = []
    status = retrain.follow(_History(), "arn", report=lines.append, sleep=lambda _s: None)
    assert status == "FAILED"
    assert lines == ["  05:00:00  Initiate", "  05:00:00  Train", "  FAILED: AlgorithmError: no rows"]
