"""The local SageMaker Runtime and REST API front doors, against a stand-in model server."""

from __future__ import annotations

import ast
import contextlib
import http.client
import io
import json
import re
import socket
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError

from offline.services.api_gateway import api_gateway_event, local_api
from offline.services.http_server import Server
from offline.services.lambda_runtime import LambdaRuntime, LambdaSpec
from offline.services.sagemaker_runtime import runtime_proxy
from tests.raw_http import read_answer
from training.feature_schema import REQUEST_TOO_LARGE_MESSAGE


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


# --- the local API in front of the real inference proxy ----------------------------------------------

ROW = b"125.5,14,3.2,0,2,400,1,0.02\n"


class RecordingModelServer(BaseHTTPRequestHandler):
    """Answers like inference.serve and keeps every body it received."""

    bodies: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(body)
        data = json.dumps({"predictions": [{"probability": 0.5, "label": 1}], "model_version": "m"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def stack() -> Iterator[Server]:
    """The local API → the real inference proxy handler → the local runtime → a recording model server."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            patch.setenv(name, value)
        model = Server(RecordingModelServer)
        runtime = runtime_proxy(
            lambda name: model.url if name == "live" else None, account="123456789012", region="us-east-1"
        )
        lambdas = LambdaRuntime(account="123456789012", region="us-east-1")
        lambdas.register(
            LambdaSpec(
                function_name="proxy",
                handler="lambdas.inference_proxy.app.handler",
                environment={"ENDPOINT_NAME": "live", "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": runtime.url},
            )
        )
        local = local_api(lambdas, "proxy")
        yield local
        local.stop()
        runtime.stop()
        model.stop()


@pytest.fixture
def api(stack: Server) -> Server:
    """The shared local API, with nothing recorded yet."""
    RecordingModelServer.bodies = []
    return stack


def send(
    url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """One request over real HTTP: status, headers (lower-case names) and the JSON answer."""
    split = urlsplit(url)
    connection = http.client.HTTPConnection(split.hostname or "", split.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "text/csv", **(headers or {})})
        answer = connection.getresponse()
        raw = answer.read()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, json.loads(raw) if raw else {}
    finally:
        connection.close()


def exchange(url: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Raw bytes in, one HTTP answer out (for requests http.client refuses to send)."""
    split = urlsplit(url)
    with socket.create_connection((split.hostname or "", split.port or 80), timeout=30) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def test_the_local_api_serves_the_v1_stage_and_forwards_the_callers_bytes(api: Server) -> None:
    # Given the local API, whose URL is the stage's invoke URL as in AWS
    assert api.url.endswith("/v1")
    # When a spreadsheet-style row is posted to /v1/predict
    status, _, answer = send(api.url, "POST", "/v1/predict", b'"125.5","14","3.2","0","2","400","1","0.02"\r\n')
    # Then it is scored, and the model server received the caller's bytes as they were sent
    assert status == 200
    assert answer["predictions"] == [{"probability": 0.5, "label": 1}]
    assert RecordingModelServer.bodies == [b'"125.5","14","3.2","0","2","400","1","0.02"\r\n']


@pytest.mark.parametrize(
    "path",
    ["/v1/score", "/prod/predict", "/predict", "/v1", "/"],
    ids=["resource", "stage", "no-stage", "root", "slash"],
)
def test_a_wrong_path_or_stage_answers_like_api_gateway(api: Server, path: str) -> None:
    # When a request goes to a resource or stage the API does not have
    status, headers, answer = send(api.url, "POST", path, ROW)
    # Then API Gateway's own answer comes back, and nothing is scored
    assert status == 403
    assert answer == {"message": "Missing Authentication Token"}
    assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert RecordingModelServer.bodies == []


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_another_method_on_predict_is_a_405_json_naming_post(api: Server, method: str) -> None:
    # When /v1/predict is called with a method other than POST
    status, headers, answer = send(api.url, method, "/v1/predict")
    # Then the proxy's 405 JSON comes back (every method reaches it, as in the deployed API)
    assert status == 405
    assert headers["allow"] == "POST"
    assert "use POST" in answer["error"]


def test_a_method_api_gateway_does_not_know_is_json_not_an_html_501(api: Server) -> None:
    status, headers, answer = send(api.url, "BREW", "/v1/predict")
    assert status == 403
    assert headers["content-type"] == "application/json"
    assert answer == {"message": "Missing Authentication Token"}


@pytest.mark.parametrize(
    "body",
    [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", b"125.5,14,3.2,\xff,2,400,1,0.02\n"],
    ids=["binary", "latin-1"],
)
def test_a_body_that_is_not_utf8_gets_a_400_json(api: Server, body: bytes) -> None:
    # When bytes that are not UTF-8 are posted (the local API used to drop the connection)
    status, _, answer = send(api.url, "POST", "/v1/predict", body)
    # Then the proxy says so
    assert status == 400
    assert "not valid UTF-8" in answer["error"]


@pytest.mark.parametrize("content_length", ["ten", "-1", "12, 12"], ids=["word", "negative", "list"])
def test_a_bad_content_length_gets_a_400_json(api: Server, content_length: str) -> None:
    raw = (
        f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: {content_length}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + ROW
    status, headers, body = exchange(api.url, raw)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert "Content-Length" in json.loads(body)["error"]


def test_a_body_over_api_gateways_10_mb_gets_its_413(api: Server) -> None:
    # When a body over API Gateway's 10 MB payload limit is posted
    status, _, answer = send(api.url, "POST", "/v1/predict", b"1" * (10 * 1024 * 1024 + 1))
    # Then the deployed API's REQUEST_TOO_LARGE response comes back, naming the limit and batch scoring
    assert status == 413
    assert answer == {"error": REQUEST_TOO_LARGE_MESSAGE}


def test_an_event_over_lambdas_6_mb_invocation_limit_never_reaches_the_function(api: Server) -> None:
    # When a body API Gateway accepts (under 10 MB) but that makes the Lambda event too large is posted
    status, _, answer = send(api.url, "POST", "/v1/predict", b"1" * (7 * 1024 * 1024))
    # Then the same 413 comes back, naming the 6 MB a request may hold, and nothing is scored
    assert status == 413
    assert answer == {"error": REQUEST_TOO_LARGE_MESSAGE}
    assert "6 MB" in answer["error"]
    assert RecordingModelServer.bodies == []


def test_the_local_runtime_answers_other_methods_and_bad_lengths_in_json(runtime: Server) -> None:
    # Given the local SageMaker Runtime
    # When it gets a GET, and a POST whose Content-Length is not a number
    get_status, get_headers, get_answer = send(runtime.url, "GET", "/endpoints/live/invocations")
    raw = b"POST /endpoints/live/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\nConnection: close\r\n\r\n"
    bad_status, bad_headers, bad_body = exchange(runtime.url, raw)
    # Then both answers are 4xx JSON, as AWS's are, not an HTML page or a dropped connection
    assert 400 <= get_status < 500
    assert get_headers["content-type"] == "application/json"
    assert "message" in get_answer
    assert bad_status == 400
    assert bad_headers["content-type"] == "application/json"
    assert "Content-Length" in json.loads(bad_body)["message"]


def test_the_readme_signing_example_reaches_the_proxy(api: Server) -> None:
    # Given the README's Python example for a signed call (the local API does not check the signature)
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme[readme.index("## Calling the API\n") :]
    example = next(block for block in re.findall(r"```python\n(.*?)```", section, re.DOTALL) if "SigV4Auth" in block)
    # When it runs as written against the local API's /v1/predict
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "README.md", "exec"), {"PREDICT_URL": f"{api.url}/predict"})
    # Then it printed the prediction (its last line: the proxy runs in this process, and on its cold start
    # its EMF document goes to the same stdout first), and the model server got the row
    last = printed.getvalue().strip().splitlines()[-1]
    assert json.loads(ast.literal_eval(last))["predictions"][0]["label"] == 1
    assert RecordingModelServer.bodies == [ROW]
