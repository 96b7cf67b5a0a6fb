"""Bench-only applications for the serving benchmark (``bench.serving``); none of this is served in AWS.

* :func:`ours_asgi`: our model behind an ASGI callable that does what ``inference.app``'s WSGI
  ``/invocations`` does (read the body under the 6 MB limit, ``parse_payload``, ``predictions_body``),
  so that served by uvicorn it differs from ``python -m inference.serve`` only in its HTTP layer.
* :func:`constant_wsgi` / :func:`constant_asgi`: read the request body and answer a fixed prediction
  body: the ceiling of an HTTP layer, with no parsing and no scoring.
* :class:`NoDelayHttpTools`: uvicorn's httptools protocol with ``TCP_NODELAY`` set on every accepted
  connection. Uvicorn's ``--workers`` mode binds its listening socket with protocol 0, and asyncio
  only sets ``TCP_NODELAY`` on sockets whose protocol is ``IPPROTO_TCP``; without it a keep-alive
  client waits on Nagle's algorithm and delayed ACKs (about 40 ms) for answers written in two parts.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: A typical probability as ``predictions_body`` renders it (``repr`` of a float64).
_PROBABILITY: Final = "0.012745389184164405"


def constant_answer(rows: int) -> bytes:
    """What ``/invocations`` answers for ``rows`` rows, with a fixed probability for each."""
    item = f'{{"probability":{_PROBABILITY},"label":0}}'
    return f'{{"predictions":[{",".join([item] * rows)}],"model_version":"bench"}}'.encode()


#: The constant servers answer a body as long as the real one: one prediction per line of the request.
_ANSWERS: Final = {rows: constant_answer(rows) for rows in (1, 100)}
_PING: Final = b'{"status":"ok","model_version":"bench"}'


def _constant_for(body: bytes) -> bytes:
    return _ANSWERS.get(body.count(b"\n"), _ANSWERS[1])


def constant_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """WSGI: ``/ping`` and a fixed answer to anything else, after reading the body."""
    if environ.get("PATH_INFO") == "/ping":
        answer = _PING
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        answer = _constant_for(environ["wsgi.input"].read(length) if length else b"")
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
    return [answer]


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it passes ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _send(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


async def constant_asgi(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI: ``/ping`` and a fixed answer to anything else, after reading the body."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/ping":
        await _send(send, 200, _PING)
        return
    body = await _read_body(receive, 64 * 1024 * 1024)
    await _send(send, 200, _constant_for(body or b""))


def ours_asgi() -> ASGIApp:
    """Our model (``SM_MODEL_DIR``) as an ASGI app: ``inference.app``'s request path without WSGI.

    Scoring runs on the event loop, as the WSGI app runs it on the worker's thread: one worker
    process per core either way.
    """
    from inference.app import predictions_body
    from inference.model import load_model
    from training.feature_schema import MAX_PAYLOAD_BYTES, PayloadError, parse_payload, payload_too_large

    model = load_model(os.environ["SM_MODEL_DIR"])
    ping = json.dumps({"status": "ok", "model_version": model.version}).encode()

    def error(status: int, message: str) -> tuple[int, bytes]:
        return status, json.dumps({"error": message}).encode()

    async def invocations(scope: Scope, receive: Receive) -> tuple[int, bytes]:
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_PAYLOAD_BYTES:
            refused = payload_too_large(f"{declared} bytes (Content-Length)")
            return error(refused.status, refused.message)
        body = await _read_body(receive, MAX_PAYLOAD_BYTES)
        if body is None:
            refused = payload_too_large(f"over {MAX_PAYLOAD_BYTES} bytes")
            return error(refused.status, refused.message)
        try:
            rows = parse_payload(body, _header(scope, b"content-type"))
        except PayloadError as err:
            return error(err.status, err.message)
        return 200, predictions_body(model, rows)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/ping" and method in ("GET", "HEAD"):
            await _send(send, 200, ping)
        elif path == "/invocations" and method == "POST":
            await _send(send, *await invocations(scope, receive))
        else:
            await _send(send, *error(404, f"no route {method} {path[:100]!r}"))

    return app


class NoDelayHttpTools(HttpToolsProtocol):
    """Uvicorn's httptools protocol, with ``TCP_NODELAY`` on each connection (``--http`` takes the class)."""

    def connection_made(self, transport: Any) -> None:
        """Set ``TCP_NODELAY`` on the accepted socket, then carry on as uvicorn does."""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
