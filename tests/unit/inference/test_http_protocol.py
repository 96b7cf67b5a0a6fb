"""The HTTP protocol's time and size bounds on a request's head and body, with uvicorn serving in a thread.

The bounds are 75 s in the image; here they are shortened so that a stalled client is seen at once.
"""

import json
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from inference import http_protocol
from inference.asgi import make_app
from inference.model import load_model
from tests.raw_http import read_answer
from tests.unit.inference.threaded_server import serving

SHORT = 0.3


@pytest.fixture
def port(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setattr(http_protocol, "HEAD_SECONDS", SHORT)
    monkeypatch.setattr(http_protocol, "BODY_SECONDS", SHORT)
    monkeypatch.setattr(http_protocol, "LINGER_SECONDS", SHORT)
    with serving(make_app(load_model(model_dir)), model_dir) as bound:
        yield bound


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def _stall(port: int, *parts: bytes) -> tuple[int, dict[str, str], bytes, float, bool]:
    """Send ``parts``, then nothing: the answer, the seconds it took to come, and whether the server then closed."""
    with connect(port) as sock:
        for part in parts:
            sock.sendall(part)
        started = time.monotonic()
        status, headers, body = read_answer(sock)
        waited = time.monotonic() - started
        closed = sock.recv(1) == b""
    return status, headers, body, waited, closed


def test_a_head_that_stops_arriving_is_a_408_in_json(port: int) -> None:
    # Given a client that sends half a request line and then nothing; when the head bound passes
    status, headers, body, waited, closed = _stall(port, b"POST /invocations HT")
    # Then the server answers 408 saying what happened, and closes the connection
    assert status == 408
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == f"the request's line and headers did not arrive within {SHORT:g} s"
    assert closed
    assert SHORT * 0.8 <= waited < 5


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(port: int) -> None:
    with connect(port) as sock:
        assert sock.recv(1) == b""


def test_a_head_that_trickles_within_the_bound_is_served(port: int) -> None:
    with connect(port) as sock:
        for part in (b"GET /pi", b"ng HTTP/1.1\r\nHo", b"st: x\r\n\r\n"):
            sock.sendall(part)
            time.sleep(SHORT / 10)
        status, _, body = read_answer(sock)
    assert status == 200
    assert json.loads(body)["status"] == "ok"


def test_a_header_line_that_never_ends_is_refused_past_64_kb(port: int) -> None:
    # Given a client sending one header value in 1 KB parts, never ending the line
    with connect(port) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nX-Padding: ")
        for _ in range(80):
            try:
                sock.sendall(b"a" * 1024)
            except OSError:
                break
            time.sleep(0.001)
        # Then it gets a 431 once the head passed 64 KB, before the head bound
        status, _, body = read_answer(sock)
    assert status == 431
    assert "over 65536 bytes" in json.loads(body)["error"]


def test_the_answer_after_a_refusal_closes_and_later_requests_are_not_read(port: int) -> None:
    # Given a bad Content-Length followed by a valid request on the same connection
    with connect(port) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        status, headers, _ = read_answer(sock)
        rest = sock.recv(65536)
    # Then only the 400 comes back, and then the end of the connection
    assert status == 400
    assert headers["connection"] == "close"
    assert rest == b""


def test_a_body_that_stops_arriving_is_a_408_in_json_that_closes(port: int) -> None:
    # Given a client that sends its head and 6 of the 28 bytes its Content-Length promises, then nothing;
    # when the body bound passes
    head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 28\r\n\r\n"
    status, headers, body, waited, closed = _stall(port, head, b"125.5,")
    # Then the server answers 408 saying what happened (the app, still waiting, answers nothing more), and closes
    assert status == 408
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert json.loads(body)["error"] == f"the request's body did not all arrive within {SHORT:g} s"
    assert closed
    assert SHORT * 0.8 <= waited < 5


def test_a_body_that_trickles_within_the_bound_is_scored(port: int) -> None:
    row = b"125.5,13,8.2,0,3,400,1,0.02\n"
    with connect(port) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n")
        sock.sendall(b"Content-Length: %d\r\n\r\n" % len(row))
        for start in range(0, len(row), 8):
            time.sleep(SHORT / 10)
            sock.sendall(row[start : start + 8])
        status, _, body = read_answer(sock)
    assert status == 200
    assert len(json.loads(body)["predictions"]) == 1


def _ended_while_sending(sock: socket.socket, seconds: float) -> bool:
    """Send 1 KB every 10 ms until the server ends the connection (``True``) or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sock.sendall(b"1" * 1024)
            readable, _, _ = select.select([sock], [], [], 0.01)
            if readable and sock.recv(1) == b"":
                return True
        except OSError:
            return True
    return False


def test_a_refused_body_still_arriving_past_the_bound_ends_the_connection(port: int) -> None:
    # Given a Content-Length over the 6 MB limit, answered 413 at once, and a client still sending the body
    head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 7000000\r\n\r\n"
    with connect(port) as sock:
        sock.sendall(head)
        status, _, _ = read_answer(sock)
        ended = _ended_while_sending(sock, 5)
    # Then the 413 came first, and the server ended the connection once the body bound passed
    assert status == 413
    assert ended


def test_a_head_request_is_answered_on_a_kept_connection(port: int) -> None:
    # The answer to HEAD has no body: a head held back to go out with its body would never be written.
    with connect(port) as sock:
        sock.sendall(b"HEAD /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = read_answer(sock)
        assert (status, headers["content-length"]) == (200, "0")
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = read_answer(sock)
    assert status == 200
    assert json.loads(body)["status"] == "ok"
