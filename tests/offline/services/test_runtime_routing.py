"""The local SageMaker Runtime during a rollout: weighted routing and one Invocation per request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from offline.run.local_aws import free_port
from offline.services.endpoint_metrics import Invocation
from offline.services.http_server import Server
from offline.services.sagemaker_runtime import runtime_proxy
from offline.services.traffic_routing import RouteTarget, WeightedRouter


def model_server(status: int) -> Server:
    """A stand-in container answering every /invocations with ``status``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            data = json.dumps({"predictions": []} if status == 200 else {"error": "injected fault"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Server(Handler)


@dataclass
class Split:
    runtime: Server
    invocations: list[Invocation]

    def invoke(self) -> int:
        """One request (the client retries nothing, so each call is one request), its HTTP status."""
        client = boto3.client(
            "sagemaker-runtime",
            endpoint_url=self.runtime.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"total_max_attempts": 1}),
        )
        try:
            client.invoke_endpoint(EndpointName="live", ContentType="text/csv", Body=b"1,2\n")
        except ClientError as error:
            return int(error.response["ResponseMetadata"]["HTTPStatusCode"])
        return 200


@pytest.fixture
def split() -> Iterator[Split]:
    """A runtime splitting "live" 50/50 between a healthy v1 and a v2 answering 500."""
    healthy, failing = model_server(200), model_server(500)
    targets = {"v1": RouteTarget(healthy.url, "config-v1"), "v2": RouteTarget(failing.url, "config-v2")}
    router = WeightedRouter({"v1": 1, "v2": 1})
    invocations: list[Invocation] = []
    runtime = runtime_proxy(
        lambda name: targets[router.choose()] if name == "live" else None,
        account="123456789012",
        region="us-east-1",
        on_invocation=invocations.append,
    )
    yield Split(runtime, invocations)
    for server in (runtime, healthy, failing):
        server.stop()


def test_requests_follow_the_split_and_each_is_reported_once(split: Split):
    # When four requests are sent
    statuses = [split.invoke() for _ in range(4)]
    # Then they alternate between the fleets; v2's 500 reaches the caller as a ModelError (424)
    assert statuses == [200, 424, 200, 424]
    # ...and each request was reported once, with the config that served it and the container's status
    assert [(i.endpoint, i.variant, i.config_name, i.status) for i in split.invocations] == [
        ("live", "AllTraffic", "config-v1", 200),
        ("live", "AllTraffic", "config-v2", 500),
        ("live", "AllTraffic", "config-v1", 200),
        ("live", "AllTraffic", "config-v2", 500),
    ]
    assert all(i.model_latency_us > 0 and i.overhead_latency_us >= 0 for i in split.invocations)


def test_a_container_that_does_not_answer_is_one_5xx_invocation_after_the_retry():
    invocations: list[Invocation] = []
    gone = RouteTarget(f"http://127.0.0.1:{free_port()}", "config-v2")
    runtime = runtime_proxy(
        lambda name: gone, account="123456789012", region="us-east-1", on_invocation=invocations.append
    )
    try:
        status = Split(runtime, invocations).invoke()
    finally:
        runtime.stop()

    assert status == 500
    assert [(i.config_name, i.status) for i in invocations] == [("config-v2", 500)]


def test_a_request_for_no_endpoint_reports_nothing(split: Split):
    client = boto3.client(
        "sagemaker-runtime",
        endpoint_url=split.runtime.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with pytest.raises(ClientError):
        client.invoke_endpoint(EndpointName="missing", ContentType="text/csv", Body=b"1\n")

    assert split.invocations == []
