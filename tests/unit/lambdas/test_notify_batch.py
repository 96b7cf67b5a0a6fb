"""``notify`` for a scored batch: where the scores are, how many rows, which rows could not be scored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws

from lambdas.common.sns import MAX_SUBJECT_LENGTH
from lambdas.notify import app
from lambdas.notify.batch_messages import batch_notification
from lambdas.notify.logic import build_notification
from lambdas.notify.models import NotifyEvent
from tests.unit.lambdas.conftest import REGION, FakeLambdaContext, load_event

CONSOLE = f"https://{REGION}.console.aws.amazon.com/states/home?region={REGION}#/v2/executions/details/"


def _event(**batch: Any) -> NotifyEvent:
    payload = load_event("notify_batch_scored")
    payload["state"]["batch"].update(batch)
    return NotifyEvent.model_validate(payload)


def test_the_subject_names_the_batch_and_its_row_count() -> None:
    # Given a batch of 100,000 rows, 3 of which could not be scored
    # When its notification is built
    note = build_notification(_event(), "dev")
    # Then the subject says which batch, how many rows, and that some were bad
    assert note.subject == "[FraudPipeline dev] batch 2026-11-24 scored: 100000 rows, 3 bad"
    assert len(note.subject) <= MAX_SUBJECT_LENGTH


def test_a_clean_batch_says_only_its_row_count() -> None:
    note = batch_notification(_event(bad_rows=0, scored=100000, bad_samples=[]), "dev")
    assert note.subject == "[FraudPipeline dev] batch 2026-11-24 scored: 100000 rows"
    assert "Bad rows:        0" in note.message
    assert "line" not in note.message.split("Transform job:")[1]


def test_the_body_gives_input_output_counts_version_job_and_the_execution() -> None:
    event = _event()
    note = batch_notification(event, "dev")
    assert "Batch 2026-11-24 (dev) was scored with model version 3: 100000 rows, 3 could not be scored." in note.message
    for line in (
        "Input:           s3://fraud-data-dev/batch/incoming/2026-11-24/",
        "Output:          s3://fraud-data-dev/batch/output/2026-11-24/",
        "Rows:            100000 in 2 files",
        "Scored:          99997",
        "Flagged fraud:   1042",
        "Bad rows:        3",
        "Model version:   3",
        "Model package:   arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud-dev-models/3",
        "Transform job:   fraud-dev-batch-2026-11-24-20261124120005-9c1e",
        f"Execution: {CONSOLE}{event.execution_arn}",
    ):
        assert line in note.message.splitlines(), line


def test_bad_rows_are_listed_by_file_and_line_with_their_reason() -> None:
    note = batch_notification(_event(), "dev")
    lines = note.message.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Bad rows ("))
    assert lines[start + 1 : start + 4] == [
        "  part-0001.csv line 17: amount is not a number: 'n/a'",
        "  part-0002.csv line 2: expected 12 values, got 11",
        "  part-0002.csv line 39999: hour is missing",
    ]


def test_when_only_some_bad_rows_are_listed_the_message_says_how_many_there_are() -> None:
    note = batch_notification(_event(bad_rows=250, scored=99750), "dev")
    assert "Bad rows (the first 3 of 250):" in note.message


def test_each_file_is_counted_when_there_are_several() -> None:
    note = batch_notification(_event(), "dev")
    assert "  part-0001.csv: 60000 rows, 1 bad" in note.message
    assert "  part-0002.csv: 40000 rows, 2 bad" in note.message


def test_a_summary_missing_fields_still_gives_a_message() -> None:
    # Given a batch state with almost nothing in it (the summary's shape changed, say)
    payload = load_event("notify_batch_scored")
    payload["state"]["batch"] = {"rows": 7}
    # When it is formatted, nothing fails and the unknowns are marked
    note = batch_notification(NotifyEvent.model_validate(payload), "dev")
    assert note.subject == "[FraudPipeline dev] batch ? scored: 7 rows"
    assert "Output:          -" in note.message


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto SNS topic (TOPIC_ARN) with an SQS queue subscribed; yields a reader of the queue."""
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(Name="fraud-dev")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("TOPIC_ARN", topic_arn)
        monkeypatch.setenv("ENVIRONMENT", "dev")

        def read() -> list[dict[str, Any]]:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            return [json.loads(message["Body"]) for message in messages]

        yield read


def test_the_handler_publishes_the_batch_message_and_counts_a_scored_batch(
    inbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the payload NotifyBatch sends
    # When the handler is invoked
    result = app.handler(load_event("notify_batch_scored"), FakeLambdaContext())
    # Then one message reaches the topic, counted as a scored batch
    [published] = inbox()
    assert (
        published["Subject"] == result["subject"] == "[FraudPipeline dev] batch 2026-11-24 scored: 100000 rows, 3 bad"
    )
    assert "part-0001.csv line 17" in published["Message"]
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(m.get("BatchesScored") == [1.0] for m in emitted)
