"""Uvicorn's HTTP/1.1 protocol (httptools, the llhttp parser) with the hosting contract's answers to bad HTTP.

A request the parser cannot read never reaches the app. Uvicorn would answer it with a plain-text
"Invalid HTTP request received."; this protocol answers a 4xx JSON ``{"error": "..."}`` saying
what to fix, and closes the connection (after a framing error the next request cannot be found;
what the client still sends meanwhile is read and dropped for :data:`LINGER_SECONDS`, so that it
gets to read the answer):

* 400 for a malformed ``Content-Length`` (a word, a sign, an exponent, a list, a number past 2^64,
  two of them), an unsupported or conflicting ``Transfer-Encoding``, a method that is not an
  upper-case token llhttp knows, a request line that is not ``METHOD /path HTTP/1.x``, a header
  line that is not ``Name: value``, a broken chunked body;
* 431 when the request line and headers pass :data:`MAX_HEAD_BYTES` (llhttp has no bound of its own);
* 408 when a request's line and headers have not all arrived :data:`HEAD_SECONDS` after its first
  byte (a connection that sends nothing is closed as an idle keep-alive one is);
* 408 when a request's body has not all arrived :data:`BODY_SECONDS` after the read that left it
  incomplete. The app, waiting for the rest, reads a disconnect and answers nothing more. The same
  bound ends a body that is still being read and dropped after the app refused it (a 413).

The timers are armed only when a read leaves a head or a body incomplete, which a request of a few
KB sent at once never does: a timer armed and cancelled for every request (``asyncio.timeout``
around the body read) cost more than a tenth of a one-row request's time in the app.

It also sets ``TCP_NODELAY`` on each connection, and writes each answer's head and body in one
write (:class:`HeadWithBody`): uvicorn writes them apart, which with ``TCP_NODELAY`` is two sends and
two TCP segments per answer (without ``TCP_NODELAY``, a keep-alive client would wait on Nagle's
algorithm and delayed ACKs, about 40 ms). The second send was a fifth of a worker's time under
load on one-row requests.
Protocol upgrades (``Upgrade: h2c``, websockets) are not offered: such a request is answered as HTTP/1.1.

The common request (``GET /ping``; ``POST /invocations`` with a ``Content-Length`` of at most 64 KB)
is answered by this protocol itself, in the parser's callbacks, from the app's service
(``inference.direct``): the same answer, without the ASGI task and messages, which cost about as much
as scoring one row. Every other request goes to the ASGI app.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any, Final

import httptools  # type: ignore[import-untyped, unused-ignore]
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from inference.app import REASONS
from inference.asgi import ServiceApp
from inference.direct import DirectRequest, answer_for, plan, render

log = logging.getLogger("inference")

#: The request line and headers together may take this many bytes (gunicorn's defaults allowed
#: 100 header fields of 8 KB each; API Gateway and SageMaker send a few KB).
MAX_HEAD_BYTES: Final = 64 * 1024
#: Seconds a request's line and headers may take to arrive, and an idle connection may stay open.
HEAD_SECONDS: Final = 75.0
#: Seconds the rest of a request's body may take to arrive after a read left it incomplete.
BODY_SECONDS: Final = 75.0
#: After a refusal, what the client still sends is read and thrown away for this long before the
#: connection is closed: closing with unread bytes makes the kernel reset the connection, and the
#: client would see a broken pipe instead of the answer (a "lingering close").
LINGER_SECONDS: Final = 2.0

_USE: Final = "use GET /ping or POST /invocations"
_TOO_LARGE: Final = f"the request line and headers are over {MAX_HEAD_BYTES} bytes"


class HeadRefusedError(Exception):
    """Raised from a parser callback to stop parsing a request whose head is refused."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_error_message(err: Exception) -> str:
    """What to tell a client whose request llhttp refused (its reason, e.g. "Invalid character in Content-Length")."""
    reason = str(err) or type(err).__name__
    lowered = reason.lower()
    if isinstance(err, httptools.HttpParserInvalidMethodError):
        return f"invalid method: methods are upper-case words such as GET and POST; {_USE}"
    if "content-length" in lowered and "transfer-encoding" in lowered:
        return "send either Content-Length or Transfer-Encoding: chunked, not both"
    if "content-length" in lowered:
        return "invalid Content-Length header: send it once, as the body's size in bytes (a whole number such as 28)"
    if "transfer-encoding" in lowered:
        return "unsupported Transfer-Encoding; send a Content-Length, or Transfer-Encoding: chunked"
    if "chunk" in lowered:
        return f"invalid chunked body ({reason})"
    if "header" in lowered:
        return f"invalid header line ({reason}); send header lines as 'Name: value'"
    if "version" in lowered or "url" in lowered or "expected" in lowered:
        return f"the request line is not 'METHOD /path HTTP/1.1' ({reason}); {_USE}"
    return f"the request is not valid HTTP ({reason}); {_USE}"


