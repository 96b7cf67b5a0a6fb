"""EventBridge pattern matching and input transformation, as the S3 trigger rule uses them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from offline.deploy.deployment import Rule
from offline.services.event_patterns import matches, transform_input
from offline.services.eventbridge import EventBridge, s3_object_created_event

RULE_PATTERN = {
    "source": ["aws.s3"],
    "detail-type": ["Object Created"],
    "detail": {"bucket": {"name": ["data-bucket"]}, "object": {"key": [{"prefix": "incoming/"}]}},
}
TARGET = {
    "Arn": "arn:aws:states:us-east-1:123456789012:stateMachine:sm",
    "Id": "Target0",
    "InputTransformer": {
        "InputPathsMap": {"detail-bucket-name": "$.detail.bucket.name", "detail-object-key": "$.detail.object.key"},
        "InputTemplate": '{"trigger":"s3","reason":"new training data","bucket":<detail-bucket-name>,'
        '"object_key":<detail-object-key>}',
    },
}


def event(bucket: str = "data-bucket", key: str = "incoming/ds/train/train.csv") -> dict:
    return s3_object_created_event(
        {
            "account": "123456789012",
            "region": "us-east-1",
            "bucket": bucket,
            "bucket_arn": f"arn:aws:s3:::{bucket}",
            "key": key,
            "size": 10,
            "etag": "abc",
            "version_id": None,
            "reason": "Put",
        }
    )


def test_the_s3_rule_matches_an_upload_under_incoming():
    assert matches(RULE_PATTERN, event())


@pytest.mark.parametrize(
    ("bucket", "key"),
    [("other-bucket", "incoming/ds/train/train.csv"), ("data-bucket", "outgoing/ds/train.csv")],
)
def test_the_s3_rule_ignores_other_buckets_and_prefixes(bucket: str, key: str):
    assert not matches(RULE_PATTERN, event(bucket, key))


@pytest.mark.parametrize(
    ("condition", "value", "expected"),
    [
        ({"suffix": ".csv"}, "a/b.csv", True),
        ({"suffix": ".csv"}, "a/b.json", False),
        ({"anything-but": ["x"]}, "y", True),
        ({"anything-but": ["x"]}, "x", False),
        ({"anything-but": {"prefix": "tmp/"}}, "tmp/a", False),
        ({"numeric": [">", 0, "<=", 5]}, 5, True),
        ({"numeric": [">", 0, "<=", 5]}, 6, False),
        ({"equals-ignore-case": "ABC"}, "abc", True),
        ({"wildcard": "incoming/*/train/*"}, "incoming/ds/train/x.csv", True),
        ({"prefix": {"equals-ignore-case": "IN"}}, "incoming", True),
    ],
)
def test_content_filters(condition: dict, value: object, expected: bool):
    assert matches({"detail": {"field": [condition]}}, {"detail": {"field": value}}) is expected


def test_exists_false_matches_a_missing_field():
    assert matches({"detail": {"gone": [{"exists": False}]}}, {"detail": {}})
    assert not matches({"detail": {"gone": [{"exists": True}]}}, {"detail": {}})


def test_an_array_value_matches_when_any_element_matches():
    assert matches({"resources": ["arn:b"]}, {"resources": ["arn:a", "arn:b"]})


def test_or_matches_either_branch():
    pattern = {"$or": [{"source": ["aws.s3"]}, {"source": ["custom"]}]}

    assert matches(pattern, {"source": "custom"})
    assert not matches(pattern, {"source": "other"})


def test_the_input_transformer_builds_the_contract_execution_input():
    # When the rule's own transformer runs on an S3 event
    payload = transform_input(TARGET, event(), rule_arn="arn:rule", rule_name="rule")

    # Then it is the execution input of docs/contracts.md
    assert json.loads(payload) == {
        "trigger": "s3",
        "reason": "new training data",
        "bucket": "data-bucket",
        "object_key": "incoming/ds/train/train.csv",
    }


def test_a_quoted_placeholder_gets_the_raw_text():
    target = {"InputTransformer": {"InputPathsMap": {"k": "$.detail.object.key"}, "InputTemplate": '{"m": "key <k>!"}'}}

    assert json.loads(transform_input(target, event(), rule_arn="a", rule_name="r")) == {
        "m": "key incoming/ds/train/train.csv!"
    }


def test_reserved_variables_and_missing_paths():
    target = {
        "InputTransformer": {
            "InputPathsMap": {"missing": "$.detail.nothing"},
            "InputTemplate": '{"rule": <aws.events.rule-name>, "missing": <missing>}',
        }
    }

    assert json.loads(transform_input(target, event(), rule_arn="a", rule_name="my-rule")) == {
        "rule": "my-rule",
        "missing": None,
    }


def test_constant_input_and_input_path():
    assert transform_input({"Input": '{"trigger":"schedule"}'}, event(), rule_arn="a", rule_name="r") == (
        '{"trigger":"schedule"}'
    )
    assert json.loads(transform_input({"InputPath": "$.detail.bucket"}, event(), rule_arn="a", rule_name="r")) == {
        "name": "data-bucket"
    }


def test_a_model_package_event_is_delivered_after_the_call_that_caused_it_with_the_event_as_input():
    # Given the deployment rule (no Input: the target gets the whole event)
    package = "arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud-dev-models/3"
    rule = Rule(
        name="deploy-on-approval",
        arn="arn:aws:events:us-east-1:123456789012:rule/deploy-on-approval",
        event_pattern={
            "source": ["aws.sagemaker"],
            "detail-type": ["SageMaker Model Package State Change"],
            "detail": {"ModelPackageGroupName": ["fraud-dev-models"], "ModelApprovalStatus": ["Approved", "Rejected"]},
        },
        schedule=None,
        enabled=True,
        targets=[{"Arn": "arn:aws:states:us-east-1:123456789012:stateMachine:deploy", "Id": "Target0"}],
    )
    inputs: list[str] = []

    def start(_rule: Rule, _target: dict[str, Any], payload: str) -> str:
        inputs.append(payload)
        return "arn:aws:states:us-east-1:123456789012:execution:deploy:1"

    bridge = EventBridge(rules=[rule], start_execution=start, log=lambda _line: None)
    event = {
        "version": "0",
        "id": "1",
        "detail-type": "SageMaker Model Package State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2026-11-24T05:00:00Z",
        "region": "us-east-1",
        "resources": [package],
        "detail": {
            "ModelPackageGroupName": "fraud-dev-models",
            "ModelPackageVersion": 3,
            "ModelApprovalStatus": "Approved",
        },
    }
    try:
        # When SageMaker sends the event
        bridge.put_event(event)
        # Then nothing starts inside the call
        assert inputs == []
        deadline = time.monotonic() + 5
        while not bridge.idle() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        bridge.stop()
    # And the deployment state machine starts once, on the event itself, reported by the package it is about
    assert [json.loads(payload) for payload in inputs] == [event]
    assert [delivery.object_key for delivery in bridge.deliveries] == [package]
