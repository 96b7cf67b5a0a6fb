"""The common request answered by the HTTP protocol itself, without an ASGI task: the hot path.

Most requests an endpoint gets are a ``POST /invocations`` of a few rows with a ``Content-Length``,
or a ``GET /ping``. For these, uvicorn's ASGI machinery (a scope, a request cycle, an event, a
task, a coroutine per message, the header checks of ``send``) cost more than parsing and scoring
one row. ``inference.http_protocol`` answers them in the parser's callbacks instead:

1. when the headers are complete, :func:`plan` decides whether the request is one of these, and if
   so asks the service how to answer it (:meth:`inference.app.Service.route`, as the ASGI app does);
2. the body is gathered as it arrives, within the same timers as any other body;
3. when the message is complete, :func:`answer_for` answers it (:meth:`inference.app.BodyWanted.finish`)
   and :func:`render` writes the answer in one write, with the very bytes uvicorn would write for it.

Every other request (a body over :data:`inference.asgi.OFFLOAD_BYTES`, a chunked body, ``Expect:
100-continue``, a query string or an escaped path, a body on ``/ping``, a request behind one whose
answer is still being written, a protocol upgrade) goes to the ASGI app as before, so the app's rules
for those stay in one place. The answers are the same either way: ``tests/unit/inference/test_direct_path.py``
sends the same requests through both and compares the bytes.
"""

from __future__ import annotations

import logging
from typing import Final

from inference.app import FAULT, Answer, BodyWanted, Router, body_cut_short
from inference.asgi import OFFLOAD_BYTES, asgi_headers

log = logging.getLogger("inference")

_ROUTED: Final = frozenset({(b"POST", b"/invocations"), (b"GET", b"/ping"), (b"HEAD", b"/ping")})


class _NoEvent:
    """What uvicorn's protocol sets when the request's state changes: nothing waits on a direct request."""

    __slots__ = ()

    def set(self) -> None:
        pass


_NO_EVENT: Final = _NoEvent()


class DirectRequest:
    """A request the protocol answers itself; it stands where uvicorn keeps a request's cycle (``protocol.cycle``).

    Uvicorn's protocol and ``inference.http_protocol`` read and set these attributes on whatever
    request is in progress: the body so far, whether more is coming, whether the answer has started
    or is complete, whether the client left, whether to keep the connection, and an event to set.
    """

    __slots__ = (
        "body",
        "disconnected",
        "head_only",
        "keep_alive",
        "length",
        "message_event",
        "more_body",
        "response_complete",
        "response_started",
        "routed",
    )

    def __init__(self, routed: Answer | BodyWanted, length: int, *, keep_alive: bool, head_only: bool) -> None:
        self.routed = routed
        self.length = length
        self.keep_alive = keep_alive
        self.head_only = head_only
        self.body = bytearray()
        self.more_body = True
        self.response_started = False
        self.response_complete = False
        self.disconnected = False
        self.message_event = _NO_EVENT


def plan(
    service: Router, method: bytes, url: bytes, headers: list[tuple[bytes, bytes]], *, keep_alive: bool
) -> DirectRequest | None:
    """The direct request for a request whose head is complete, or None when the ASGI app is to answer it.

    ``headers`` are as uvicorn gathers them: lower-case names, raw values. The parser has already
    refused a ``Content-Length`` that is not a number, and one sent with ``Transfer-Encoding``.
    """
    if (method, url) not in _ROUTED:
        return None
    length = 0
    content_type = accept = None
    for name, value in headers:
        if name == b"content-length":
            length = int(value)
        elif name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"accept":
            accept = value.decode("latin-1")
        elif name in (b"transfer-encoding", b"expect", b"upgrade"):
            return None
    if length > (OFFLOAD_BYTES if method == b"POST" else 0):
        return None
    try:
        routed = service.route(method.decode("ascii"), url.decode("ascii"), content_type=content_type, accept=accept)
    except Exception:  # a fault of the service: a bare JSON 500, as the ASGI app answers it
        log.exception("error handling %s %s", method.decode("ascii"), url.decode("ascii"))
        routed = FAULT
    if isinstance(routed, BodyWanted) and length > routed.limit:
        return None
    return DirectRequest(routed, length, keep_alive=keep_alive, head_only=method == b"HEAD")


def answer_for(request: DirectRequest) -> Answer:
    """The answer to a direct request whose body has all arrived (or whose client closed its side early)."""
    routed = request.routed
    if isinstance(routed, Answer):
        return routed
    body = bytes(request.body)
    if len(body) < request.length:  # the client closed its side before its body was all sent
        return body_cut_short(len(body), request.length)
    try:
        return routed.finish(body)
    except Exception:
        log.exception("error handling POST /invocations")
        return FAULT


def render(
    answer: Answer, status_line: bytes, default_headers: list[tuple[bytes, bytes]], *, keep_alive: bool, head_only: bool
) -> tuple[bytes, bool]:
    """The bytes of ``answer`` as uvicorn writes them, and whether the connection stays open after it.

    Uvicorn writes the status line, its default headers (``date``), the answer's headers as the ASGI
    app sends them (:func:`inference.asgi.asgi_headers`), ``connection: close`` when the connection
    is not kept and the answer did not say so itself, a blank line and the body (none for ``HEAD``).
    """
    parts = [status_line]
    for name, value in (*default_headers, *asgi_headers(answer)):
        parts += (name, b": ", value, b"\r\n")
    if not keep_alive and not answer.close:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if not head_only:
        parts.append(answer.body)
    return b"".join(parts), keep_alive and not answer.close
