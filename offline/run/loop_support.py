"""What the closing-the-loop stories share: waiting for chains of executions, reading the local S3.

A drift check starts a retraining run from a Lambda (StartExecution), not through EventBridge,
so following the bridge's deliveries is not enough: :func:`settle` also follows every new
execution of every state machine until nothing runs and nothing new has started.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from offline.run.session import LocalPipeline


def settle(pipeline: LocalPipeline, first_delivery: int) -> None:
    """Wait until every execution started since ``first_delivery`` (and every one they started) has ended."""
    pipeline.wait_until_settled(first_delivery)
    while pipeline.follow_new_executions():
        pipeline.wait_until_settled(first_delivery)


def executions(pipeline: LocalPipeline, kind: str) -> list[dict[str, Any]]:
    """The executions of the ``kind`` state machine, oldest first (ListExecutions' summaries)."""
    machine = pipeline.deployment.machine(kind)
    sfn = pipeline.aws.client("stepfunctions")
    found: list[dict[str, Any]] = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine.arn):
        found += page["executions"]
    return sorted(found, key=lambda execution: execution["startDate"])


def execution_input(pipeline: LocalPipeline, arn: str) -> dict[str, Any]:
    described = pipeline.aws.client("stepfunctions").describe_execution(executionArn=arn)
    document: dict[str, Any] = json.loads(described.get("input") or "{}")
    return document


def execution_output(pipeline: LocalPipeline, arn: str) -> dict[str, Any]:
    described = pipeline.aws.client("stepfunctions").describe_execution(executionArn=arn)
    document: dict[str, Any] = json.loads(described.get("output") or "{}")
    return document


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _slash, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read_object(pipeline: LocalPipeline, uri: str) -> bytes:
    bucket, key = split_uri(uri)
    body: bytes = pipeline.aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def keys_under(pipeline: LocalPipeline, bucket: str, prefix: str) -> list[str]:
    s3 = pipeline.aws.client("s3")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def download(pipeline: LocalPipeline, uri: str, destination: Path) -> Path:
    """Copy one object to ``destination`` (a file path); return it."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(read_object(pipeline, uri))
    return destination


def notification(pipeline: LocalPipeline, first: int, words: str) -> str:
    """The last notification since index ``first`` whose subject holds ``words``: subject and body, or ''."""
    found = [n.subject + "\n" + n.message for n in pipeline.progress.notifications[first:] if words in n.subject]
    return found[-1] if found else ""
