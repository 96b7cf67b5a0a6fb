"""``notify`` publishes a registered version's quality as EMF metrics the dashboard plots."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws

from lambdas.notify import app
from lambdas.notify.app import publish_model_quality
from lambdas.notify.models import NotifyEvent
from tests.unit.lambdas.conftest import REGION, FakeLambdaContext, load_event

QUALITY = {"ModelRocAuc": 0.931, "ModelPrAuc": 0.412, "ModelPrecision": 0.55, "ModelRecall": 0.7}


def _emitted(out: str) -> list[dict[str, Any]]:
    """Every EMF document printed to stdout (one JSON object per line carrying ``_aws``)."""
    return [json.loads(line) for line in out.splitlines() if '"_aws"' in line]


def _quality_documents(out: str) -> list[dict[str, Any]]:
    return [doc for doc in _emitted(out) if "ModelPrAuc" in doc]


@pytest.fixture
def topic(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A moto SNS topic in TOPIC_ARN, so the handler can publish its message."""
    with mock_aws():
        arn = boto3.client("sns", region_name=REGION).create_topic(Name="fraud-dev")["TopicArn"]
        monkeypatch.setenv("TOPIC_ARN", arn)
        monkeypatch.setenv("ENVIRONMENT", "dev")
        yield


def test_registration_publishes_quality_per_environment_and_per_version(
    topic: None, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the registered notification of version 3 (challenger ROC-AUC 0.931, PR-AUC 0.412)
    event = load_event("notify_registered")
    # When the handler runs
    app.handler(event, lambda_context)
    # Then one EMF document carries the four figures, in the FraudPipeline namespace
    [doc] = _quality_documents(capsys.readouterr().out)
    [directive] = doc["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "FraudPipeline"
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == dict.fromkeys(QUALITY, "None")
    # (Powertools writes each value as a list: EMF allows several values per metric)
    assert {name: doc[name] for name in QUALITY} == {name: [value] for name, value in QUALITY.items()}
    # And with two dimension sets: the environment's time series, and one metric per version
    assert sorted(sorted(dims) for dims in directive["Dimensions"]) == [
        ["environment", "service"],
        ["environment", "service", "version"],
    ]
    assert (doc["environment"], doc["service"], doc["version"]) == ("dev", "notify", "3")


def test_quality_stays_out_of_the_notification_counters(
    topic: None, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the registered notification
    # When the handler runs
    app.handler(load_event("notify_registered"), lambda_context)
    # Then the counters are flushed in a document of their own, with no version dimension
    counters = [doc for doc in _emitted(capsys.readouterr().out) if "NotificationsSent" in doc]
    assert counters, "the handler's own metrics were not flushed"
    for doc in counters:
        assert "version" not in doc
        assert "ModelPrAuc" not in doc
        assert doc["ModelsRegistered"] == [1.0]


def test_other_kinds_publish_no_quality(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a run's success notification whose state still holds the gate's scores
    payload = load_event("notify_registered")
    payload["kind"] = "success"
    # When the quality is published
    published = publish_model_quality(NotifyEvent.model_validate(payload), "dev")
    # Then nothing is: only a registration adds a point to the quality series
    assert published == {}
    assert _quality_documents(capsys.readouterr().out) == []


def test_missing_figures_are_left_out_and_no_version_means_one_dimension_set(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a registration whose gate reported no precision or recall, and no package ARN
    payload = load_event("notify_registered")
    payload["state"]["gate"]["challenger"] = {"pr_auc": 0.3, "roc_auc": 0.88}
    payload["state"]["registered"] = {}
    # When the quality is published
    published = publish_model_quality(NotifyEvent.model_validate(payload), "stage")
    # Then only the figures present are published, on the environment's series alone
    assert published == {"ModelPrAuc": 0.3, "ModelRocAuc": 0.88}
    [doc] = _quality_documents(capsys.readouterr().out)
    [directive] = doc["_aws"]["CloudWatchMetrics"]
    assert sorted(m["Name"] for m in directive["Metrics"]) == ["ModelPrAuc", "ModelRocAuc"]
    assert [sorted(dims) for dims in directive["Dimensions"]] == [["environment", "service"]]
    assert (doc["environment"], doc["ModelPrAuc"], doc["ModelRocAuc"]) == ("stage", [0.3], [0.88])
    assert "version" not in doc


def test_a_gate_without_figures_publishes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a registration whose gate result has no scores at all
    payload = load_event("notify_registered")
    payload["state"]["gate"]["challenger"] = {}
    # When the quality is published
    published = publish_model_quality(NotifyEvent.model_validate(payload), "dev")
    # Then nothing is printed: an empty EMF document would be rejected
    assert published == {}
    assert _quality_documents(capsys.readouterr().out) == []
