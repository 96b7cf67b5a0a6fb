"""``explain_rollback``: which alarm rolled a deployment back, what the canary saw, and the version rejected."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws

from lambdas.explain_rollback import app
from tests.unit.lambdas.conftest import FakeLambdaContext

ENDPOINT = "fraud-detector-dev"
ALARMS = ("fraud-detector-dev-5xx-rate", "fraud-detector-dev-p99-latency")
NEW_CONFIG = "fraud-dev-config-v3-5b2d8f10"
GROUP = "fraud-dev-models"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("ENVIRONMENT", "dev")
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("ALARM_NAMES", ",".join(ALARMS))
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "FraudPipeline")
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch")
        sagemaker = boto3.client("sagemaker")
        for name, metric in zip(ALARMS, ("Invocation5XXErrors", "ModelLatency"), strict=True):
            cloudwatch.put_metric_alarm(
                AlarmName=name,
                Namespace="AWS/SageMaker",
                MetricName=metric,
                Dimensions=[
                    {"Name": "EndpointName", "Value": ENDPOINT},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                Statistic="Average",
                Period=60,
                EvaluationPeriods=1,
                Threshold=0.02,
                ComparisonOperator="GreaterThanThreshold",
            )
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        arn = sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus="Approved",
            InferenceSpecification={
                "Containers": [{"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/i:1"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
        )["ModelPackageArn"]
        yield {"cloudwatch": cloudwatch, "sagemaker": sagemaker, "package": arn}


def _record(cloudwatch: Any, errors: int, ok: int) -> None:
    dimensions = [
        {"Name": "EndpointName", "Value": ENDPOINT},
        {"Name": "VariantName", "Value": "AllTraffic"},
        {"Name": "EndpointConfigName", "Value": NEW_CONFIG},
    ]
    now = datetime.datetime.now(tz=datetime.UTC)
    data = [{"MetricName": "Invocations", "Value": 1.0, "Dimensions": dimensions, "Timestamp": now}] * (errors + ok)
    data += [{"MetricName": "Invocation5XXErrors", "Value": 1.0, "Dimensions": dimensions, "Timestamp": now}] * errors
    data += [{"MetricName": "ModelLatency", "Value": 12500.0, "Dimensions": dimensions, "Timestamp": now}]
    for start in range(0, len(data), 20):
        cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=data[start : start + 20])


OLD_CONFIG = "fraud-dev-config-v2-7c1e9a3b"


def _event(world: dict[str, Any], failure: str | None) -> dict[str, Any]:
    started = (datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(minutes=5)).isoformat()
    return {
        "run": {"package": {"arn": world["package"], "version": "1"}, "names": {"endpoint_config": NEW_CONFIG}},
        "update": {"kind": "update", "started": started, "traffic": "canary of 1 instance(s)"},
        "endpoint": {"EndpointConfigName": OLD_CONFIG, "FailureReason": failure},
        "existing": {"status": "InService", "config": OLD_CONFIG},
    }


def test_an_alarm_that_fired_is_named_with_the_canary_figures_and_the_version_is_rejected(
    world: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    # Given the 5xx alarm fired during the bake, and the new fleet served 30 requests, 6 of them 5xx
    world["cloudwatch"].set_alarm_state(
        AlarmName=ALARMS[0], StateValue="ALARM", StateReason="Threshold Crossed: 0.2 > 0.02"
    )
    _record(world["cloudwatch"], errors=6, ok=24)
    # When the rollback is explained
    report = app.handler(_event(world, "alarm fraud-detector-dev-5xx-rate in ALARM"), lambda_context)
    # Then the alarm and the figures are in the report
    assert [alarm["name"] for alarm in report["alarms"]] == [ALARMS[0]]
    assert report["alarms"][0]["reason"] == "Threshold Crossed: 0.2 > 0.02"
    assert report["canary"] == {"invocations": 30, "errors_5xx": 6, "max_model_latency_ms": 12.5}
    assert "30 requests to the new fleet, 6 failed with 5xx" in report["summary"]
    # And the version is Rejected, with the reason, so nothing redeploys it
    described = world["sagemaker"].describe_model_package(ModelPackageName=world["package"])
    assert described["ModelApprovalStatus"] == "Rejected"
    assert described["ApprovalDescription"].startswith("Rejected automatically: rolled back by alarm")
    assert report["rejected"] is True


def test_an_alarm_back_to_ok_still_counts_when_sagemaker_names_it(
    world: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    # Given the latency alarm fired during the update and is OK again by now
    cloudwatch = world["cloudwatch"]
    cloudwatch.set_alarm_state(AlarmName=ALARMS[1], StateValue="ALARM", StateReason="p99 above 500 ms")
    cloudwatch.set_alarm_state(AlarmName=ALARMS[1], StateValue="OK", StateReason="p99 below 500 ms")
    report = app.handler(_event(world, f"Rolled back: alarm {ALARMS[1]} went into ALARM"), lambda_context)
    assert [alarm["name"] for alarm in report["alarms"]] == [ALARMS[1]]
    assert report["rejected"] is True


def test_an_alarm_the_reason_names_but_that_never_changed_did_not_fire(
    world: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    # Given SageMaker could not read the alarms (the reason names them) and none of them changed state
    reason = f"Deployment guardrails cannot monitor the auto-rollback alarms: not authorized on alarm:{ALARMS[0]}"
    started = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(seconds=1)
    event = _event(world, reason)
    event["update"]["started"] = started.isoformat()
    report = app.handler(event, lambda_context)
    # Then no alarm is blamed, and the version is not rejected
    assert report["alarms"] == []
    assert report["rejected"] is False


def test_a_rollback_without_an_alarm_keeps_the_version(
    world: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    # Given the new fleet never became healthy: no alarm fired
    report = app.handler(_event(world, "The primary container did not pass the ping health check"), lambda_context)
    # Then the cause is reported, and the version is left for people to decide
    assert report["alarms"] == []
    assert report["rejected"] is False
    assert "without an alarm firing: The primary container did not pass" in report["summary"]
    described = world["sagemaker"].describe_model_package(ModelPackageName=world["package"])
    assert described["ModelApprovalStatus"] == "Approved"
    assert report["canary"]["invocations"] == 0


def test_a_third_config_live_means_a_later_deployment_superseded_this_one(
    world: dict[str, Any], lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the endpoint serves neither this run's config nor the one it replaced, with an alarm in ALARM
    world["cloudwatch"].set_alarm_state(AlarmName=ALARMS[0], StateValue="ALARM", StateReason="Threshold Crossed")
    event = _event(world, None)
    event["endpoint"]["EndpointConfigName"] = "fraud-dev-config-v4-0d9c8b7a"
    # When the outcome is explained
    report = app.handler(event, lambda_context)
    # Then it is superseded: nothing blamed, the version left Approved, and the later config named
    assert report["outcome"] == "superseded"
    assert report["alarms"] == []
    assert report["rejected"] is False
    assert "a later deployment put endpoint config fraud-dev-config-v4-0d9c8b7a live" in report["summary"]
    described = world["sagemaker"].describe_model_package(ModelPackageName=world["package"])
    assert described["ModelApprovalStatus"] == "Approved"
    # And it is counted as superseded, not rolled back
    assert '"DeploymentsSuperseded"' in capsys.readouterr().out


def test_the_old_config_back_is_a_rollback(world: dict[str, Any], lambda_context: FakeLambdaContext) -> None:
    report = app.handler(_event(world, "no healthy instances"), lambda_context)
    assert report["outcome"] == "rolled_back"


def test_a_created_endpoint_serving_another_config_was_superseded(
    world: dict[str, Any], lambda_context: FakeLambdaContext
) -> None:
    # Given this run created the endpoint (it found none), and another config serves now
    event = _event(world, None)
    event["existing"] = {"found": False}
    report = app.handler(event, lambda_context)
    assert report["outcome"] == "superseded"
