"""The endpoint's alarms change state from the recorded metrics, by CloudWatch's rules, and notify.

CloudWatch User Guide, "Using Amazon CloudWatch alarms": M out of N, the evaluation range and
the treatment of missing data (both example tables are reproduced below), percentiles.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import boto3  # type: ignore[import-untyped, unused-ignore]
import numpy
import pytest
from moto import mock_aws

from offline import moto_patches
from offline.run.active import activate
from offline.services import alarm_rules
from offline.services.alarm_evaluation import AlarmEvaluator
from offline.services.cloudwatch_alarms import AlarmActions
from offline.services.endpoint_metrics import EndpointMetrics, Invocation
from tests.offline.services_stub import bare_services

ACCOUNT = "123456789012"
REGION = "us-east-1"
ENDPOINT = "fraud-detector-dev"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
DIMENSIONS = [{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "AllTraffic"}]
#: A period-aligned instant: with time_scale 60 a 60 s period lasts 1 s, so [BASE, BASE + 1) is one period.
BASE = math.floor(time.time()) - 30.0


@dataclass
class Published:
    messages: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, topic: str, subject: str, message: str) -> None:
        self.messages.append((topic, subject, json.loads(message)))


@pytest.fixture
def published() -> Iterator[Published]:
    """moto with offline mode's patches; alarm actions published here (IAM allows everything)."""
    sent = Published()
    lenient = SimpleNamespace(
        account=ACCOUNT,
        region=REGION,
        catalog=SimpleNamespace(keys=SimpleNamespace(topic_key=lambda topic: None)),
        require=lambda *args, **kwargs: None,
    )
    moto_patches.install()
    activate(bare_services(alarms=AlarmActions(iam=cast(Any, lenient), publish=sent, log=lambda line: None)))
    try:
        with mock_aws():
            yield sent
    finally:
        activate(None)


def alarm(name: str, metric: str, threshold: float, **settings: Any) -> None:
    definition: dict[str, Any] = {
        "AlarmName": name,
        "Namespace": "AWS/SageMaker",
        "MetricName": metric,
        "Dimensions": DIMENSIONS,
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Statistic": "Average",
        "AlarmActions": [TOPIC],
        "OKActions": [TOPIC],
        **settings,
    }
    if "ExtendedStatistic" in settings:
        del definition["Statistic"]
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(**definition)


def traffic(period: int, statuses: list[int], latencies: list[int] | None = None) -> None:
    """Requests in the ``period``-th one-second period after BASE, written to the local CloudWatch."""
    metrics = EndpointMetrics(account=ACCOUNT, region=REGION)
    for index, status in enumerate(statuses):
        latency = latencies[index] if latencies else 1000
        at = BASE + period + 0.1 + index * 0.5 / len(statuses)
        metrics.record(Invocation(ENDPOINT, "AllTraffic", "config-b", status, latency, 200, at))
    metrics.flush()


def evaluate_after(period: int) -> AlarmEvaluator:
    """Evaluate once, just after the ``period``-th period is complete."""
    evaluator = AlarmEvaluator(account=ACCOUNT, region=REGION, time_scale=60.0, log=lambda line: None)
    evaluator.evaluate_now(now=BASE + period + 1 + evaluator.settle_seconds + 0.01)
    return evaluator


