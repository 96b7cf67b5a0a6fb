"""The local SageMaker Runtime and REST API front doors, against a stand-in model server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from offline.services.api_gateway import api_gateway_event, local_api
from offline.services.http_server import Server
from offline.services.lambda_runtime import LambdaRuntime, LambdaSpec
from offline.services.sagemaker_runtime import runtime_proxy


class FakeModelServer(BaseHTTPRequestHandler):
    """Answers like inference.serve: 200 for a CSV row, 400 JSON for anything else."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers["Content-Type"] == "text/csv":
            status, answer = 200, {"predictions": [{"probability": 0.5, "label": 1}], "echo": body.decode()}
        else:
            status, answer = 400, {"error": "unsupported content type"}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def runtime() -> Iterator[Server]:
    model = Server(FakeModelServer)
    proxy = runtime_proxy(
        lambda name: model.url if name == "live" else None, account="123456789012", region="us-east-1"
    )
    yield proxy
    proxy.stop()
    model.stop()


def client(url: str):
    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_invoke_endpoint_reaches_the_live_model_server(runtime: Server):
    answer = client(runtime.url).invoke_endpoint(EndpointName="live", ContentType="text/csv", Body=b"1,2,3\n")

    assert json.loads(answer["Body"].read())["echo"] == "1,2,3\n"


def test_a_container_client_error_is_a_model_error_carrying_the_original(runtime: Server):
    with pytest.raises(ClientError) as raised:
        client(runtime.url).invoke_endpoint(EndpointName="live", ContentType="application/x-npy", Body=b"x")

    error = raised.value.response
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 400
    assert "unsupported content type" in error["OriginalMessage"]


def test_an_unknown_endpoint_is_a_validation_error(runtime: Server):
    with pytest.raises(ClientError) as raised:
        client(runtime.url).invoke_endpoint(EndpointName="missing", ContentType="text/csv", Body=b"1")

    assert raised.value.response["Error"]["Code"] == "ValidationError"
    assert "Endpoint missing of account 123456789012 not found." in str(raised.value)


def test_api_gateway_event_is_a_rest_proxy_event():
    event = api_gateway_event("POST", "/predict?x=1", {"Content-Type": "text/csv"}, b"1,2", "prod")

    assert event["httpMethod"] == "POST"
    assert event["path"] == "/predict"
    assert event["body"] == "1,2"
    assert event["isBase64Encoded"] is False
    assert event["queryStringParameters"] == {"x": "1"}
    assert event["requestContext"]["stage"] == "prod"


def test_the_local_api_answers_with_the_handler_proxy_response(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # Given a handler module on the path that echoes the body with a 201
    (tmp_path / "echo_handler.py").write_text(
        "def handler(event, context):\n"
        "    return {'statusCode': 201, 'headers': {'Content-Type': 'text/plain'}, 'body': event['body'].upper()}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    runtime = LambdaRuntime(account="123456789012", region="us-east-1")
    runtime.register(LambdaSpec(function_name="echo", handler="echo_handler.handler", environment={}))
    api = local_api(runtime, "echo")
    try:
        import urllib.request

        request = urllib.request.Request(f"{api.url}/predict", data=b"abc", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            assert response.read() == b"ABC"
    finally:
        api.stop()
