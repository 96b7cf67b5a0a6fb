"""The WSGI app in-process: routing, answers, reading and draining bodies (the server's settings: ``test_serve``)."""

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from inference import app as app_module
from inference.app import make_app
from inference.model import load_model

REPO = Path(__file__).resolve().parents[3]
ROW = b"125.5,14,3.2,0,2,400,1,0.02\n"


@pytest.fixture(scope="module")
def app(model_dir: Path) -> Any:
    return make_app(load_model(model_dir))


def call(
    app: Any, method: str, path: str, body: bytes = b"", stream: Any = None, **headers: str
) -> tuple[int, dict[str, str], Any]:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "CONTENT_LENGTH": str(len(body)) if body else "",
        "wsgi.input": stream if stream is not None else io.BytesIO(body),
        **headers,
    }
    seen: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = int(status.split()[0]), dict(response_headers)

    raw = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], json.loads(raw) if raw else None


def test_ping_reports_the_model_version(app: Any) -> None:
    status, headers, body = call(app, "GET", "/ping")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body == {"status": "ok", "model_version": "unit-model"}


def test_invocations_answers_probability_and_label_per_row(app: Any) -> None:
    status, _, body = call(app, "POST", "/invocations", ROW * 3, CONTENT_TYPE="text/csv")
    assert status == 200
    assert len(body["predictions"]) == 3
    assert body["model_version"] == "unit-model"
    first = body["predictions"][0]
    assert first["label"] == int(first["probability"] >= 0.2)


def test_a_body_over_the_limit_is_drained_in_small_reads_then_refused(app: Any) -> None:
    # Given a 7 MB request body that records how it is read
    class Recording(io.BytesIO):
        reads: list[int] = []

        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            self.reads.append(len(data))
            return data

    stream = Recording(b"1" * (7 << 20))
    # When it is handled
    status, _, body = call(
        app, "POST", "/invocations", stream=stream, CONTENT_TYPE="text/csv", CONTENT_LENGTH=str(7 << 20)
    )
    # Then all of it was read (so the client can finish sending and read the answer), 64 KB at a time,
    # and the answer is a 413 that names the size, the limit and where to go instead
    assert sum(stream.reads) == 7 << 20
    assert max(stream.reads) <= 64 * 1024
    assert status == 413
    assert "7340032 bytes" in body["error"]
    assert "6 MB" in body["error"]
    assert "batch transform" in body["error"]


def test_a_claimed_size_past_the_drain_limit_is_refused_unread(app: Any) -> None:
    # Given a request claiming a body far past anything worth draining, whose stream must not be touched
    class Untouchable(io.BytesIO):
        def read(self, *_: Any) -> bytes:
            raise AssertionError("the body was read")

    # When it is handled
    status, _, body = call(
        app, "POST", "/invocations", stream=Untouchable(), CONTENT_TYPE="text/csv", CONTENT_LENGTH=str(1 << 40)
    )
    # Then it is refused from the header alone
    assert status == 413
    assert f"{1 << 40} bytes" in body["error"]


def test_a_client_waiting_for_100_continue_is_refused_without_reading(app: Any) -> None:
    # Given an oversized request from a client that sends its body only after 100 Continue
    class Untouchable(io.BytesIO):
        def read(self, *_: Any) -> bytes:
            raise AssertionError("the body was read, which would ask the client to send it")

    # When it is handled
    status, headers, body = call(
        app,
        "POST",
        "/invocations",
        stream=Untouchable(),
        CONTENT_TYPE="text/csv",
        CONTENT_LENGTH=str(7 << 20),
        HTTP_EXPECT="100-continue",
    )
    # Then the 413 comes at once and asks to close the connection, whose body stays unsent
    assert status == 413
    assert headers["Connection"] == "close"
    assert "7340032 bytes" in body["error"]


def test_the_drain_stops_at_its_deadline(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a drain deadline of 50 ms and a client that sends 64 KB every 20 ms (7 MB would take over 2 s)
    monkeypatch.setattr(app_module, "DRAIN_SECONDS", 0.05)

    class Slow(io.RawIOBase):
        reads = 0

        def read(self, size: int = -1) -> bytes:
            Slow.reads += 1
            time.sleep(0.02)
            return b"1" * size

    # When a 7 MB request is handled
    status, headers, _ = call(
        app, "POST", "/invocations", stream=Slow(), CONTENT_TYPE="text/csv", CONTENT_LENGTH=str(7 << 20)
    )
    # Then it is refused once the deadline passed, well before the whole body, and the connection is to be closed
    assert 1 <= Slow.reads < (7 << 20) // (64 * 1024)
    assert status == 413
    assert headers["Connection"] == "close"


def test_a_drained_body_leaves_the_connection_open(app: Any) -> None:
    status, headers, _ = call(
        app,
        "POST",
        "/invocations",
        stream=io.BytesIO(b"1" * (7 << 20)),
        CONTENT_TYPE="text/csv",
        CONTENT_LENGTH=str(7 << 20),
    )
    assert status == 413
    assert "Connection" not in headers


def test_an_invalid_content_length_is_a_400(app: Any) -> None:
    status, _, body = call(app, "POST", "/invocations", ROW, CONTENT_TYPE="text/csv", CONTENT_LENGTH="ten")
    assert status == 400
    assert "Content-Length" in body["error"]


def test_head_ping_has_no_body(app: Any) -> None:
    status, _, body = call(app, "HEAD", "/ping")
    assert (status, body) == (200, None)


def test_wrong_method_names_the_allowed_ones(app: Any) -> None:
    status, headers, body = call(app, "DELETE", "/ping")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert "use GET or HEAD" in body["error"]