def refusal(status: int, message: str) -> bytes:
    """A complete HTTP/1.1 answer with a JSON error body that closes the connection."""
    body = json.dumps({"error": message}).encode()
    head = (
        f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class HeadWithBody:
    """A request cycle's transport that holds the response head until the body's first write, then writes both.

    Uvicorn's cycle writes the status line and headers when the app sends ``http.response.start``
    and the body when it sends ``http.response.body``; here the two go out in one ``write``. Only the
    head is held: ``100 Continue`` (written before the response starts) and every later body part
    are written at once. A held head is dropped by ``close``: uvicorn closes with a head and no body
    only when the app failed mid-answer, and the client then reads a closed connection either way.
    """

    __slots__ = ("_cycle", "_head_seen", "_held", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport = transport
        self._cycle = cycle
        self._held: bytes | None = None
        self._head_seen = False

    def write(self, data: bytes) -> None:
        if not self._head_seen and self._cycle.response_started:
            self._head_seen = True
            self._held = data
            return
        if self._held is not None:
            data = self._held + data
            self._held = None
        self._transport.write(data)

    def close(self) -> None:
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class JsonHttpToolsProtocol(HttpToolsProtocol):
    """Uvicorn's httptools protocol answering what it cannot parse in JSON (``uvicorn.Config(http=...)``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = self._head_raw = 0
        self._in_head = self._in_body = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._refused = False
        #: The service whose common requests this protocol answers itself (``inference.direct``).
        self._service = self.app.service if isinstance(self.app, ServiceApp) else None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    # asyncio.Protocol.eof_received may return True to keep the transport open; uvicorn types it None.
    def eof_received(self) -> bool | None:  # type: ignore[override]
        """The client closed its side: answer the request in progress, if any, then close.

        Uvicorn closes at once, so a client that half-closes after sending its request never reads
        the answer. Here the request in progress is answered first; if its body was still coming, the
        app reads it as ended (and answers that it is shorter than its ``Content-Length``).
        """
        cycle = self.cycle
        if self._refused or cycle is None or cycle.response_complete:
            return None  # nothing in progress: the transport closes
        cycle.keep_alive = False
        if isinstance(cycle, DirectRequest):
            self._answer_directly(cycle)
            return True
        if cycle.more_body:
            cycle.more_body = False
            cycle.message_event.set()
        return True

    def data_received(self, data: bytes) -> None:
        if self._refused:  # lingering after a refusal: drop what still arrives
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no upgrade is offered; the request was answered as HTTP/1.1
        except httptools.HttpParserCallbackError as err:
            cause = err.__context__
            if isinstance(cause, HeadRefusedError):
                self.refuse(cause.status, cause.message)
            else:  # uvicorn's own callbacks failed on this request (e.g. a path it cannot decode)
                self.refuse(400, f"the request is not valid HTTP ({type(cause).__name__}); {_USE}")
        except httptools.HttpParserError as err:
            self.refuse(400, parse_error_message(err))
        else:
            if self._in_head:  # the head goes on past this chunk: all of it was head
                self._head_raw += len(data)
                if self._head_raw > MAX_HEAD_BYTES:
                    self.refuse(431, _TOO_LARGE)
                elif self._head_timer is None:
                    self._arm_head_timer()
            elif self._in_body and self._body_timer is None:
                self._body_timer = self.loop.call_later(BODY_SECONDS, self._body_timed_out)

    def refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with ``message`` in JSON and close, unless an answer is already being written."""
        cycle = self.cycle
        if self._refused or self.transport.is_closing():
            return
        log.warning("refused a request from %s: %s %s", (self.client or ("?",))[0], status, message)
        self._refused = True
        self._cancel_timers()
        if cycle is None or cycle.response_complete or not cycle.response_started:
            self.transport.write(refusal(status, message))
        if cycle is not None and not cycle.response_complete:
            # The app may be running for this request (llhttp refuses a Transfer-Encoding or a chunk
            # after the headers): from now on it reads a disconnect, and what it sends is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def send_400_response(self, msg: str) -> None:
        """Uvicorn's plain-text 400, for any path that still calls it, as JSON."""
        self.refuse(400, f"the request is not valid HTTP; {_USE}")

    # Parser callbacks: where a request is (head, body, complete), and the head's size.
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._head_raw = 0
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._in_body = True
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        direct = self._direct_request()
        if direct is not None:
            self.cycle = direct  # type: ignore[assignment]
            return
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        # A new request (not an upgrade uvicorn declined). The answer to HEAD has no body: uvicorn never
        # writes one, so its head is written at once.
        if cycle is not None and cycle is not previous and cycle.scope["method"] != "HEAD":
            cycle.transport = HeadWithBody(cycle.transport, cycle)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self._in_body = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        cycle = self.cycle
        if isinstance(cycle, DirectRequest):
            if not cycle.response_complete:
                self._answer_directly(cycle)
            return
        super().on_message_complete()

    def _direct_request(self) -> DirectRequest | None:
        """The request whose head just ended, when it is one this protocol answers itself (``inference.direct``)."""
        if self._service is None or self.parser.should_upgrade():
            return None
        cycle = self.cycle
        # Pipelined behind an answer not yet written (uvicorn's queued requests are all behind this one).
        if cycle is not None and not cycle.response_complete:
            return None
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        return plan(self._service, self.parser.get_method(), self.url, self.headers, keep_alive=keep_alive)

    def _answer_directly(self, request: DirectRequest) -> None:
        """Answer ``request`` in one write, then carry on as uvicorn does after an answer."""
        answer = answer_for(request)
        data, keep = render(
            answer,
            STATUS_LINE[answer.status],
            self.server_state.default_headers,
            keep_alive=request.keep_alive,
            head_only=request.head_only,
        )
        request.response_started = request.response_complete = True
        self.transport.write(data)
        if not keep:
            self.transport.close()
        self.on_response_complete()

    def _count(self, size: int) -> None:
        """Add a line's ``size`` to the head; past the bound, stop the parser.

        The callbacks see whole lines, which llhttp buffers until they end; ``data_received`` also
        counts what arrives while a head is incomplete, which bounds a line that never ends.
        """
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            raise HeadRefusedError(431, _TOO_LARGE)

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_timed_out)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._in_head:
            self.refuse(408, f"the request's line and headers did not arrive within {HEAD_SECONDS:g} s")
        elif self.cycle is None:  # connected, and sent nothing
            self.transport.close()

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self._in_body and not self.transport.is_closing():
            self.refuse(408, f"the request's body did not all arrive within {BODY_SECONDS:g} s")
