"""The ASGI app in-process: routing, answers, reading bodies (the server's settings: ``test_serve``)."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from inference.asgi import make_app
from inference.model import load_model
from tests.unit.inference.asgi_call import call

__all__ = ["ROW", "call"]

REPO = Path(__file__).resolve().parents[3]
ROW = b"125.5,14,3.2,0,2,400,1,0.02\n"


@pytest.fixture(scope="module")
def app(model_dir: Path) -> Any:
    return make_app(load_model(model_dir))


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


def test_a_body_over_the_limit_is_refused_from_its_content_length_unread(app: Any) -> None:
    # Given a request declaring 7 MB, whose body must not be read (uvicorn throws away what arrives)
    # When it is handled
    status, headers, body = call(
        app, "POST", "/invocations", chunks=[b"<stall>"], CONTENT_TYPE="text/csv", CONTENT_LENGTH=str(7 << 20)
    )
    # Then the answer is a 413 that names the size, the limit and where to go instead, and keeps the connection
    assert status == 413
    assert "7340032 bytes" in body["error"]
    assert "6 MB" in body["error"]
    assert "batch transform" in body["error"]
    assert "Connection" not in headers


def test_a_claimed_size_past_the_drain_limit_closes_the_connection(app: Any) -> None:
    status, headers, body = call(
        app, "POST", "/invocations", chunks=[b"<stall>"], CONTENT_TYPE="text/csv", CONTENT_LENGTH=str(1 << 40)
    )
    assert status == 413
    assert f"{1 << 40} bytes" in body["error"]
    assert headers["Connection"] == "close"


def test_a_client_waiting_for_100_continue_is_refused_without_reading(app: Any) -> None:
    # Given an oversized request from a client that sends its body only after 100 Continue (asked for by reading)
    # When it is handled
    status, headers, body = call(
        app,
        "POST",
        "/invocations",
        chunks=[b"<stall>"],
        CONTENT_TYPE="text/csv",
        CONTENT_LENGTH=str(7 << 20),
        HTTP_EXPECT="100-continue",
    )
    # Then the 413 comes at once and asks to close the connection, whose body stays unsent
    assert status == 413
    assert headers["Connection"] == "close"
    assert "7340032 bytes" in body["error"]


def test_a_chunked_body_is_refused_once_past_the_limit(app: Any) -> None:
    # Given a chunked body (no Content-Length) of 1 MB parts, then a client that would stall
    part = b"1" * (1 << 20)
    # When it is handled
    status, _, body = call(app, "POST", "/invocations", chunks=[part] * 7 + [b"<stall>"], CONTENT_TYPE="text/csv")
    # Then it is refused as soon as it passed 6 MB, without waiting for the rest
    assert status == 413
    assert f"over {6 << 20} bytes" in body["error"]


def test_a_large_body_is_scored_off_the_event_loop_and_a_small_one_on_it(model_dir: Path) -> None:
    # Given the app with a thread pool that records what it runs
    class Recording(ThreadPoolExecutor):
        runs = 0

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            Recording.runs += 1
            return super().submit(fn, *args, **kwargs)

    with Recording(1) as pool:
        app = make_app(load_model(model_dir), executor=pool)
        # When one row, then 3,000 rows (over 64 KB) are posted
        small = call(app, "POST", "/invocations", ROW, CONTENT_TYPE="text/csv")
        assert Recording.runs == 0
        large = call(app, "POST", "/invocations", ROW * 3_000, CONTENT_TYPE="text/csv")
    # Then both are scored, and only the large one went to the pool
    assert small[0] == large[0] == 200
    assert len(large[2]["predictions"]) == 3_000
    assert Recording.runs == 1


def test_a_body_that_ends_before_its_content_length_is_a_400(app: Any) -> None:
    # Given a client that declared 28 bytes, sent 6 and closed its side (the protocol ends the body early)
    status, headers, body = call(
        app, "POST", "/invocations", chunks=[b"125.5,"], CONTENT_TYPE="text/csv", CONTENT_LENGTH="28"
    )
    assert status == 400
    assert body["error"] == "the body ended after 6 of 28 bytes (Content-Length)"
    assert headers["Connection"] == "close"


def test_a_client_that_leaves_mid_body_gets_no_answer(app: Any) -> None:
    status, _, _ = call(
        app, "POST", "/invocations", chunks=[b"125.5,", b"<gone>"], CONTENT_TYPE="text/csv", CONTENT_LENGTH="28"
    )
    assert status == 0


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
