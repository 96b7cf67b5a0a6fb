"""The measuring side of ``bench.proxy_overhead``, run in a fresh interpreter per measurement.

``python bench/proxy_worker.py cold bare|proxy OUT`` times a cold start: importing the handler
module plus creating its sagemaker-runtime client (``init``), then its first invocation against a
stub client (``first``). It imports nothing beyond what the interpreter has loaded before the timed
import, so the handler pays for every module it needs (``json`` included).

``python bench/proxy_worker.py warm BATCHES CALLS OUT`` imports the proxy, warms it up, then times,
call by call, ``BATCHES`` alternating batches of ``CALLS`` handler invocations and ``CALLS`` direct
calls of the same stub. Each invocation gets its own trace header, set before its timer starts, as
Lambda sets one per invocation: the X-Ray SDK builds its segment for each new trace, and a handler
timed under one header repeated would not pay for that. It also records the X-Ray documents the
handler sent (to a UDP socket standing in for the daemon) and ends with one invalid request, whose
log line the parent checks.

The environment (a Lambda-like one, built by the parent) decides tracing; results go to OUT as JSON.
Run as a script, not ``-m``, so that no package (``bench``) is imported before the timed import.
"""

from __future__ import annotations

import io
import sys
import time

# Not ``typing.TYPE_CHECKING``: importing typing before the timed import would hand the handlers a
# module they otherwise pay for (mypy and ruff treat this name the same way).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ENDPOINT = "fraud-detector-bench"
TRACE_VARIABLE = "_X_AMZN_TRACE_ID"
REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
BODY = "125.5,14,3.2,0,2,400,1,0.02\n"
INVALID_BODY = "125.5,14\n"
ANSWER = b'{"predictions":[{"probability":0.03,"label":0}],"model_version":"bench"}'
HEADERS = {
    "Accept": "application/json",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/us-east-1/execute-api/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=" + "0" * 64,
    "Content-Type": "text/csv",
    "Host": "abc123.execute-api.us-east-1.amazonaws.com",
    "User-Agent": "python-requests/2.32.3",
    "X-Amz-Date": "20261124T120000Z",
    "X-Amz-Security-Token": "F" * 600,
    "X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793",
    "X-Forwarded-For": "192.0.2.10",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Proto": "https",
}


def event(body: str = BODY) -> dict[str, Any]:
    """An API Gateway REST proxy event for ``POST /v1/predict`` as a signed client sends it."""
    return {
        "resource": "/predict",
        "path": "/predict",
        "httpMethod": "POST",
        "headers": dict(HEADERS),
        "multiValueHeaders": {k: [v] for k, v in HEADERS.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "a1b2c3",
            "resourcePath": "/predict",
            "httpMethod": "POST",
            "requestTime": "24/Nov/2026:12:00:00 +0000",
            "path": "/v1/predict",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "v1",
            "domainPrefix": "abc123",
            "requestTimeEpoch": 1795521600000,
            "requestId": REQUEST_ID,
            "identity": {"sourceIp": "192.0.2.10", "userAgent": "python-requests/2.32.3"},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "apiId": "abc123",
        },
        "body": body,
        "isBase64Encoded": False,
    }


class Context:
    """The attributes Powertools reads from a Lambda context."""

    function_name = "inference_proxy"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:inference_proxy"
    aws_request_id = "52fdfc07-2182-454f-963f-5f0f9a621d72"
    log_group_name = "/aws/lambda/inference_proxy"
    log_stream_name = "2026/11/24/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


class StubRuntime:
    """A sagemaker-runtime client whose ``invoke_endpoint`` answers at once."""

    def invoke_endpoint(self, **_kwargs: Any) -> dict[str, Any]:
        return {
            "Body": io.BytesIO(ANSWER),
            "ContentType": "application/json",
            "ResponseMetadata": {"RequestId": "0f1e2d3c-bench", "HTTPStatusCode": 200},
        }


