"""Each invocation's SageMaker metrics land in the local CloudWatch, readable as AWS's are.

SageMaker Developer Guide, "Amazon SageMaker AI metrics in Amazon CloudWatch": Invocations,
Invocation4XXErrors, Invocation5XXErrors, ModelLatency and OverheadLatency (microseconds), by
endpoint and variant, and by endpoint, variant and endpoint config.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws

from offline import moto_patches
from offline.run.active import activate
from offline.services import cloudwatch_metrics
from offline.services.endpoint_metrics import EndpointMetrics, Invocation
from tests.offline.services_stub import bare_services

ACCOUNT = "123456789012"
REGION = "us-east-1"
VARIANT = [{"Name": "EndpointName", "Value": "fraud-detector-dev"}, {"Name": "VariantName", "Value": "AllTraffic"}]
CONFIG = [*VARIANT, {"Name": "EndpointConfigName", "Value": "config-b"}]


@pytest.fixture
def cloudwatch() -> Iterator[Any]:
    """moto's CloudWatch, with offline mode's patches active (no other local service)."""
    moto_patches.install()
    activate(bare_services())
    try:
        with mock_aws():
            yield boto3.client("cloudwatch", region_name=REGION)
    finally:
        activate(None)


def invocation(status: int, at: float, *, config: str = "config-b", latency: int = 1500) -> Invocation:
    return Invocation("fraud-detector-dev", "AllTraffic", config, status, latency, 300, at)


def statistics(cloudwatch: Any, metric: str, dimensions: list[dict[str, str]], *stats: str) -> dict[str, Any]:
    now = datetime.datetime.now(tz=datetime.UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName=metric,
        Dimensions=dimensions,
        StartTime=now - datetime.timedelta(minutes=5),
        EndTime=now + datetime.timedelta(minutes=1),
        Period=3600,
        Statistics=list(stats),
    )["Datapoints"]
    assert len(points) == 1, points
    return dict(points[0])


def test_counts_are_read_as_sagemaker_publishes_them(cloudwatch: Any) -> None:
    # Given three requests: answered, refused (4xx) and failed (5xx)
    metrics = EndpointMetrics(account=ACCOUNT, region=REGION)
    now = time.time()
    for status in (200, 404, 503):
        metrics.record(invocation(status, now))
    # When they are written
    metrics.flush()
    # Then Invocations counts them once per dimension set, and an error metric's Average is its rate
    for dimensions in (VARIANT, CONFIG):
        assert statistics(cloudwatch, "Invocations", dimensions, "Sum")["Sum"] == 3
        assert statistics(cloudwatch, "Invocation5XXErrors", dimensions, "Average")["Average"] == pytest.approx(1 / 3)
        assert statistics(cloudwatch, "Invocation4XXErrors", dimensions, "Sum")["Sum"] == 1


def test_latencies_are_microseconds_one_value_per_request(cloudwatch: Any) -> None:
    metrics = EndpointMetrics(account=ACCOUNT, region=REGION)
    now = time.time()
    for micros in (1200, 4800):
        metrics.record(invocation(200, now, latency=micros))
    metrics.flush()
    found = statistics(cloudwatch, "ModelLatency", VARIANT, "Maximum", "SampleCount")
    assert (found["Maximum"], found["SampleCount"], found["Unit"]) == (4800, 2, "Microseconds")
    assert statistics(cloudwatch, "OverheadLatency", CONFIG, "Sum")["Sum"] == 600


def test_each_config_is_its_own_metric_and_the_variant_covers_both(cloudwatch: Any) -> None:
    # Given a canary: requests to the old and the new config of one variant
    metrics = EndpointMetrics(account=ACCOUNT, region=REGION)
    now = time.time()
    metrics.record(invocation(200, now, config="config-a"))
    metrics.record(invocation(500, now, config="config-b"))
    metrics.record(invocation(500, now, config="config-b"))
    metrics.flush()
    # Then the variant's series has all three, the new config's only its own two
    assert statistics(cloudwatch, "Invocations", VARIANT, "Sum")["Sum"] == 3
    assert statistics(cloudwatch, "Invocation5XXErrors", CONFIG, "Average")["Average"] == 1.0
    listed = cloudwatch.list_metrics(Namespace="AWS/SageMaker", MetricName="Invocations")["Metrics"]
    assert len(listed) == 3  # the variant, and each config


def test_the_timer_writes_without_a_flush(cloudwatch: Any) -> None:
    metrics = EndpointMetrics(account=ACCOUNT, region=REGION, flush_interval=0.05)
    metrics.record(invocation(200, time.time()))
    deadline = time.monotonic() + 1.0
    while not cloudwatch_metrics.backend(ACCOUNT, REGION).metric_data and time.monotonic() < deadline:
        time.sleep(0.02)
    assert statistics(cloudwatch, "Invocations", VARIANT, "Sum")["Sum"] == 1


def test_a_late_request_is_stored_in_time_order(cloudwatch: Any) -> None:
    # Given datapoints already written up to now, and a request that started a second earlier
    metrics = EndpointMetrics(account=ACCOUNT, region=REGION)
    now = time.time()
    metrics.record(invocation(200, now))
    metrics.flush()
    metrics.record(invocation(200, now - 1.0))
    metrics.flush()
    # Then the store never goes back in time (readers of AWS/ namespaces rely on it)
    stamps = [datum.timestamp for datum in cloudwatch_metrics.backend(ACCOUNT, REGION).metric_data]
    assert stamps == sorted(stamps)


def test_recording_is_cheap_and_never_raises(cloudwatch: Any) -> None:
    metrics = EndpointMetrics(account=ACCOUNT, region=REGION, flush_interval=10)
    started = time.perf_counter()
    for _ in range(2000):
        metrics.record(invocation(200, time.time()))
    assert time.perf_counter() - started < 0.5
    metrics.record(None)  # type: ignore[arg-type]  # a caller's bug must not fail the request
    metrics.close()
