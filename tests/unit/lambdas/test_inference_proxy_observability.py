"""``inference_proxy`` keeps its logs, metrics and trace while it sheds Powertools' router and decorators.

Each test fails if one of them is dropped: the EMF document and its metric names (CloudWatch
metrics and the API's alarms read them), the structured log line with the correlation id, and
the X-Ray subsegment around the SageMaker call.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from lambdas.inference_proxy import app, logic, tracing
from tests.unit.lambdas.conftest import FakeLambdaContext, load_event

ENDPOINT = "fraud-detector-dev"
ROW = "125.5,14,3.2,0,2,400,1,0.02\n"
ANSWER = b'{"predictions": [{"probability": 0.03, "label": 0}]}'
SAMPLED = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


class FakeRuntime:
    """A sagemaker-runtime client that answers, or raises ``error``; it notes the open subsegments per call."""

    def __init__(self, recorder: FakeRecorder | None = None, error: Exception | None = None) -> None:
        self.recorder = recorder
        self.error = error
        self.open_during_calls: list[list[str]] = []

    def invoke_endpoint(self, **_kwargs: Any) -> dict[str, Any]:
        self.open_during_calls.append([s.name for s in self.recorder.open] if self.recorder else [])
        if self.error is not None:
            raise self.error
        return {"Body": io.BytesIO(ANSWER), "ResponseMetadata": {"RequestId": "req-1", "HTTPStatusCode": 200}}


class FakeSubsegment:
    """The parts of an X-Ray subsegment the proxy uses, recorded."""

    def __init__(self, name: str, namespace: str) -> None:
        self.name, self.namespace, self.sampled = name, namespace, True
        self.aws: dict[str, Any] = {}
        self.http: dict[str, Any] = {}
        self.annotations: dict[str, Any] = {}
        self.exception: BaseException | None = None

    def set_aws(self, aws: dict[str, Any]) -> None:
        self.aws = aws

    def put_http_meta(self, key: str, value: Any) -> None:
        self.http[key] = value

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value


class FakeRecorder:
    """Stands in for the X-Ray recorder (``Tracer().provider``): ``in_subsegment`` opens a recorded subsegment."""

    def __init__(self) -> None:
        self.subsegments: list[FakeSubsegment] = []
        self.open: list[FakeSubsegment] = []

    def in_subsegment(self, name: str, namespace: str = "local") -> FakeRecorder._Scope:
        return FakeRecorder._Scope(self, FakeSubsegment(name, namespace))

    class _Scope:
        def __init__(self, recorder: FakeRecorder, subsegment: FakeSubsegment) -> None:
            self.recorder, self.subsegment = recorder, subsegment

        def __enter__(self) -> FakeSubsegment:
            self.recorder.subsegments.append(self.subsegment)
            self.recorder.open.append(self.subsegment)
            return self.subsegment

        def __exit__(self, _type: type | None, error: BaseException | None, _tb: TracebackType | None) -> None:
            self.subsegment.exception = error
            self.recorder.open.remove(self.subsegment)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> FakeRecorder:
    """Tracing on, a sampled trace, and a fake recorder in place of the X-Ray SDK's."""
    fake = FakeRecorder()
    monkeypatch.setattr(app.tracer, "disabled", False)
    monkeypatch.setattr(app.tracer, "provider", fake)
    monkeypatch.setenv("_X_AMZN_TRACE_ID", SAMPLED)
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    return fake


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """What the function's Powertools logger writes (its handler holds the stdout it found at import)."""
    handler = app.logger.registered_handler
    stream = io.StringIO()
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    yield stream
    handler.setStream(previous)  # type: ignore[attr-defined]


def _records(stream: io.StringIO) -> list[dict[str, Any]]:
    """The JSON log records written to ``stream``."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def _event(body: str | None = ROW, method: str = "POST", path: str = "/predict") -> dict[str, Any]:
    event = load_event("api_predict_post")
    event.update(body=body, httpMethod=method, path=path)
    return event


def _output(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every JSON line the function wrote to standard output (EMF documents and log records)."""
    return [json.loads(line) for line in capfd.readouterr().out.splitlines() if line.startswith("{")]