def test_a_breaching_error_rate_goes_to_alarm_with_cloudwatchs_reason_and_notifies(published: Published) -> None:
    # Given a 5xx-rate alarm at 5 % and a period in which 1 request of 4 failed
    alarm("fraud-detector-dev-5xx-rate", "Invocation5XXErrors", 0.05)
    traffic(0, [200, 200, 200, 500])
    # When the alarm is evaluated after that period
    states = evaluate_after(0).alarm_states(["fraud-detector-dev-5xx-rate"])
    # Then it is in ALARM, saying why as CloudWatch does
    state, reason = states["fraud-detector-dev-5xx-rate"]
    stamp = time.strftime("%d/%m/%y %H:%M:%S", time.gmtime(BASE))
    assert state == "ALARM"
    assert reason == (
        f"Threshold Crossed: 1 out of the last 1 datapoints [0.25 ({stamp})] was greater than or equal to "
        "the threshold (0.05) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    # And its SNS action ran, with CloudWatch's message
    ((topic, subject, message),) = published.messages
    assert topic == TOPIC
    assert subject.startswith('ALARM: "fraud-detector-dev-5xx-rate"')
    assert (message["NewStateValue"], message["NewStateReason"]) == ("ALARM", reason)


def test_a_healthy_period_brings_it_back_to_ok(published: Published) -> None:
    alarm("rate", "Invocation5XXErrors", 0.05)
    traffic(0, [500, 200])
    evaluate_after(0)
    traffic(1, [200, 200])
    state, reason = evaluate_after(1).alarm_states(["rate"])["rate"]
    assert state == "OK"
    assert "was not greater than or equal to the threshold (0.05)" in reason
    assert reason.endswith("(minimum 1 datapoint for ALARM -> OK transition).")
    assert [message["NewStateValue"] for _, _, message in published.messages] == ["ALARM", "OK"]


def test_not_breaching_missing_data_keeps_an_alarm_ok_without_traffic(published: Published) -> None:
    alarm("rate", "Invocation5XXErrors", 0.05, TreatMissingData="notBreaching")
    state, _ = evaluate_after(3).alarm_states(["rate"])["rate"]
    assert state == "OK"
    assert published.messages == []


def test_breaching_missing_data_alarms_without_traffic(published: Published) -> None:
    alarm("rate", "Invocation5XXErrors", 0.05, TreatMissingData="breaching")
    state, reason = evaluate_after(3).alarm_states(["rate"])["rate"]
    assert state == "ALARM"
    assert reason == (
        "Threshold Crossed: no datapoints were received for 1 period and "
        "1 missing datapoint was treated as [Breaching]."
    )


def test_a_p99_latency_alarm_reads_microseconds(published: Published) -> None:
    # Given a p99 alarm at 100 ms, and 100 requests of which 2 took 900 ms
    alarm("latency", "ModelLatency", 100_000, ExtendedStatistic="p99", Unit="Microseconds")
    latencies = [2_000] * 98 + [900_000, 900_000]
    traffic(0, [200] * 100, latencies)
    state, reason = evaluate_after(0).alarm_states(["latency"])["latency"]
    expected = float(numpy.percentile(latencies, 99))
    assert state == "ALARM"
    assert f"[{expected!r} (" in reason


def test_a_p99_under_the_threshold_stays_ok(published: Published) -> None:
    alarm("latency", "ModelLatency", 100_000, ExtendedStatistic="p99")
    traffic(0, [200] * 100, [2_000] * 99 + [900_000])
    assert evaluate_after(0).alarm_states(["latency"])["latency"][0] == "OK"


@pytest.mark.parametrize(
    ("rates", "expected"),
    [([1, 0, 1], "ALARM"), ([1, 0, 0], "OK"), ([0, 1, 1], "ALARM")],
)
def test_datapoints_to_alarm_is_m_out_of_n(published: Published, rates: list[int], expected: str) -> None:
    # Given a 2 out of 3 alarm and three periods, each all failing (1) or all answered (0)
    alarm("rate", "Invocation5XXErrors", 0.5, EvaluationPeriods=3, DatapointsToAlarm=2)
    for period, failing in enumerate(rates):
        traffic(period, [500 if failing else 200] * 2)
    state, reason = evaluate_after(2).alarm_states(["rate"])["rate"]
    assert state == expected
    if expected == "ALARM":
        assert reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [1.0 (")
        assert reason.endswith("(minimum 2 datapoints for OK -> ALARM transition).")


def test_only_sagemaker_alarms_are_evaluated(published: Published) -> None:
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
        AlarmName="api-5xx",
        Namespace="AWS/ApiGateway",
        MetricName="5XXError",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        Statistic="Sum",
        TreatMissingData="breaching",
    )
    assert evaluate_after(0).alarm_states(["api-5xx", "absent"]) == {
        "api-5xx": ("OK", "Unchecked: Initial alarm creation")
    }


def test_the_evaluator_thread_follows_scaled_time(published: Published) -> None:
    # Given a 60 s alarm evaluated at time scale 600 (a period lasts 0.1 s) and failing traffic now
    alarm("rate", "Invocation5XXErrors", 0.05)
    evaluator = AlarmEvaluator(account=ACCOUNT, region=REGION, time_scale=600.0, log=lambda line: None)
    evaluator.settle_seconds = 0.05
    metrics = EndpointMetrics(account=ACCOUNT, region=REGION)
    evaluator.start()
    try:
        metrics.record(Invocation(ENDPOINT, "AllTraffic", "c", 500, 1000, 100, time.time()))
        metrics.flush()
        deadline = time.monotonic() + 1.5
        while evaluator.alarm_states(["rate"])["rate"][0] != "ALARM" and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        evaluator.stop()
    assert evaluator.alarm_states(["rate"])["rate"][0] == "ALARM"


# --- The rules, against the User Guide's tables ("How alarm state is evaluated when data is missing") --


def _points(row: str) -> list[float | None]:
    return [None if c == "-" else (1.0 if c == "X" else 0.0) for c in row.split()]


_COLUMNS = ("missing", "ignore", "breaching", "notBreaching")
_THREE_OF_THREE = [
    ("0 - X - X", ("OK", "OK", "OK", "OK")),
    ("0 - - - -", ("OK", "OK", "OK", "OK")),
    ("- - - - -", ("INSUFFICIENT_DATA", None, "ALARM", "OK")),
    ("0 X X - X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("- - - - X", ("INSUFFICIENT_DATA", None, "ALARM", "OK")),
    ("X - - - -", ("ALARM", None, "ALARM", "OK")),
]
_TWO_OF_THREE = [
    ("0 - X - X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("0 0 X 0 X", ("ALARM", "ALARM", "ALARM", "ALARM")),
    ("0 - X - -", ("OK", "OK", "ALARM", "OK")),
    ("- - - - 0", ("OK", "OK", "ALARM", "OK")),
    ("- - - - X", ("INSUFFICIENT_DATA", None, "ALARM", "OK")),
]


@pytest.mark.parametrize(
    ("to_alarm", "row", "states"),
    [(3, row, states) for row, states in _THREE_OF_THREE] + [(2, row, states) for row, states in _TWO_OF_THREE],
)
def test_missing_data_follows_the_user_guides_tables(to_alarm: int, row: str, states: tuple[str | None, ...]) -> None:
    assert alarm_rules.evaluation_range(3) == len(row.split())
    for treat, expected in zip(_COLUMNS, states, strict=True):
        decision = alarm_rules.decide(
            _points(row), periods=3, to_alarm=to_alarm, breaches=lambda value: value > 0.5, treat=treat
        )
        assert decision.state == expected, (row, treat)


def test_percentile_is_numpys_linear_interpolation() -> None:
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    for percent in (0, 50, 90, 99, 100):
        assert alarm_rules.percentile(values, percent) == pytest.approx(numpy.percentile(values, percent))
