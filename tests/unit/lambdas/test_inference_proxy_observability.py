"""``inference_proxy`` keeps its logs, metrics and trace while it sheds Powertools' router and decorators.

Each test fails if one of them is dropped: the EMF document and its metric names (CloudWatch
metrics and the API's alarms read them), the structured log line with the correlation id, and
the X-Ray subsegment around the SageMaker call.
"""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aws_xray_sdk import global_sdk_config  # type: ignore[import-untyped, unused-ignore]
from aws_xray_sdk.core.context import Context  # type: ignore[import-untyped, unused-ignore]
from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter  # type: ignore[import-untyped, unused-ignore]
from aws_xray_sdk.core.lambda_launcher import LambdaContext  # type: ignore[import-untyped, unused-ignore]
from aws_xray_sdk.core.models.segment import Segment  # type: ignore[import-untyped, unused-ignore]
from aws_xray_sdk.core.models.trace_header import TraceHeader  # type: ignore[import-untyped, unused-ignore]
from aws_xray_sdk.core.recorder import AWSXRayRecorder  # type: ignore[import-untyped, unused-ignore]
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
        self.stack: list[Any] = []

    def set_aws(self, aws: dict[str, Any]) -> None:
        self.aws = aws

    def put_http_meta(self, key: str, value: Any) -> None:
        self.http[key] = value

    def put_annotation(self, key: str, value: Any) -> None:
        self.annotations[key] = value

    def add_exception(self, exception: BaseException, stack: list[Any]) -> None:
        self.exception, self.stack = exception, stack


class FakeRecorder:
    """Stands in for the X-Ray recorder (``Tracer().provider``): ``begin_subsegment`` opens a recorded
    subsegment, ``end_subsegment`` closes the one opened last."""

    max_trace_back = 10

    def __init__(self) -> None:
        self.subsegments: list[FakeSubsegment] = []
        self.open: list[FakeSubsegment] = []

    def begin_subsegment(self, name: str, namespace: str = "local") -> FakeSubsegment:
        subsegment = FakeSubsegment(name, namespace)
        self.subsegments.append(subsegment)
        self.open.append(subsegment)
        return subsegment

    def end_subsegment(self) -> None:
        self.open.pop()


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
    # Then the caller gets the mapped answer, and the subsegment recorded the error, where it was raised,
    # and SageMaker's status, before it was closed
    assert response["statusCode"] == 503
    [subsegment] = recorder.subsegments
    assert subsegment.exception is error
    assert subsegment.stack[-1].name == "invoke_endpoint"
    assert subsegment.http == {"status": 429}
    assert recorder.open == []


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


# --- tracing through the real X-Ray SDK ------------------------------------------------------------------
#
# The fake recorder above pins what the proxy asks of the recorder; these run the SDK's own recorder, as
# Lambda sets it up (its Lambda context, subsegments streamed as they close), against a UDP socket standing in
# for the daemon, and check the document the SDK sends.

TRACE_ID = "1-5759e988-bd862e3fe1be46a994272793"
PARENT_ID = "53995c3f42cd8ad8"


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """A UDP socket standing in for the X-Ray daemon."""
    monkeypatch.delenv("AWS_XRAY_DAEMON_ADDRESS", raising=False)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.2)
        yield sock


@pytest.fixture
def sdk_recorder(monkeypatch: pytest.MonkeyPatch, daemon: socket.socket) -> AWSXRayRecorder:
    """The X-Ray SDK's recorder, set up as in Lambda, sending to ``daemon``, in place of the function's."""
    monkeypatch.delenv("AWS_XRAY_SDK_ENABLED", raising=False)
    enabled = global_sdk_config.sdk_enabled()
    global_sdk_config.set_sdk_enabled(True)  # the tests' Tracer disabled the SDK for the whole process
    recorder = AWSXRayRecorder()
    host, port = daemon.getsockname()
    recorder.configure(context=LambdaContext(), streaming_threshold=0, emitter=UDPEmitter(f"{host}:{port}"))
    assert tracing.use_invocation_context(recorder)
    monkeypatch.setattr(app.tracer, "disabled", False)
    monkeypatch.setattr(app.tracer, "provider", recorder)
    monkeypatch.setenv("ENDPOINT_NAME", ENDPOINT)
    yield recorder
    global_sdk_config.set_sdk_enabled(enabled)


def _invocation(monkeypatch: pytest.MonkeyPatch, trace_id: str = TRACE_ID, parent_id: str = PARENT_ID) -> None:
    """What Lambda does before an invocation X-Ray sampled: set its trace header."""
    monkeypatch.setenv(tracing.TRACE_HEADER_VARIABLE, f"Root={trace_id};Parent={parent_id};Sampled=1")


def _sent(daemon: socket.socket) -> list[dict[str, Any]]:
    """The documents the SDK sent to the daemon, each after the daemon protocol's header line."""
    documents: list[dict[str, Any]] = []
    while True:
        try:
            data = daemon.recv(65536)
        except TimeoutError:
            return documents
        header, document = data.decode("utf-8").split("\n", 1)
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(document))


