"""The WSGI application behind ``/ping`` and ``/invocations``.

A plain WSGI callable, no framework: the model answers in tens of microseconds,
so routing, validation layers and response models would be most of the cost
(see ``docs/benchmarks.md``). Every client error becomes a 4xx JSON
``{"error": "..."}``; only a fault of the server itself is a 5xx.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any, Final

import numpy as np

from inference.model import LoadedModel
from training.feature_schema import MAX_PAYLOAD_BYTES, PayloadError, parse_payload

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


def _answer(start_response: StartResponse, status: int, body: bytes, *, allow: str | None = None) -> list[bytes]:
    # An unread request body is no hazard for keep-alive: gunicorn discards the rest of it (at most
    # what the client still sends) before it parses the next request on the connection.
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


def make_app(model: LoadedModel) -> WSGIApp:
    """The WSGI callable serving ``model``."""
    ping_body = json.dumps({"status": "ok", "model_version": model.version}).encode()

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
        if length > MAX_PAYLOAD_BYTES:
            # Refuse before reading: the limit is known from the header alone.
            return _error(
                start_response,
                413,
                f"the body is {length} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes (6 MB)",
            )
        stream = environ["wsgi.input"]
        try:
            if length >= 0:
                body = stream.read(length) if length else b""
            else:
                body = stream.read(MAX_PAYLOAD_BYTES + 1) if chunked else b""
        except Exception as err:  # a client that breaks the framing is a client error, not a server fault
            return _error(start_response, 400, f"could not read the request body: {type(err).__name__}")
        if length >= 0 and len(body) < length:
            return _error(start_response, 400, f"the body ended after {len(body)} of {length} bytes (Content-Length)")
        try:
            rows = parse_payload(body, environ.get("CONTENT_TYPE"))
        except PayloadError as err:
            return _error(start_response, err.status, err.message)
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
