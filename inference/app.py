"""The WSGI application behind ``/ping`` and ``/invocations``.

A plain WSGI callable, no framework: the model answers in tens of microseconds,
so routing, validation layers and response models would be most of the cost
(see ``docs/benchmarks.md``). Every client error becomes a 4xx JSON
``{"error": "..."}``; only a fault of the server itself is a 5xx.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

import numpy as np

from inference.fault_injection import FaultInjector
from inference.model import LoadedModel
from training.feature_schema import MAX_PAYLOAD_BYTES, PayloadError, parse_payload, payload_too_large

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[WSGIEnviron, StartResponse], Iterable[bytes]]

log = logging.getLogger("inference")

_JSON: Final = "application/json"
_REASONS: Final[dict[int, str]] = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
}
_ROUTES: Final[dict[str, tuple[str, ...]]] = {"/ping": ("GET", "HEAD"), "/invocations": ("POST",)}

#: Before a 413, what is sent of an oversized body (up to this size, for at most this long) is read
#: and thrown away. Most clients send the whole body before they read an answer; a server that
#: answers and stops reading gives them a broken pipe instead of the 413, and gunicorn closes a
#: connection whose body was not read (it drains 64 KB itself). Drained, the connection stays
#: usable. A client that sends nothing for ``DRAIN_IDLE_SECONDS`` is waiting for the answer
#: (or stalled): it gets the 413 then.
DRAIN_LIMIT_BYTES: Final = 64 * 1024 * 1024
DRAIN_SECONDS: Final = 20.0
DRAIN_IDLE_SECONDS: Final = 1.0
_READ_CHUNK: Final = 64 * 1024


def _drain(stream: Any, remaining: int, sock: Any = None) -> None:
    """Read and discard up to ``remaining`` bytes of the body in small reads, within the limits above."""
    deadline = time.monotonic() + DRAIN_SECONDS
    prior = sock.gettimeout() if sock is not None else None
    try:
        while remaining > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if sock is not None:
                sock.settimeout(min(left, DRAIN_IDLE_SECONDS))
            chunk = stream.read(min(_READ_CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
    except Exception:  # the client went quiet or away: nothing more to drain
        return
    finally:
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.settimeout(prior)


def _answer(start_response: StartResponse, status: int, body: bytes, *, allow: str | None = None) -> list[bytes]:
    headers = [("Content-Type", _JSON), ("Content-Length", str(len(body)))]
    if allow:
        headers.append(("Allow", allow))
    start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
    return [body]


def _error(start_response: StartResponse, status: int, message: str, **kwargs: Any) -> list[bytes]:
    return _answer(start_response, status, json.dumps({"error": message}).encode(), **kwargs)


def predictions_body(model: LoadedModel, rows: list[list[float]]) -> bytes:
    """Score ``rows`` and render the ``/invocations`` answer."""
    probabilities = model.score(np.array(rows, dtype=np.float64))
    threshold = model.threshold
    items = ",".join(f'{{"probability":{p!r},"label":{1 if p >= threshold else 0}}}' for p in probabilities.tolist())
    return f'{{"predictions":[{items}],"model_version":{json.dumps(model.version)}}}'.encode()


def make_app(model: LoadedModel, *, fault_rate: float = 0.0) -> WSGIApp:
    """The WSGI callable serving ``model``; ``fault_rate`` > 0 injects 500s (``inference.fault_injection``)."""
    ping_body = json.dumps({"status": "ok", "model_version": model.version}).encode()
    faults = FaultInjector(fault_rate) if fault_rate > 0 else None

    def app(environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        allowed = _ROUTES.get(path)
        if allowed is None:
            return _error(start_response, 404, f"no route {path[:100]!r}; use GET /ping or POST /invocations")
        if method not in allowed:
            return _error(
                start_response,
                405,
                f"{method} is not allowed on {path}; use {' or '.join(allowed)}",
                allow=", ".join(allowed),
            )
        if path == "/ping":
            return _answer(start_response, 200, b"" if method == "HEAD" else ping_body)
        return _invocations(environ, start_response)

    def _invocations(environ: WSGIEnviron, start_response: StartResponse) -> list[bytes]:
        length_header = environ.get("CONTENT_LENGTH") or ""
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        try:
            length = int(length_header) if length_header else -1
        except ValueError:
            return _error(start_response, 400, f"invalid Content-Length {length_header[:40]!r}")
        stream = environ["wsgi.input"]
        if length > MAX_PAYLOAD_BYTES:
            # Known too large from the header alone: nothing is kept, the body is only drained.
            _drain(stream, length if length <= DRAIN_LIMIT_BYTES else 0, environ.get("gunicorn.socket"))
            too_large = payload_too_large(f"{length} bytes (Content-Length)")
            return _error(start_response, too_large.status, too_large.message)
        try:
            if length >= 0:
                body = stream.read(length) if length else b""
            else:
                body = stream.read(MAX_PAYLOAD_BYTES + 1) if chunked else b""
        except Exception as err:  # a client that breaks the framing is a client error, not a server fault
            return _error(start_response, 400, f"could not read the request body: {type(err).__name__}")
        if length >= 0 and len(body) < length:
            return _error(start_response, 400, f"the body ended after {len(body)} of {length} bytes (Content-Length)")
        if len(body) > MAX_PAYLOAD_BYTES:  # chunked, and past the limit
            _drain(stream, DRAIN_LIMIT_BYTES - len(body), environ.get("gunicorn.socket"))
            too_large = payload_too_large(f"over {MAX_PAYLOAD_BYTES} bytes")
            return _error(start_response, too_large.status, too_large.message)
        try:
            rows = parse_payload(body, environ.get("CONTENT_TYPE"))
        except PayloadError as err:
            return _error(start_response, err.status, err.message)
        injected = faults.next_failure() if faults is not None else None
        if injected is not None:
            return _error(start_response, 500, injected)
        try:
            answer = predictions_body(model, rows)
        except Exception:
            log.exception("scoring failed")
            return _error(start_response, 500, "internal error while scoring; the request was valid")
        return _answer(start_response, 200, answer)

    return app


def configure_logging() -> None:
    """Log lines to stderr, which SageMaker ships to CloudWatch."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
