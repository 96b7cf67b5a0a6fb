"""The service (``inference.app``) as an ASGI application: what uvicorn runs in each worker process.

Reading the body is this module's part (the ASGI 3.0 HTTP connection scope, "HTTP & WebSocket ASGI
Message Format", https://asgi.readthedocs.io/en/latest/specs/www.html):

* a ``Content-Length`` over the route's bound is refused (413) before a byte of the body is read.
  Uvicorn then reads and throws away whatever of that body arrives (for up to 75 s, the HTTP
  protocol's body bound), so the connection stays usable
  and a client that sends its whole body before reading gets the 413, not a broken pipe. Two cases
  close the connection instead: a client that asked ``Expect: 100-continue`` (it has sent nothing,
  and is never asked to), and a claimed size past :data:`DRAIN_LIMIT_BYTES`;
* a chunked body is read up to the bound; past it, the 413 (the rest is thrown away as above);
* a body that stops arriving is the HTTP protocol's to bound (``inference.http_protocol``: a 408,
  and the app reads a disconnect): a stalled client holds one coroutine, never a thread or the worker;
* a body over :data:`OFFLOAD_BYTES` is parsed and scored on the worker's thread pool, so a 6 MB
  request does not hold up ``/ping`` and the other connections of its worker for the seconds it
  takes; smaller ones are answered on the event loop, where a thread hop would cost more than the
  work (one row takes tens of microseconds).

An exception the service lets escape is logged and answered with a bare JSON 500.

In the server, the common small request never reaches this app: ``inference.http_protocol``
answers it from :attr:`ServiceApp.service` (``inference.direct``), with the same bytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import Any, Final

from inference.app import FAULT, Answer, BodyWanted, Router, Service, body_cut_short, declared_length, error
from inference.batch import BatchSettings
from inference.model import LoadedModel
from training.feature_schema import PayloadError

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("inference")

#: Bodies larger than this are parsed and scored off the event loop (about 1,500 CSV rows).
OFFLOAD_BYTES: Final = 64 * 1024
#: A claimed body larger than this is not worth reading to keep the connection: the 413 closes it.
DRAIN_LIMIT_BYTES: Final = 64 * 1024 * 1024

_WANTED: Final = frozenset({b"content-type", b"accept", b"content-length", b"expect"})


def _headers(scope: Scope) -> dict[bytes, str]:
    """The request headers the service reads (names are lower case in ASGI)."""
    return {name: value.decode("latin-1") for name, value in scope["headers"] if name in _WANTED}


def asgi_headers(answer: Answer) -> list[tuple[bytes, bytes]]:
    """``answer``'s headers as ASGI wants them: lower-case byte strings."""
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers()]


async def send_answer(send: Send, answer: Answer) -> None:
    await send({"type": "http.response.start", "status": answer.status, "headers": asgi_headers(answer)})
    await send({"type": "http.response.body", "body": answer.body})


async def read_body(receive: Receive, wanted: BodyWanted) -> bytes | Answer | None:
    """The body, at most ``wanted.limit`` bytes; the 413 otherwise; ``None`` when the client left (or stalled)."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > wanted.limit:
            return wanted.refuse(f"over {wanted.limit} bytes")
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts) if len(parts) != 1 else parts[0]


class ServiceApp:
    """``service`` as an ASGI 3 callable; ``executor`` runs the work for bodies over :data:`OFFLOAD_BYTES`.

    ``inference.http_protocol`` answers the common small request itself (``inference.direct``),
    from :attr:`service`; this app answers every other one.
    """

    def __init__(self, service: Router, executor: Executor | None = None) -> None:
        self.service = service
        self._executor = executor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # no lifespan or websocket: the server runs with both off
            return
        try:
            reply = await self._answer(scope, receive)
        except Exception:
            log.exception("error handling %s %s", scope.get("method"), str(scope.get("path"))[:100])
            reply = FAULT
        if reply is not None:
            await send_answer(send, reply)

    async def _answer(self, scope: Scope, receive: Receive) -> Answer | None:
        headers = _headers(scope)
        routed = self.service.route(
            scope["method"], scope["path"], content_type=headers.get(b"content-type"), accept=headers.get(b"accept")
        )
        if isinstance(routed, Answer):
            return routed
        try:
            length = declared_length(headers.get(b"content-length"))
        except PayloadError as err:
            return error(err.status, err.message, close=True)
        if length is not None and length > routed.limit:
            unsent = "100-continue" in headers.get(b"expect", "").lower()
            return routed.refuse(f"{length} bytes (Content-Length)", close=unsent or length > DRAIN_LIMIT_BYTES)
        body = await read_body(receive, routed)
        if not isinstance(body, bytes):
            return body
        if length is not None and len(body) < length:  # the client closed its side early
            return body_cut_short(len(body), length)
        if self._executor is not None and len(body) > OFFLOAD_BYTES:
            return await asyncio.get_running_loop().run_in_executor(self._executor, routed.finish, body)
        return routed.finish(body)


def make_app(
    model: LoadedModel,
    *,
    fault_rate: float = 0.0,
    batch: BatchSettings | None = None,
    workers: int = 1,
    executor: Executor | None = None,
) -> ServiceApp:
    """The ASGI app serving ``model`` (see :class:`inference.app.Service` and :class:`ServiceApp`)."""
    return ServiceApp(Service(model, fault_rate=fault_rate, batch=batch, workers=workers), executor)