def test_the_sdk_sends_the_sagemaker_subsegment_to_the_daemon(
    sdk_recorder: AWSXRayRecorder,
    daemon: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: FakeLambdaContext,
) -> None:
    # Given a sampled invocation and an endpoint that answers
    _invocation(monkeypatch)
    monkeypatch.setattr(logic, "runtime_client", lambda: FakeRuntime())
    # When a request is scored
    assert app.handler(_event(), lambda_context)["statusCode"] == 200
    # Then the daemon received one closed subsegment of Lambda's trace, as the botocore patch would describe it
    [document] = _sent(daemon)
    assert document["type"] == "subsegment"
    assert (document["name"], document["namespace"]) == ("runtime.sagemaker", "aws")
    assert (document["trace_id"], document["parent_id"]) == (TRACE_ID, PARENT_ID)
    assert document["aws"] == {"operation": "InvokeEndpoint", "region": "us-east-1", "request_id": "req-1"}
    assert document["http"] == {"response": {"status": 200}}
    assert document["annotations"] == {"Service": app.SERVICE, "ColdStart": document["annotations"]["ColdStart"]}
    assert isinstance(document["annotations"]["ColdStart"], bool)
    assert document["in_progress"] is False
    assert document["end_time"] >= document["start_time"]
    assert "fault" not in document


def test_the_sdk_sends_a_failed_call_as_a_fault_with_its_exception(
    sdk_recorder: AWSXRayRecorder,
    daemon: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: FakeLambdaContext,
) -> None:
    # Given a sampled invocation and SageMaker refusing the call
    _invocation(monkeypatch)
    error = ClientError(
        {"Error": {"Code": "ModelNotReadyException"}, "ResponseMetadata": {"RequestId": "r", "HTTPStatusCode": 429}},
        "InvokeEndpoint",
    )
    monkeypatch.setattr(logic, "runtime_client", lambda: FakeRuntime(error=error))
    # When a request is posted
    assert app.handler(_event(), lambda_context)["statusCode"] == 503
    # Then the subsegment sent is a fault carrying the exception, its stack and SageMaker's status
    [document] = _sent(daemon)
    assert document["fault"] is True
    [exception] = document["cause"]["exceptions"]
    assert exception["type"] == "ClientError"
    assert "ModelNotReadyException" in exception["message"]
    assert any(frame["label"] == "invoke_endpoint" for frame in exception["stack"])
    assert document["http"] == {"response": {"status": 429}}


def test_the_trace_header_is_parsed_once_per_invocation(
    sdk_recorder: AWSXRayRecorder,
    daemon: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: FakeLambdaContext,
) -> None:
    # Given the SDK's header parser, counted (its own Lambda context parses six times per subsegment)
    parsed: list[str] = []
    parse = TraceHeader.from_header_str

    def counted(header: str) -> TraceHeader:
        parsed.append(header)
        return parse(header)

    monkeypatch.setattr(TraceHeader, "from_header_str", staticmethod(counted))
    monkeypatch.setattr(logic, "runtime_client", lambda: FakeRuntime())
    # When two requests are scored in one invocation, then one in the next (a new trace)
    _invocation(monkeypatch)
    app.handler(_event(), lambda_context)
    app.handler(_event(), lambda_context)
    _invocation(monkeypatch, trace_id="1-5759e988-000000000000000000000002", parent_id="0000000000000002")
    app.handler(_event(), lambda_context)
    # Then each header was parsed once, and each subsegment belongs to the trace it was recorded in
    assert len(parsed) == 2
    assert [(d["trace_id"], d["parent_id"]) for d in _sent(daemon)] == [
        (TRACE_ID, PARENT_ID),
        (TRACE_ID, PARENT_ID),
        ("1-5759e988-000000000000000000000002", "0000000000000002"),
    ]


def test_the_invocation_context_rebuilds_what_is_cleared_or_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the context with the segment of a sampled invocation
    monkeypatch.delenv("AWS_XRAY_SDK_ENABLED", raising=False)
    enabled = global_sdk_config.sdk_enabled()
    global_sdk_config.set_sdk_enabled(True)
    try:
        _invocation(monkeypatch)
        context = tracing.InvocationContext()
        first = context.get_trace_entity()
        assert (first.trace_id, first.id, first.sampled) == (TRACE_ID, PARENT_ID, True)
        # When its entities are cleared, or replaced by another trace's, under the same header
        context.clear_trace_entities()
        after_clear = context.get_trace_entity()
        context.set_trace_entity(Segment("other", traceid="1-5759e988-000000000000000000000003"))
        after_replace = context.get_trace_entity()
    finally:
        global_sdk_config.set_sdk_enabled(enabled)
    # Then it refreshes from the header as the SDK's own context does: the invocation's segment again
    assert after_clear is not first
    assert (after_clear.trace_id, after_clear.id) == (TRACE_ID, PARENT_ID)
    assert (after_replace.trace_id, after_replace.id) == (TRACE_ID, PARENT_ID)


def test_only_a_lambda_recorder_gets_the_invocation_context() -> None:
    # Given a recorder set up outside Lambda (tests, offline mode) and one set up as in Lambda
    outside, inside = AWSXRayRecorder(), AWSXRayRecorder()
    outside.configure(context=Context())
    inside.configure(context=LambdaContext())
    # When the function asks for the invocation context on each
    # Then only the Lambda one changes, once
    assert not tracing.use_invocation_context(outside)
    assert type(outside.context) is Context
    assert tracing.use_invocation_context(inside)
    context = inside.context
    assert isinstance(context, tracing.InvocationContext)
    assert tracing.use_invocation_context(inside)
    assert inside.context is context
