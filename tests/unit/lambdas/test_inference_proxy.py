"""``inference_proxy``: ``POST /predict`` validation, endpoint call and error mapping."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError  # type: ignore[import-untyped, unused-ignore]
from botocore.response import StreamingBody  # type: ignore[import-untyped, unused-ignore]
from botocore.stub import Stubber  # type: ignore[import-untyped, unused-ignore]

from lambdas.inference_proxy import app, logic
from tests.unit.lambdas.conftest import REGION, FakeLambdaContext, load_event
from training.feature_schema import FEATURE_NAMES, MAX_PAYLOAD_BYTES, N_FEATURES, rows_to_csv

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


def _expect_answer(stubber: Stubber, answer: dict[str, Any], rows: list[list[float]] | None = None) -> None:
    data = json.dumps(answer).encode()
    expected = None
    if rows is not None:
        expected = {
            "EndpointName": ENDPOINT,
            "ContentType": "text/csv",
            "Accept": "application/json",
            "Body": rows_to_csv(rows),
        }
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
    _expect_answer(runtime, ANSWER, rows=[[float(v) for v in GOOD_ROW]])
    # When the row is posted
    status, body, headers = _call(_request(), lambda_context)
    # Then the endpoint got validated CSV and the caller gets the container's JSON
    assert status == 200
    assert body == ANSWER
    assert headers["content-type"] == "application/json"
    runtime.assert_no_pending_responses()


def test_json_instances_by_name_are_sent_as_ordered_csv(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given a JSON body naming features out of order
    instance = dict(reversed(list(zip(FEATURE_NAMES, GOOD_ROW, strict=True))))
    _expect_answer(runtime, ANSWER, rows=[[float(v) for v in GOOD_ROW]])
    # When it is posted
    status, body, _ = _call(_request(json.dumps({"instances": [instance]}), "application/json"), lambda_context)
    # Then the endpoint receives the schema's order
    assert status == 200
    assert body == ANSWER
    runtime.assert_no_pending_responses()


def test_base64_encoded_body_is_decoded(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given API Gateway passed the body base64-encoded
    _expect_answer(runtime, ANSWER, rows=[[float(v) for v in GOOD_ROW]])
    encoded = base64.b64encode(GOOD_CSV.encode()).decode()
    # When it is posted
    status, _, _ = _call(_request(encoded, base64_encoded=True), lambda_context)
    # Then it is scored like the plain body
    assert status == 200
    runtime.assert_no_pending_responses()


def test_content_type_header_is_matched_case_insensitively(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given a client that spells the header in upper case, with a charset
    _expect_answer(runtime, ANSWER)
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
    ],
    ids=["feature-count", "non-numeric", "bad-json", "empty", "wrong-type", "no-type"],
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
    assert "POST /predict" in answer["error"]


def test_other_method_on_predict_answers_405_with_allow(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given a GET to /predict
    # When it arrives
    status, answer, headers = _call(_request(None, None, method="GET"), lambda_context)
    # Then the method is refused and POST is named
    assert status == 405
    assert headers["allow"] == "POST"
    assert "use POST" in answer["error"]


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


def test_missing_endpoint_answers_503_naming_it(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given the endpoint has never been deployed
    _expect_error(runtime, "ValidationError", f"Endpoint {ENDPOINT} of account 123456789012 not found.", 400)
    # When a request is posted
    status, answer, _ = _call(_request(), lambda_context)
    # Then the caller learns the model is not there yet
    assert status == 503
    assert answer == {"error": f"the model endpoint {ENDPOINT} is not deployed yet"}


def test_throttling_answers_429(runtime: Stubber, lambda_context: FakeLambdaContext) -> None:
    # Given SageMaker throttles the call
    _expect_error(runtime, "ThrottlingException", "Rate exceeded", 400)
    # When a request is posted
    status, answer, _ = _call(_request(), lambda_context)
    # Then the caller is asked to retry later
    assert status == 429
    assert "retry later" in answer["error"]


class _FailingClient:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def invoke_endpoint(self, **_kwargs: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status", "fragment"),
    [
        (EndpointConnectionError(endpoint_url="https://runtime.sagemaker"), 503, "could not be reached"),
        (ReadTimeoutError(endpoint_url="https://runtime.sagemaker"), 502, "did not answer in time"),
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
