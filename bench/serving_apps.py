"""Bench-only applications for the serving benchmark (``bench.serving``); none of this is served in AWS.

* :func:`constant_wsgi` / :data:`constant_asgi`: read the request body and answer a fixed prediction
  body: the ceiling of an HTTP layer, with no parsing and no scoring.
* :class:`NoDelayHttpTools`: uvicorn's stock httptools protocol with only ``TCP_NODELAY`` added on
  every accepted connection, for the peers run by uvicorn's command line (``mlflow-fair``,
  ``fastapi-peer``). Uvicorn's ``--workers`` mode binds its listening socket with protocol 0, and
  asyncio only sets ``TCP_NODELAY`` on sockets whose protocol is ``IPPROTO_TCP``; without it a
  keep-alive client waits on Nagle's algorithm and delayed ACKs (about 40 ms) for answers written in
  two parts. ``inference.http_protocol.JsonHttpToolsProtocol`` sets it too, but also bounds and times
  every request's head, which is our server's work, not theirs.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from inference.app import Answer, BodyWanted
from inference.asgi import ServiceApp
from training.feature_schema import payload_too_large

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


class ConstantRouter:
    """``/ping`` and a fixed answer to anything else, after reading the body (an :class:`inference.app.Router`).

    Served as :class:`inference.asgi.ServiceApp`, it runs on ``ours``'s whole HTTP layer: the common
    requests answered by the protocol itself (``inference.direct``), the others by the ASGI app.
    """

    def route(self, method: str, path: str, *, content_type: str | None, accept: str | None) -> Answer | BodyWanted:
        if path == "/ping":
            return Answer(200, _PING)
        return BodyWanted(64 * 1024 * 1024, payload_too_large, lambda body: Answer(200, _constant_for(body)))


#: The constant app for ``const-uvicorn``.
constant_asgi: Final = ServiceApp(ConstantRouter())


class NoDelayHttpTools(HttpToolsProtocol):
    """Uvicorn's httptools protocol, with ``TCP_NODELAY`` on each connection (``--http`` takes the class)."""

    def connection_made(self, transport: Any) -> None:
        """Set ``TCP_NODELAY`` on the accepted socket, then carry on as uvicorn does."""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
