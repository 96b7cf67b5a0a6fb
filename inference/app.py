"""The WSGI application behind ``/ping``, ``/invocations`` and ``/execution-parameters``.

A plain WSGI callable, no framework: the model answers in tens of microseconds,
so routing, validation layers and response models would be most of the cost
(see ``docs/benchmarks.md``). Every client error becomes a 4xx JSON
``{"error": "..."}``; only a fault of the server itself is a 5xx.

``GET /execution-parameters`` is batch transform's optional route (``inference.batch``); in
batch mode (``SAGEMAKER_BATCH=true``) a CSV request that accepts ``text/csv`` is answered line
by line, in CSV, under the job's payload bound. Everything else is answered as a real-time
endpoint answers it, in batch mode too.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, Final

import numpy as np

from inference.batch import BatchSettings, answer_csv_lines, wants_csv_lines
from inference.fault_injection import FaultInjector
from inference.model import LoadedModel
from training.feature_schema import (
    CSV_CONTENT_TYPE,
    MAX_PAYLOAD_BYTES,
    PayloadError,
    media_type,
    parse_payload,
    payload_too_large,
)

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[WSGIEnviron, StartResponse], Iterable[bytes]]

log = logging.getLogger("inference")

_JSON: Final = "application/json"
_CSV: Final = "text/csv"
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
_ROUTES: Final[dict[str, tuple[str, ...]]] = {
    "/ping": ("GET", "HEAD"),
    "/invocations": ("POST",),
    "/execution-parameters": ("GET",),
}

#: Before a 413, what is sent of an oversized body (up to this size, for at most this long) is read
#: and thrown away. Most clients send the whole body before they read an answer; a server that
#: answers and stops reading gives them a broken pipe instead of the 413. Drained, the connection
#: stays usable. A client that asked ``Expect: 100-continue`` has sent nothing yet: it gets the 413
#: at once, and the body is never sent.
#:
#: The server's ``wsgi.input`` has no timeout (a read returns once its bytes arrived or the client
#: closed) and a read cannot be abandoned: left in flight on another thread once the answer is
#: returned, it stalls the whole worker process (granian 2.8). So the drain reads on the request's
#: own thread, in small reads, and checks the deadline between them; what remains unbounded is a
#: client that stops sending altogether, which holds that thread until it sends or closes, as it
#: would while sending any body.
DRAIN_LIMIT_BYTES: Final = 64 * 1024 * 1024
DRAIN_SECONDS: Final = 20.0
_READ_CHUNK: Final = 64 * 1024


def _drain(stream: Any, remaining: int) -> bool:
    """Read and discard up to ``remaining`` bytes of the body within the limits above; True when none is left."""
    deadline = time.monotonic() + DRAIN_SECONDS
    try:
        while remaining > 0:
            if time.monotonic() >= deadline:
                return False
            chunk = stream.read(min(_READ_CHUNK, remaining))
            if not chunk:  # the body ended (or the client went away)
                return True
            remaining -= len(chunk)
    except Exception:  # the client broke the framing or went away: nothing more to drain
        return False
    return True


def _expects_continue(environ: WSGIEnviron) -> bool:
    """Whether the client waits for ``100 Continue`` before it sends the body (RFC 9110, 10.1.1)."""
    return "100-continue" in str(environ.get("HTTP_EXPECT", "")).lower()


def _answer(
    start_response: StartResponse,
    status: int,
    body: bytes,
    *,
    allow: str | None = None,
    content_type: str = _JSON,
    close: bool = False,
) -> list[bytes]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    if allow:
        headers.append(("Allow", allow))
    if close:
        headers.append(("Connection", "close"))
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


class _RefusedError(Exception):
    """A request answered with a 4xx before it was scored."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        #: The body was left unread: the answer asks the server to close the connection.
        self.close = close


