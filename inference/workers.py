"""Gunicorn workers whose own answers are JSON, like the app's.

Gunicorn answers a request it cannot parse (a bad ``Content-Length``, an invalid method, an
over-long request line) itself, before the app runs, with an HTML page. These workers answer
the same failures with the hosting contract's 4xx JSON ``{"error": "..."}`` saying what to fix,
and a fault of the server with a bare 500 JSON: no stack trace or internal detail ever reaches
the caller (it goes to the log).

``inference.serve`` runs them in place of gunicorn's ``gthread`` and ``sync`` workers.
"""

from __future__ import annotations

import json
from typing import Any, Final

from gunicorn import util  # type: ignore[import-untyped]
from gunicorn.http import errors  # type: ignore[import-untyped]
from gunicorn.workers.gthread import ThreadWorker  # type: ignore[import-untyped]
from gunicorn.workers.sync import SyncWorker  # type: ignore[import-untyped]

_USE: Final = "use GET /ping or POST /invocations"
_REASONS: Final[dict[int, str]] = {
    400: "Bad Request",
    403: "Forbidden",
    413: "Content Too Large",
    414: "URI Too Long",
    417: "Expectation Failed",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


def protocol_error(exc: BaseException) -> tuple[int, str]:
    """The status and message for a request gunicorn could not parse; 500 for anything else."""
    if isinstance(exc, errors.InvalidHeader) and str(exc.hdr).upper() == "CONTENT-LENGTH":
        return 400, (
            "invalid Content-Length header: send it once, as the body's size in bytes (a whole number such as 28)"
        )
    if isinstance(exc, errors.InvalidHeader | errors.InvalidHeaderName | errors.ObsoleteFolding):
        return 400, f"invalid header {str(exc.hdr)[:100]!r}; send header lines as 'Name: value'"
    if isinstance(exc, errors.InvalidRequestMethod):
        return 400, f"invalid method {str(exc.method)[:40]!r}: methods are upper-case words; {_USE}"
    if isinstance(exc, errors.InvalidRequestLine | errors.InvalidHTTPVersion):
        return 400, f"the request line is not 'METHOD /path HTTP/1.1'; {_USE}"
    if isinstance(exc, errors.UnsupportedTransferCoding):
        return 400, "unsupported Transfer-Encoding; send a Content-Length, or Transfer-Encoding: chunked"
    if isinstance(exc, errors.LimitRequestLine):
        return 414, f"the request line is too long; {_USE}"
    if isinstance(exc, errors.LimitRequestHeaders):
        return 431, f"the request headers are too large: {str(exc)[:100]}"
    if isinstance(exc, errors.ExpectationFailed):
        return 417, "only 'Expect: 100-continue' is understood"
    if isinstance(exc, errors.ForbiddenProxyRequest):
        return 403, "proxy requests are not allowed"
    if isinstance(exc, errors.ParseException) and not isinstance(exc, errors.ConfigurationProblem):
        return 400, f"the request is not valid HTTP; {_USE}"
    return 500, "internal error; the request was not scored"


def _render(status: int, message: str) -> bytes:
    body = json.dumps({"error": message}).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _JsonErrors:
    """Replaces ``gunicorn.workers.base.Worker.handle_error``, which writes an HTML page."""

    log: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status, message = protocol_error(exc)
        if status >= 500:
            self.log.exception("error handling a request")
        else:
            self.log.warning("invalid request from %s: %s", (addr or ("", -1))[0], exc)
        try:
            util.write_nonblock(client, _render(status, message))
        except Exception:
            self.log.debug("could not send the error answer")


class JsonThreadWorker(_JsonErrors, ThreadWorker):
    """Gunicorn's ``gthread`` worker, answering protocol errors in JSON."""


class JsonSyncWorker(_JsonErrors, SyncWorker):
    """Gunicorn's ``sync`` worker, answering protocol errors in JSON."""


#: ``SERVE_WORKER_CLASS`` value → the worker class gunicorn loads.
WORKER_CLASSES: Final[dict[str, str]] = {
    "gthread": "inference.workers.JsonThreadWorker",
    "sync": "inference.workers.JsonSyncWorker",
}
