"""A small threaded HTTP server on 127.0.0.1 for offline mode's local front doors.

Whatever a client sends, it gets a JSON answer: ``http.server`` would answer a method without a
``do_<METHOD>`` and a malformed request with an HTML page, and drop the connection when a handler
raised (a ``Content-Length`` that is not a number did that). Each front door says how it answers
a method it does not serve (:meth:`QuietHandler.unsupported_method`) and a body it cannot read
(:class:`BodyError`).
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

#: An oversized body up to this size is read and thrown away before the refusal is sent, so a
#: client that sends the whole body before it reads (most do) gets the answer, not a broken pipe.
DRAIN_LIMIT_BYTES: Final = 64 * 1024 * 1024
_CHUNK: Final = 64 * 1024


class BodyError(Exception):
    """A request body that cannot be read as sent; ``status`` 400 (framing) or 413 (over the limit)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def __getattr__(self, name: str) -> Any:
        # ``handle_one_request`` looks up ``do_<METHOD>``; every method it lacks goes to one place.
        if name.startswith("do_"):
            return self.unsupported_method
        raise AttributeError(name)

    def unsupported_method(self) -> None:
        """A method this front door does not serve; subclasses answer as their AWS service does."""
        self._answer_json(405, {"error": f"method {self.command} is not supported"})

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A request ``http.server`` could not parse (request line, headers): JSON, then close."""
        self.close_connection = True
        self._answer_json(code, {"error": message or HTTPStatus(code).phrase}, {"Connection": "close"})

    def _body(self, limit: int | None = None) -> bytes:
        """The request body, by ``Content-Length`` or chunked; :class:`BodyError` when it cannot be read."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._chunked_body(limit)
        values = [v.strip() for v in self.headers.get_all("Content-Length") or []]
        if not values:
            return b""
        if len(set(values)) != 1 or not values[0].isdigit() or not values[0].isascii():
            self.close_connection = True  # the body's end is unknown: the connection cannot be reused
            shown = ", ".join(values)[:60]
            raise BodyError(400, f"invalid Content-Length header {shown!r}: send it once, as the body's size in bytes")
        length = int(values[0])
        if limit is not None and length > limit:
            if length <= DRAIN_LIMIT_BYTES:
                self._discard(length)
            else:
                self.close_connection = True
            raise BodyError(413, f"the body is {length} bytes; the limit is {limit} bytes")
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            raise BodyError(400, f"the body ended after {len(body)} of {length} bytes (Content-Length)")
        return body

    def _chunked_body(self, limit: int | None) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                chunk_size = int(line, 16)
            except ValueError:
                self.close_connection = True
                raise BodyError(400, f"invalid chunk size {line[:20]!r} in a chunked body") from None
            if chunk_size == 0:
                while self.rfile.readline(1024).strip():  # trailers, up to the blank line
                    pass
                return b"".join(parts)
            data = self.rfile.read(chunk_size)
            self.rfile.readline(8)  # the CRLF after the chunk
            size += len(data)
            if limit is not None and size > limit:
                self.close_connection = True
                raise BodyError(413, f"the body is over {limit} bytes")
            parts.append(data)

    def _discard(self, length: int) -> None:
        while length > 0:
            data = self.rfile.read(min(_CHUNK, length))
            if not data:
                return
            length -= len(data)

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _answer_json(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        self._answer(status, json.dumps(document).encode(), {"Content-Type": "application/json", **(headers or {})})


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 running in a daemon thread.

    ``base_path`` is part of :attr:`url`, as a REST API's stage is part of its invoke URL.
    """

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0, *, base_path: str = "") -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._base_path = base_path
        # A short poll: stop() waits for serve_forever to notice, up to one poll interval.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self._base_path}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
