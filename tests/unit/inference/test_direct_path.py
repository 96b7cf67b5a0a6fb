"""The protocol's direct answers (``inference.direct``) are byte for byte what the ASGI app answers.

Two servers run the same service in threads: one as the image runs it, where the protocol answers
the common requests itself, and one given the app behind a plain function, so that every request
goes through the ASGI app. Each case is sent to both as raw bytes, followed on the same connection
by a ``GET /ping`` that closes it; everything each server writes back is compared, ``date`` aside.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference.app import Service
from inference.asgi import Receive, Scope, Send, ServiceApp
from inference.model import load_model
from tests.unit.inference.conftest import SECRET_DETAIL
from tests.unit.inference.threaded_server import serving

ROW = b"125.5,14,3.2,0,2,400,1,0.02\n"
CLOSING_PING = b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def post(body: bytes, content_type: str = "text/csv", *, extra: str = "", length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    head = f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {size}\r\n{extra}"
    return head.encode() + b"\r\n" + body


#: Requests the direct path answers: (raw bytes, whether the client then closes its side instead of pinging).
DIRECT = {
    "ping": (b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n", False),
    "head-ping": (b"HEAD /ping HTTP/1.1\r\nHost: x\r\n\r\n", False),
    "ping-http-1.0": (b"GET /ping HTTP/1.0\r\n\r\n", False),
    "ping-connection-close": (b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", False),
    "csv-row": (post(ROW), False),
    "csv-rows": (post(ROW * 3), False),
    "csv-missing-value": (post(b"125.5,,3.2,0,2,400,1,0.02\n"), False),
    "json-rows": (post(b'{"instances": [[125.5, 14, 3.2, 0, 2, 400, 1, 0.02]]}', "application/json"), False),
    "json-null": (post(b'{"instances": [[125.5, null, 3.2, 0, 2, 400, 1, 0.02]]}', "application/json"), False),
    "wrong-count": (post(b"1,2,3\n"), False),
    "not-json": (post(b"{nope", "application/json"), False),
    "empty-body": (post(b""), False),
    "unsupported-type": (post(ROW, "text/plain"), False),
    "bad-charset": (post(ROW, "text/csv; charset=latin-1"), False),
    "accept-csv-outside-batch-mode": (post(ROW, extra="Accept: text/csv\r\n"), False),
    "pipelined-pair": (post(ROW) + post(ROW * 2), False),
    "body-ends-early": (post(ROW, length=len(ROW) + 10), True),
}
#: Requests the ASGI app answers, compared all the same.
ASGI = {
    "ping-with-query": (b"GET /ping?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", False),
    "head-ping-with-query": (b"HEAD /ping?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", False),
    "get-invocations": (b"GET /invocations HTTP/1.1\r\nHost: x\r\n\r\n", False),
    "no-route": (b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n", False),
    "chunked": (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % len(ROW)
        + ROW
        + b"\r\n0\r\n\r\n",
        False,
    ),
    "expect-continue": (post(ROW, extra="Expect: 100-continue\r\n"), False),
    "body-over-64-kb": (post(ROW * 3000), False),
}


class CountingApp(ServiceApp):
    """The image's app, counting the requests that reach it."""

    calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.calls += 1
        await super().__call__(scope, receive, send)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[tuple[int, int, CountingApp]]:
    service = Service(load_model(model_dir))
    counting = CountingApp(service)
    asgi_only = ServiceApp(service)

    async def through_asgi(scope: Scope, receive: Receive, send: Send) -> None:  # not a ServiceApp: no direct path
        await asgi_only(scope, receive, send)

    with serving(counting, model_dir) as direct_port, serving(through_asgi, model_dir) as asgi_port:
        yield direct_port, asgi_port, counting


def exchange(port: int, raw: bytes, half_close: bool) -> bytes:
    """Everything the server writes back until it closes the connection, ``date`` headers removed."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw if half_close else raw + CLOSING_PING)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return re.sub(rb"date: [^\r]*\r\n", b"", received)


@pytest.mark.parametrize(("raw", "half_close"), list(DIRECT.values()), ids=list(DIRECT))
def test_the_direct_answer_is_the_asgi_answer_and_the_app_is_not_called(
    servers: tuple[int, int, CountingApp], raw: bytes, half_close: bool
) -> None:
    direct_port, asgi_port, counting = servers
    before = counting.calls
    direct = exchange(direct_port, raw, half_close)
    assert counting.calls == before  # answered by the protocol itself
    assert direct == exchange(asgi_port, raw, half_close)
    assert direct.startswith(b"HTTP/1.1 ")


@pytest.mark.parametrize(("raw", "half_close"), list(ASGI.values()), ids=list(ASGI))
def test_other_requests_go_to_the_asgi_app(servers: tuple[int, int, CountingApp], raw: bytes, half_close: bool) -> None:
    direct_port, asgi_port, counting = servers
    before = counting.calls
    answer = exchange(direct_port, raw, half_close)
    assert counting.calls > before  # the closing ping too, when it was read while this answer was in progress
    assert answer == exchange(asgi_port, raw, half_close)


@pytest.mark.parametrize("path", ["/ping", "/ping?x=1"], ids=["direct", "asgi"])
def test_a_head_request_is_answered_on_a_kept_connection(servers: tuple[int, int, CountingApp], path: str) -> None:
    # The answer to HEAD has no body: a head held back for its body would never be written.
    answers = exchange(servers[0], f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), half_close=False)
    head, _, ping = answers.partition(b"\r\n\r\n")
    assert head == b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 0"
    assert ping.startswith(b"HTTP/1.1 200 OK\r\n")
    assert ping.endswith(b'"model_version": "unit-model"}')


def test_a_service_fault_is_a_bare_json_500_on_the_direct_path(
    model_dir: Path, broken_service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    with serving(ServiceApp(broken_service), model_dir) as port:
        answer = exchange(port, post(ROW), half_close=False)
    bare_500 = b'{"error": "internal error; the request was not scored"}'
    assert answer.count(b"HTTP/1.1 500 ") == 2  # the request, then the closing ping
    assert answer.count(bare_500) == 2
    assert SECRET_DETAIL.encode() not in answer
    assert SECRET_DETAIL in caplog.text
