"""The service behind ``/ping``, ``/invocations`` and ``/execution-parameters``, whatever the HTTP server.

A request is answered in two steps, so that the HTTP adapter (``inference.asgi`` in the image; the
benchmark also runs a WSGI one) owns only the reading of bytes:

1. :meth:`Service.route` looks at the method, the path and the headers. It either answers at once
   (``/ping``, a 404, a 405, a 415) or says that the route wants the body: a :class:`BodyWanted`
   with the size bound and what to do with the body once read.
2. The adapter reads the body within that bound (:func:`declared_length` reads ``Content-Length``;
   :meth:`BodyWanted.refuse` is the 413) and calls :meth:`BodyWanted.finish`.

No framework: the model answers in tens of microseconds, so routing, validation layers and
response models would be most of the cost (see ``docs/benchmarks.md``). Every client error is a
4xx JSON ``{"error": "..."}``; only a fault of the server itself is a 5xx.

``GET /execution-parameters`` is batch transform's optional route (``inference.batch``); in
batch mode (``SAGEMAKER_BATCH=true``) a CSV request that accepts ``text/csv`` is answered line
by line, in CSV, under the job's payload bound. Everything else is answered as a real-time
endpoint answers it, in batch mode too.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

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

log = logging.getLogger("inference")

JSON_TYPE: Final = "application/json"
CSV_TYPE: Final = "text/csv"
REASONS: Final[dict[int, str]] = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}
_ROUTES: Final[dict[str, tuple[str, ...]]] = {
    "/ping": ("GET", "HEAD"),
    "/invocations": ("POST",),
    "/execution-parameters": ("GET",),
}
#: What a fault of the server tells the caller (the detail goes to the log).
FAULT_MESSAGE: Final = "internal error; the request was not scored"


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer. ``close`` asks the server to close the connection after it."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    allow: str | None = None
    close: bool = False

    @property
    def reason(self) -> str:
        return REASONS.get(self.status, "Error")

    def headers(self) -> list[tuple[str, str]]:
        """``Content-Type``, ``Content-Length``, and ``Allow`` / ``Connection: close`` when they apply."""
        headers = [("Content-Type", self.content_type), ("Content-Length", str(len(self.body)))]
        if self.allow:
            headers.append(("Allow", self.allow))
        if self.close:
            headers.append(("Connection", "close"))
        return headers


def error(status: int, message: str, *, allow: str | None = None, close: bool = False) -> Answer:
    """A JSON ``{"error": message}`` answer."""
    return Answer(status, json.dumps({"error": message}).encode(), allow=allow, close=close)


#: A bare JSON 500, for a fault the service did not catch itself.
FAULT: Final = error(500, FAULT_MESSAGE)


@dataclass(frozen=True, slots=True)
class BodyWanted:
    """The route needs the request body: at most ``limit`` bytes, then :meth:`finish` answers."""

    limit: int
    too_large: Callable[[str], PayloadError]
    finish: Callable[[bytes], Answer]

    def refuse(self, size: str, *, close: bool = False) -> Answer:
        """The 413 for a body of ``size`` (``"7340032 bytes (Content-Length)"``, ``"over ... bytes"``)."""
        refused = self.too_large(size)
        return error(refused.status, refused.message, close=close)


def declared_length(raw: str | None) -> int | None:
    """``Content-Length`` as a number (``None`` when absent); a :class:`PayloadError` 400 when it is not one.

    The HTTP parser refuses a malformed one before the service sees it; this holds for any server.
    """
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()):  # str.isdigit() alone takes '²'
        raise PayloadError(400, f"invalid Content-Length {raw[:40]!r}: send the body's size in bytes")
    return int(raw)


def body_cut_short(received: int, declared: int) -> Answer:
    """The 400 for a body that ended (the client closed its side) before its ``Content-Length``; it closes."""
    return error(400, f"the body ended after {received} of {declared} bytes (Content-Length)", close=True)


def predictions_body(model: LoadedModel, rows: list[list[float]]) -> bytes:
    """Score ``rows`` and render the ``/invocations`` answer."""
    probabilities = model.score(np.array(rows, dtype=np.float64))
    threshold = model.threshold
    items = ",".join(f'{{"probability":{p!r},"label":{1 if p >= threshold else 0}}}' for p in probabilities.tolist())
    return f'{{"predictions":[{items}],"model_version":{json.dumps(model.version)}}}'.encode()


class Router(Protocol):
    """What the HTTP adapters serve: the answer to a request's method, path and headers, or the body it needs."""

    def route(self, method: str, path: str, *, content_type: str | None, accept: str | None) -> Answer | BodyWanted:
        """See :meth:`Service.route`."""
        ...