def _metrics(records: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Metric name -> values, over the EMF documents among ``records``."""
    found: dict[str, list[float]] = {}
    for record in records:
        for directive in record.get("_aws", {}).get("CloudWatchMetrics", []):
            assert directive["Namespace"] == "FraudPipeline"
            for metric in directive["Metrics"]:
                found.setdefault(metric["Name"], []).extend(record[metric["Name"]])
    return found


# --- metrics -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "error", "metric"),
    [
        (_event(), None, "Predictions"),
        (_event("1,2\n"), None, "InvalidRequests"),
        (_event(None, method="GET"), None, "InvalidRequests"),
        (_event(path="/score"), None, "InvalidRequests"),
        (_event(), ClientError({"Error": {"Code": "ModelNotReadyException"}}, "InvokeEndpoint"), "UpstreamErrors"),
        (_event(), KeyError("bug"), "ServerErrors"),
        ({"unexpected": True}, None, "ServerErrors"),
    ],
    ids=["scored", "invalid-row", "wrong-method", "unknown-path", "endpoint-not-ready", "bug", "not-api-gateway"],
)
def test_every_answer_publishes_its_metric_as_emf(
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    lambda_context: FakeLambdaContext,
    event: dict[str, Any],
    error: Exception | None,
    metric: str,
) -> None:
    # Given an endpoint that answers (or fails with ``error``)
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setattr(logic, "runtime_client", lambda: FakeRuntime(error=error))
    capfd.readouterr()
    # When the request is handled
    app.handler(event, lambda_context)
    # Then an EMF document on stdout carries the metric, with one count (Predictions: the rows scored)
    published = _metrics(_output(capfd))
    assert published[metric] == [1.0]


# --- logging -----------------------------------------------------------------------------------------


def test_a_refused_request_is_logged_structured_with_the_correlation_id(
    monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO, lambda_context: FakeLambdaContext
) -> None:
    # Given a request the schema refuses
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    event = _event("1,2\n")
    # When it is handled
    app.handler(event, lambda_context)
    # Then one JSON log line says why, with API Gateway's request id and the Lambda context
    [line] = _records(log_stream)
    assert line["message"] == "rejected request"
    assert line["level"] == "INFO"
    assert line["correlation_id"] == event["requestContext"]["requestId"]
    assert line["function_request_id"] == lambda_context.aws_request_id
    assert line["function_name"] == lambda_context.function_name
    assert "cold_start" in line
    assert line["status"] == 400
    assert line["reason"].startswith("row 1: expected 8 features")


def test_an_unexpected_error_is_logged_with_its_exception_but_not_answered(
    monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO, lambda_context: FakeLambdaContext
) -> None:
    # Given a bug in the call
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    monkeypatch.setattr(logic, "runtime_client", lambda: FakeRuntime(error=KeyError("secret internal detail")))
    # When a request is handled
    response = app.handler(_event(), lambda_context)
    # Then the log has the exception, with the correlation id, and the caller nothing of it
    logs = _records(log_stream)
    assert [(r["level"], r["message"]) for r in logs] == [("ERROR", "unexpected error while predicting")]
    assert "secret internal detail" in logs[0]["exception"]
    assert logs[0]["correlation_id"] == _event()["requestContext"]["requestId"]
    assert "secret" not in response["body"]
    assert "Traceback" not in response["body"]


# --- tracing -----------------------------------------------------------------------------------------


def test_the_sagemaker_call_runs_inside_its_own_subsegment(
    recorder: FakeRecorder, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    # Given a sampled trace and an endpoint that answers
    runtime = FakeRuntime(recorder)
    monkeypatch.setattr(logic, "runtime_client", lambda: runtime)
    # When a request is scored
    response = app.handler(_event(), lambda_context)
    # Then exactly one subsegment, named as the X-Ray SDK names a SageMaker Runtime call, wrapped the call
    assert response["statusCode"] == 200
    assert runtime.open_during_calls == [[tracing.SUBSEGMENT_NAME]]
    [subsegment] = recorder.subsegments
    assert (subsegment.name, subsegment.namespace) == ("runtime.sagemaker", "aws")
    assert subsegment.aws == {"operation": "InvokeEndpoint", "region": "us-east-1", "request_id": "req-1"}
    assert subsegment.http == {"status": 200}
    assert subsegment.annotations["Service"] == app.SERVICE
    assert subsegment.exception is None
    assert recorder.open == []


def test_a_failed_sagemaker_call_ends_its_subsegment_with_the_error(
    recorder: FakeRecorder, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    # Given SageMaker refuses the call
    error = ClientError(
        {"Error": {"Code": "ModelNotReadyException"}, "ResponseMetadata": {"RequestId": "r", "HTTPStatusCode": 429}},
        "InvokeEndpoint",
    )
    monkeypatch.setattr(logic, "runtime_client", lambda: FakeRuntime(recorder, error))
    # When a request is posted
    response = app.handler(_event(), lambda_context)
    # Then the caller gets the mapped answer, and the subsegment recorded the error and SageMaker's status
    assert response["statusCode"] == 503
    [subsegment] = recorder.subsegments
    assert subsegment.exception is error
    assert subsegment.http == {"status": 429}


def test_a_refused_request_never_opens_a_subsegment(recorder: FakeRecorder, lambda_context: FakeLambdaContext) -> None:
    # Given a sampled trace and a request the schema refuses
    # When it is handled
    app.handler(_event("1,2\n"), lambda_context)
    # Then no SageMaker call was made, so nothing was traced
    assert recorder.subsegments == []


@pytest.mark.parametrize(
    "header",
    [SAMPLED.replace("Sampled=1", "Sampled=0"), SAMPLED.replace("Sampled=1", "Sampled=?"), None],
    ids=["not-sampled", "undecided", "no-header"],
)
def test_an_unsampled_request_skips_the_recorder(
    recorder: FakeRecorder,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: FakeLambdaContext,
    header: str | None,
) -> None:
    # Given a trace X-Ray did not sample (the SDK would record nothing for it)
    if header is None:
        monkeypatch.delenv("_X_AMZN_TRACE_ID")
    else:
        monkeypatch.setenv("_X_AMZN_TRACE_ID", header)
    runtime = FakeRuntime(recorder)
    monkeypatch.setattr(logic, "runtime_client", lambda: runtime)
    # When a request is scored
    response = app.handler(_event(), lambda_context)
    # Then the endpoint is called without a subsegment
    assert response["statusCode"] == 200
    assert runtime.open_during_calls == [[]]
    assert recorder.subsegments == []


def test_disabled_tracing_skips_the_recorder(
    recorder: FakeRecorder, monkeypatch: pytest.MonkeyPatch, lambda_context: FakeLambdaContext
) -> None:
    # Given POWERTOOLS_TRACE_DISABLED (the tests' and offline mode's setting), even with a sampled header
    monkeypatch.setattr(app.tracer, "disabled", True)
    monkeypatch.setattr(logic, "runtime_client", lambda: FakeRuntime(recorder))
    # When a request is scored
    app.handler(_event(), lambda_context)
    # Then nothing is traced
    assert recorder.subsegments == []