def _read_body(environ: WSGIEnviron, limit: int, too_large: Callable[[str], PayloadError]) -> bytes:
    """The request body, at most ``limit`` bytes; raises :class:`_RefusedError` with what was wrong."""
    length_header = environ.get("CONTENT_LENGTH") or ""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    try:
        length = int(length_header) if length_header else -1
    except ValueError:
        raise _RefusedError(400, f"invalid Content-Length {length_header[:40]!r}") from None
    stream = environ["wsgi.input"]
    if length > limit:
        # Known too large from the header alone: nothing is kept, the body is only drained.
        drained = length <= DRAIN_LIMIT_BYTES and not _expects_continue(environ) and _drain(stream, length)
        refused = too_large(f"{length} bytes (Content-Length)")
        raise _RefusedError(refused.status, refused.message, close=not drained)
    try:
        if length >= 0:
            body: bytes = stream.read(length) if length else b""
        else:
            body = stream.read(limit + 1) if chunked else b""
    except Exception as err:  # a client that breaks the framing is a client error, not a server fault
        raise _RefusedError(400, f"could not read the request body: {type(err).__name__}") from None
    if length >= 0 and len(body) < length:
        raise _RefusedError(400, f"the body ended after {len(body)} of {length} bytes (Content-Length)")
    if len(body) > limit:  # chunked, and past the limit
        drained = _drain(stream, DRAIN_LIMIT_BYTES - len(body))
        refused = too_large(f"over {limit} bytes")
        raise _RefusedError(refused.status, refused.message, close=not drained)
    return body


def make_app(
    model: LoadedModel, *, fault_rate: float = 0.0, batch: BatchSettings | None = None, workers: int = 1
) -> WSGIApp:
    """The WSGI callable serving ``model``.

    ``fault_rate`` > 0 injects 500s (``inference.fault_injection``); ``batch`` switches batch mode on
    (``inference.batch``); ``workers`` is the server's process count, reported by ``/execution-parameters``.
    """
    ping_body = json.dumps({"status": "ok", "model_version": model.version}).encode()
    faults = FaultInjector(fault_rate) if fault_rate > 0 else None
    batch = batch or BatchSettings()
    parameters_body = json.dumps(batch.execution_parameters(workers)).encode()

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
        if path == "/execution-parameters":
            return _answer(start_response, 200, parameters_body)
        if batch.enabled and wants_csv_lines(environ.get("HTTP_ACCEPT")):
            return _csv_lines(environ, start_response)
        return _invocations(environ, start_response)

    def _scored(start_response: StartResponse, score: Callable[[], bytes], content_type: str) -> list[bytes]:
        injected = faults.next_failure() if faults is not None else None
        if injected is not None:
            return _error(start_response, 500, injected)
        try:
            answer = score()
        except Exception:
            log.exception("scoring failed")
            return _error(start_response, 500, "internal error while scoring; the request was valid")
        return _answer(start_response, 200, answer, content_type=content_type)

    def _invocations(environ: WSGIEnviron, start_response: StartResponse) -> list[bytes]:
        try:
            body = _read_body(environ, MAX_PAYLOAD_BYTES, payload_too_large)
            rows = parse_payload(body, environ.get("CONTENT_TYPE"))
        except (_RefusedError, PayloadError) as err:
            return _error(start_response, err.status, err.message, close=isinstance(err, _RefusedError) and err.close)
        return _scored(start_response, lambda: predictions_body(model, rows), _JSON)

    def _csv_lines(environ: WSGIEnviron, start_response: StartResponse) -> list[bytes]:
        """Batch mode, CSV in and out: one answer line per input line (``inference.batch``)."""
        kind = media_type(environ.get("CONTENT_TYPE"))
        if kind != CSV_CONTENT_TYPE:
            return _error(
                start_response,
                415,
                f"unsupported content type {kind or 'none'!r} for Accept: text/csv; in batch mode send text/csv rows",
            )
        try:
            body = _read_body(environ, batch.max_payload_bytes, batch.too_large)
        except _RefusedError as err:
            return _error(start_response, err.status, err.message, close=err.close)
        if not body.strip():
            return _error(start_response, 400, "the body is empty; send at least one row of features")
        return _scored(start_response, lambda: answer_csv_lines(model, body), _CSV)

    return app


def configure_logging() -> None:
    """Log lines to stderr, which SageMaker ships to CloudWatch."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
