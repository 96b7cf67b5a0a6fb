"""``inference_proxy``: ``POST /predict`` validation, endpoint call and error mapping."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError  # type: ignore[import-untyped, unused-ignore]
from botocore.response import StreamingBody  # type: ignore[import-untyped, unused-ignore]
from botocore.stub import Stubber  # type: ignore[import-untyped, unused-ignore]

from lambdas.inference_proxy import app, logic
from tests.unit.lambdas.conftest import REGION, FakeLambdaContext, load_event
from training.feature_schema import FEATURE_NAMES, MAX_PAYLOAD_BYTES, MAX_ROWS_PER_REQUEST, N_FEATURES

ENDPOINT = "fraud-detector-dev"
GOOD_ROW = [125.5, 14, 3.2, 0, 2, 400, 1, 0.02]
GOOD_CSV = ",".join(str(v) for v in GOOD_ROW) + "\n"
ANSWER = {"predictions": [{"probability": 0.03, "label": 0}], "model_version": "dev-20261123120000-1a2b3c4d"}


def _request(
    body: str | None = GOOD_CSV,
    content_type: str | None = "text/csv",
    *,
    header_name: str = "Content-Type",
    method: str = "POST",
    path: str = "/predict",
    base64_encoded: bool = False,
) -> dict[str, Any]:
    """The shared API Gateway event with the parts a test varies replaced."""
    event = load_event("api_predict_post")
    headers = {k: v for k, v in event["headers"].items() if k.lower() != "content-type"}
    if content_type is not None:
        headers[header_name] = content_type
    event["headers"] = headers
    event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
    event["httpMethod"] = method
    event["path"] = path
    event["resource"] = path
    event["body"] = body
    event["isBase64Encoded"] = base64_encoded
    return event


def _call(event: dict[str, Any], context: FakeLambdaContext) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = app.handler(event, context)
    # The REST resolver answers with multiValueHeaders; the last-resort answer with headers.
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    headers.update({k.lower(): v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()})
    assert isinstance(response["statusCode"], int)
    return response["statusCode"], json.loads(response["body"]), headers


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """A stubbed sagemaker-runtime client in place of the real one, and ENDPOINT_NAME set."""
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    client = boto3.client("sagemaker-runtime", region_name=REGION)
    monkeypatch.setattr(logic, "runtime_client", lambda: client)
    with Stubber(client) as stubber:
        yield stubber


def _expect_answer(
    stubber: Stubber, answer: dict[str, Any], body: bytes | None = None, content_type: str = "text/csv"
) -> None:
    """The endpoint answers ``answer``; when ``body`` is given, it must receive exactly those bytes."""
    data = json.dumps(answer).encode()
    expected = None
    if body is not None:
        expected = {"EndpointName": ENDPOINT, "ContentType": content_type, "Accept": "application/json", "Body": body}
    stubber.add_response(
        "invoke_endpoint",
        {"Body": StreamingBody(io.BytesIO(data), len(data)), "ContentType": "application/json"},
        expected,
    )


def _expect_error(stubber: Stubber, code: str, message: str, status: int, **fields: Any) -> None:
    stubber.add_client_error(
        "invoke_endpoint",
        service_error_code=code,
        service_message=message,
        http_status_code=status,
        modeled_fields=fields or None,
    )


# --- success -----------------------------------------------------------------------------------------


def test_csv_request_is_scored_and_the_container_answer_returned(
    runtime: Stubber, lambda_context: FakeLambdaContext
) -> None:
    # Given an endpoint that answers, and a CSV row
    _expect_answer(runtime, ANSWER, GOOD_CSV.encode())
    # When the row is posted
    status, body, headers = _call(_request(), lambda_context)
    # Then the endpoint got the caller's CSV and the caller gets the container's JSON
    assert status == 200
    assert body == ANSWER
    assert headers["content-type"] == "application/json"
    runtime.assert_no_pending_responses()


def test_json_instances_by_name_are_forwarded_as_sent(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given a JSON body naming features out of order
    instance = dict(reversed(list(zip(FEATURE_NAMES, GOOD_ROW, strict=True))))
    sent = json.dumps({"instances": [instance]})
    _expect_answer(runtime, ANSWER, sent.encode(), "application/json")
    # When it is posted
    status, body, _ = _call(_request(sent, "application/json"), lambda_context)
    # Then the endpoint receives the same JSON (the container reads names itself)
    assert status == 200
    assert body == ANSWER
    runtime.assert_no_pending_responses()


def test_the_callers_bytes_are_forwarded_unchanged(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given the largest batch a request may hold, written compactly (re-serializing it would grow it:
    # "0" becomes "0.0", "1e4" becomes "10000.0")
    sent = "1e4,3,2,0,2,400,1,0\n" * MAX_ROWS_PER_REQUEST
    _expect_answer(runtime, ANSWER, sent.encode())
    # When it is posted
    status, _, _ = _call(_request(sent), lambda_context)
    # Then the endpoint received exactly the caller's bytes
    assert status == 200
    runtime.assert_no_pending_responses()


def test_a_bom_is_the_only_change_made_to_the_forwarded_bytes(
    runtime: Stubber, lambda_context: FakeLambdaContext
) -> None:
    # Given a spreadsheet export: a BOM, quoted fields, CRLF
    quoted = ",".join(f'"{v}"' for v in GOOD_ROW) + "\r\n"
    _expect_answer(runtime, ANSWER, quoted.encode())
    # When it is posted
    status, _, _ = _call(_request("\ufeff" + quoted), lambda_context)
    # Then it is scored, and the endpoint gets the same text without the BOM
    assert status == 200
    runtime.assert_no_pending_responses()


def test_base64_encoded_body_is_decoded(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given API Gateway passed the body base64-encoded
    _expect_answer(runtime, ANSWER, GOOD_CSV.encode())
    encoded = base64.b64encode(GOOD_CSV.encode()).decode()
    # When it is posted
    status, _, _ = _call(_request(encoded, base64_encoded=True), lambda_context)
    # Then it is scored like the plain body
    assert status == 200
    runtime.assert_no_pending_responses()


def test_content_type_header_is_matched_case_insensitively(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given a client that spells the header in upper case, with a charset
    _expect_answer(runtime, ANSWER, GOOD_CSV.encode())
    # When it posts
    status, _, _ = _call(_request(header_name="CONTENT-TYPE", content_type="Text/CSV; charset=utf-8"), lambda_context)
    # Then the header is found and accepted
    assert status == 200


# --- requests the caller must fix --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ("1,2,3\n", "text/csv", 400, f"row 1: expected {N_FEATURES} features"),
        (GOOD_CSV.replace("125.5", "lots"), "text/csv", 400, "row 1: feature 'amount' must be a number"),
        ('{"instances": [', "application/json", 400, "the body is not valid JSON"),
        ("", "text/csv", 400, "the body is empty"),
        (GOOD_CSV, "application/xml", 415, "unsupported content type 'application/xml'"),
        (GOOD_CSV, None, 415, "unsupported content type 'none'"),
        (
            '{"instances": ' + "[" * 5_000 + "]" * 5_000 + "}",
            "application/json",
            400,
            "the JSON body is nested too deeply",
        ),
        (
            '{"instances": [[' + "9" * 5_000 + ", 14, 3.2, 0, 2, 400, 1, 0.02]]}",
            "application/json",
            400,
            "the JSON body",
        ),
        ("125.5,14,3.2,\ufffd,2,400,1,0.02\n", "text/csv", 400, "the body is not valid UTF-8"),
        ("125.5,14,3.2," + chr(0xDC80) + ",2,400,1,0.02\n", "text/csv", 400, "the body is not valid UTF-8"),
        (",".join(FEATURE_NAMES) + "\n" + GOOD_CSV, "text/csv", 400, "row 1 is a header line"),
        ("0,0,0,0,0,0,0,0\n" * (MAX_ROWS_PER_REQUEST + 1), "text/csv", 413, "the body holds more than"),
    ],
    ids=[
        "feature-count",
        "non-numeric",
        "bad-json",
        "empty",
        "wrong-type",
        "no-type",
        "nested-5000-deep",
        "5000-digit-integer",
        "replaced-bytes",
        "lone-surrogate",
        "header-row",
        "too-many-rows",
    ],
)
def test_invalid_request_answers_the_schema_status_and_message(
    runtime: Stubber, lambda_context: FakeLambdaContext, body: str, content_type: str | None, status: int, message: str
) -> None:
    # Given a request the shared schema rejects
    # When it is posted
    answer_status, answer, headers = _call(_request(body, content_type), lambda_context)
    # Then the caller gets that status and message as JSON, and the endpoint is never called
    assert answer_status == status
    assert answer["error"].startswith(message)
    assert headers["content-type"] == "application/json"
    runtime.assert_no_pending_responses()


def test_oversized_body_answers_413(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given a body one byte over SageMaker's 6 MB limit
    body = "0" * (MAX_PAYLOAD_BYTES + 1)
    # When it is posted
    status, answer, _ = _call(_request(body), lambda_context)
    # Then it is refused as too large
    assert status == 413
    assert "limit is 6291456 bytes" in answer["error"]
    assert "batch transform" in answer["error"]


def test_invalid_base64_body_answers_400(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given a body flagged base64 that is not
    # When it is posted
    status, answer, _ = _call(_request("not base64!!", base64_encoded=True), lambda_context)
    # Then the caller is told
    assert status == 400
    assert "base64" in answer["error"]


# --- routing -----------------------------------------------------------------------------------------


def test_unknown_path_answers_404(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given a request to a path the API does not serve
    # When it arrives
    status, answer, _ = _call(_request(path="/score"), lambda_context)
    # Then it is not found, as JSON
    assert status == 404
    assert "POST /dev/predict" in answer["error"]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_other_method_on_predict_answers_405_with_allow(
    runtime: Stubber, lambda_context: FakeLambdaContext, method: str
) -> None:
    # Given another method on /predict (API Gateway's ANY method sends every one to the proxy)
    # When it arrives
    status, answer, headers = _call(_request(None, None, method=method), lambda_context)
    # Then the method is refused, and POST on the caller's path (stage included) is named
    assert status == 405
    assert headers["allow"] == "POST"
    assert answer["error"] == f"method {method} is not allowed on /dev/predict; use POST"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("POST", "/predict/", 200), ("post", "/predict", 200), ("GET", "/predict//", 405), ("POST", "//predict", 404)],
    ids=["trailing-slash", "lower-case-method", "get-trailing-slashes", "double-slash"],
)
def test_routing_matches_what_the_rest_resolver_matched(
    runtime: Stubber, lambda_context: FakeLambdaContext, method: str, path: str, status: int
) -> None:
    # Given the proxy's own dispatch, in place of Powertools' APIGatewayRestResolver (route "/predict")
    if status == 200:
        _expect_answer(runtime, ANSWER, GOOD_CSV.encode())
    # When a request arrives with a spelling of the path or method the resolver accepted or refused
    answer_status, _, headers = _call(_request(method=method, path=path), lambda_context)
    # Then it is answered as the resolver answered it
    assert answer_status == status
    assert headers["content-type"] == "application/json"


# --- the endpoint's failures -------------------------------------------------------------------------


def test_model_4xx_is_passed_through_with_the_container_message(
    runtime: Stubber, lambda_context: FakeLambdaContext
) -> None:
    # Given the container refused the rows with its own 400
    container = json.dumps({"error": "row 1: feature 'amount' is out of range"})
    _expect_error(
        runtime, "ModelError", "Received client error (400)", 424, OriginalStatusCode=400, OriginalMessage=container
    )
    # When a request is posted
    status, answer, _ = _call(_request(), lambda_context)
    # Then the caller sees the container's status and message
    assert status == 400
    assert answer == {"error": "row 1: feature 'amount' is out of range"}


def test_model_5xx_answers_502(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given the container crashed
    _expect_error(
        runtime, "ModelError", "Received server error (500)", 424, OriginalStatusCode=500, OriginalMessage="boom"
    )
    # When a request is posted
    status, answer, _ = _call(_request(), lambda_context)
    # Then the API reports a bad gateway without the container's internals
    assert status == 502
    assert answer == {"error": "the model failed to process the request"}


def test_sagemakers_own_payload_refusal_is_a_413_naming_the_limit(
    runtime: Stubber, lambda_context: FakeLambdaContext
) -> None:
    # Given SageMaker refuses the body as over its 6 MB limit (a bare 413, no error code)
    _expect_error(runtime, "413", "HTTP content length exceeded 6291456 bytes.", 413)
    # When a request is posted
    status, answer, _ = _call(_request(), lambda_context)
    # Then the caller gets a 413 naming the limit, not a 5xx "retry later"
    assert status == 413
    assert "6 MB" in answer["error"]
    assert "batch transform" in answer["error"]


def test_missing_endpoint_answers_503_naming_it(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given the endpoint has never been deployed
    _expect_error(runtime, "ValidationError", f"Endpoint {ENDPOINT} of account 123456789012 not found.", 400)
    # When a request is posted
    status, answer, _ = _call(_request(), lambda_context)
    # Then the caller learns the model is not there yet
    assert status == 503
    assert answer == {"error": f"the model endpoint {ENDPOINT} is not deployed yet"}


def test_throttling_is_retried_once(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given SageMaker throttles the first call (a throttled call was never scored) and answers the second
    _expect_error(runtime, "ThrottlingException", "Rate exceeded", 400)
    _expect_answer(runtime, ANSWER, GOOD_CSV.encode())
    # When a request is posted
    status, answer, _ = _call(_request(), lambda_context)
    # Then the second call's answer comes back
    assert status == 200
    assert answer == ANSWER
    runtime.assert_no_pending_responses()


def test_throttling_twice_answers_429(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given SageMaker throttles both calls
    _expect_error(runtime, "ThrottlingException", "Rate exceeded", 400)
    _expect_error(runtime, "ThrottlingException", "Rate exceeded", 400)
    # When a request is posted
    status, answer, _ = _call(_request(), lambda_context)
    # Then the caller is asked to retry later
    assert status == 429
    assert "retry later" in answer["error"]


class _SlowOrFailingRuntime(BaseHTTPRequestHandler):
    """A stand-in SageMaker Runtime that counts invocations and answers too late, or with a 500."""

    calls = 0
    mode = "slow"

    def do_POST(self) -> None:
        type(self).calls += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.mode == "slow":
            time.sleep(1.5)
            status, data = 200, json.dumps(ANSWER).encode()
        else:
            status, data = 500, b'{"__type": "InternalFailure", "message": "failed"}'
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("x-amzn-ErrorType", "InternalFailure")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.mark.parametrize(("mode", "status"), [("slow", 504), ("failing", 502)], ids=["read-timeout", "server-error"])
def test_a_batch_that_may_have_been_scored_is_never_sent_twice(
    monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext, mode: str, status: int
) -> None:
    # Given a runtime that answers after the read timeout (or fails with a 500), on real HTTP
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowOrFailingRuntime)
    server.daemon_threads = True
    _SlowOrFailingRuntime.calls, _SlowOrFailingRuntime.mode = 0, mode
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{server.server_address[1]}")
    # (the proxy's own client configuration, with only the read timeout shortened for the test)
    monkeypatch.setattr(logic, "_CLIENT_CONFIG", logic._CLIENT_CONFIG.merge(Config(read_timeout=0.5)))
    try:
        # When a request is posted
        answer_status, answer, _ = _call(_request(), lambda_context)
    finally:
        server.shutdown()
        server.server_close()
    # Then the endpoint was called once, and the caller learns it was not retried
    assert _SlowOrFailingRuntime.calls == 1
    assert answer_status == status
    assert "error" in answer


class _FailingClient:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def invoke_endpoint(self, **_kwargs: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "fragment"),
    [
        (EndpointConnectionError(endpoint_url="https://runtime.sagemaker"), 503, "could not be reached"),
        (ReadTimeoutError(endpoint_url="https://runtime.sagemaker"), 504, "was not retried"),
    ],
    ids=["connection", "timeout"],
)
def test_network_failures_answer_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext, error: Exception, status: int, fragment: str
) -> None:
    # Given the endpoint cannot be reached or does not answer
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setattr(logic, "runtime_client", lambda: _FailingClient(error))
    # When a request is posted
    answer_status, answer, _ = _call(_request(), lambda_context)
    # Then the caller gets a gateway error that says what happened
    assert answer_status == status
    assert fragment in answer["error"]


def test_unexpected_exception_answers_500_without_details(
    monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    # Given a bug deep in the call
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setattr(logic, "runtime_client", lambda: _FailingClient(KeyError("secret internal detail")))
    # When a request is posted
    status, answer, _ = _call(_request(), lambda_context)
    # Then the caller gets a generic 500 and nothing internal
    assert status == 500
    assert answer == {"error": "internal error; the request was not scored"}


def test_missing_endpoint_name_setting_answers_500(lambda_context: FakeLambdaContext) -> None:
    # Given a deployment without ENDPOINT_NAME
    # When a valid request is posted
    status, answer, _ = _call(_request(), lambda_context)
    # Then the handler answers 500 instead of raising
    assert status == 500
    assert "error" in answer


def test_non_json_endpoint_answer_is_a_502(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given an endpoint that answers something other than a JSON object
    data = b"<html>oops</html>"
    runtime.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(data), len(data))})
    # When a request is posted
    status, answer, _ = _call(_request(), lambda_context)
    # Then the caller is not handed the garbage
    assert status == 502
    assert "not a JSON object" in answer["error"]


def test_event_that_is_not_from_api_gateway_still_gets_an_answer(lambda_context: FakeLambdaContext) -> None:
    # Given an event the router cannot read at all
    # When the handler is invoked with it
    response = app.handler({"unexpected": True}, lambda_context)
    # Then it answers a JSON error instead of raising
    assert response["statusCode"] >= 400
    assert "error" in json.loads(response["body"])


def test_runtime_client_honours_the_endpoint_url_override(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given offline mode points sagemaker-runtime at a local server
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:8765")
    # When the proxy creates its client
    client = logic.runtime_client()
    # Then the client talks to that server
    assert client.meta.endpoint_url == "http://127.0.0.1:8765"


def test_runtime_client_follows_a_changed_endpoint_url(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a client already made for one local server
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:8765")
    first = logic.runtime_client()
    # When offline mode restarts on another port
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:9876")
    second = logic.runtime_client()
    # Then the next client talks to the new address, and an unchanged setting reuses the client
    assert second.meta.endpoint_url == "http://127.0.0.1:9876"
    assert first is not second
    assert logic.runtime_client() is second