def cold(target: str) -> dict[str, float]:
    """Seconds to import the handler and create its client, then to serve its first call."""
    start = time.perf_counter()
    module: Any
    logic: Any = None
    if target == "bare":
        module = __import__("proxy_bare_handler")
    else:
        __import__("lambdas.inference_proxy.app")
        module = sys.modules["lambdas.inference_proxy.app"]
        logic = sys.modules["lambdas.inference_proxy.logic"]
        logic.runtime_client()  # the client the first call creates (the bare handler creates it at import)
    init = time.perf_counter()
    if target == "bare":
        module.runtime = StubRuntime()
    else:
        logic.runtime_client = StubRuntime
    module.handler(event(), Context())
    first = time.perf_counter()
    return {"init": init - start, "first": first - init}


def warm(batches: int, calls: int) -> dict[str, Any]:
    """Per-call nanoseconds of the handler and of the bare stub call, and what the handler emitted."""
    import itertools
    import os
    import socket

    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.setblocking(False)
    os.environ["AWS_XRAY_DAEMON_ADDRESS"] = f"127.0.0.1:{daemon.getsockname()[1]}"
    from lambdas.inference_proxy import app, logic

    stub = StubRuntime()
    logic.runtime_client = lambda: stub
    handler, request, context = app.handler, event(), Context()
    probe = 20
    traces = iter(trace_headers(os.environ.get(TRACE_VARIABLE), 300 + probe + batches * calls))
    for trace in itertools.islice(traces, 300):
        _set_trace(os.environ, trace)
        handler(request, context)
    _drain(daemon)
    for trace in itertools.islice(traces, probe):
        _set_trace(os.environ, trace)
        assert handler(request, context)["statusCode"] == 200
    documents = _drain(daemon)
    clock = time.perf_counter_ns
    handler_ns: list[int] = []
    direct_ns: list[int] = []
    body = BODY.encode()
    for _ in range(batches):
        for trace in itertools.islice(traces, calls):
            _set_trace(os.environ, trace)
            begin = clock()
            handler(request, context)
            handler_ns.append(clock() - begin)
        for _ in range(calls):
            begin = clock()
            stub.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Accept="application/json", Body=body)[
                "Body"
            ].read()
            direct_ns.append(clock() - begin)
        _drain(daemon)
    invalid = handler(event(INVALID_BODY), context)
    return {
        "handler_ns": handler_ns,
        "direct_ns": direct_ns,
        "xray_documents": documents,
        "probe_calls": probe,
        "batch_calls": calls,
        "calls": 300 + probe + batches * calls,
        "invalid_status": invalid["statusCode"],
    }


def trace_headers(header: str | None, count: int) -> list[str | None]:
    """``count`` trace headers, one per invocation: each a new trace id and parent, ``header``'s sampling decision.

    ``None`` (tracing off: no header) stays ``None`` for every invocation.
    """
    if header is None:
        return [None] * count
    decision = next((part for part in header.split(";") if part.startswith("Sampled=")), "Sampled=0")
    return [f"Root=1-5759e988-{n:024x};Parent={n:016x};{decision}" for n in range(1, count + 1)]


def _set_trace(environ: Any, trace: str | None) -> None:
    """What the Lambda runtime does before an invocation: set its trace header (none when tracing is off)."""
    if trace is not None:
        environ[TRACE_VARIABLE] = trace


def _drain(sock: Any) -> list[str]:
    """The X-Ray documents waiting on the stand-in daemon's socket (header line dropped)."""
    documents: list[str] = []
    while True:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return documents
        documents.append(data.decode("utf-8", errors="replace").split("\n", 1)[-1])


def main(argv: list[str]) -> int:
    """``cold TARGET OUT`` or ``warm BATCHES CALLS OUT``."""
    if argv[0] == "cold":
        result: dict[str, Any] = cold(argv[1])
    else:
        result = warm(int(argv[1]), int(argv[2]))
    sys.stdout.flush()
    import json

    with open(argv[-1], "w", encoding="utf-8") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