class Service:
    """What the server answers for ``model``.

    ``fault_rate`` > 0 injects 500s (``inference.fault_injection``); ``batch`` switches batch mode on
    (``inference.batch``); ``workers`` is the server's process count, reported by ``/execution-parameters``.
    """

    def __init__(
        self, model: LoadedModel, *, fault_rate: float = 0.0, batch: BatchSettings | None = None, workers: int = 1
    ) -> None:
        self.model = model
        self._faults = FaultInjector(fault_rate) if fault_rate > 0 else None
        self._batch = batch or BatchSettings()
        self._ping = Answer(200, json.dumps({"status": "ok", "model_version": model.version}).encode())
        self._head_ping = Answer(200, b"")
        self._parameters = Answer(200, json.dumps(self._batch.execution_parameters(workers)).encode())

    def route(self, method: str, path: str, *, content_type: str | None, accept: str | None) -> Answer | BodyWanted:
        """The answer a request gets from its method, path and headers alone, or the body it needs."""
        allowed = _ROUTES.get(path)
        if allowed is None:
            return error(404, f"no route {path[:100]!r}; use GET /ping or POST /invocations")
        if method not in allowed:
            return error(
                405, f"{method} is not allowed on {path}; use {' or '.join(allowed)}", allow=", ".join(allowed)
            )
        if path == "/ping":
            return self._head_ping if method == "HEAD" else self._ping
        if path == "/execution-parameters":
            return self._parameters
        if self._batch.enabled and wants_csv_lines(accept):
            return self._csv_lines(content_type)
        return BodyWanted(MAX_PAYLOAD_BYTES, payload_too_large, lambda body: self._predictions_for(body, content_type))

    def _predictions_for(self, body: bytes, content_type: str | None = None) -> Answer:
        try:
            rows = parse_payload(body, content_type)
        except PayloadError as err:
            return error(err.status, err.message)
        return self._scored(lambda: predictions_body(self.model, rows), JSON_TYPE)

    def _csv_lines(self, content_type: str | None) -> Answer | BodyWanted:
        """Batch mode, CSV in and out: one answer line per input line (``inference.batch``)."""
        kind = media_type(content_type)
        if kind != CSV_CONTENT_TYPE:
            return error(
                415,
                f"unsupported content type {kind or 'none'!r} for Accept: text/csv; in batch mode send text/csv rows",
            )

        def finish(body: bytes) -> Answer:
            if not body.strip():
                return error(400, "the body is empty; send at least one row of features")
            return self._scored(lambda: answer_csv_lines(self.model, body), CSV_TYPE)

        return BodyWanted(self._batch.max_payload_bytes, self._batch.too_large, finish)

    def _scored(self, score: Callable[[], bytes], content_type: str) -> Answer:
        injected = self._faults.next_failure() if self._faults is not None else None
        if injected is not None:
            return error(500, injected)
        try:
            answer = score()
        except Exception:
            log.exception("scoring failed")
            return error(500, "internal error while scoring; the request was valid")
        return Answer(200, answer, content_type=content_type)


def configure_logging() -> None:
    """Log lines to stderr, which SageMaker ships to CloudWatch."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
