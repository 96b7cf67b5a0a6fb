"""Our service as WSGI (``bench.serving_wsgi``), the app the benchmark runs under gunicorn and granian."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest

from bench.serving_wsgi import make_wsgi_app
from inference.app import Service
from inference.model import LoadedModel
from training.feature_schema import MAX_PAYLOAD_BYTES

ROW = b"125.5,14,3.2,0,2,400,1,0.02\n"


def _model(score: Any = None) -> LoadedModel:
    return LoadedModel(
        score=score or (lambda rows: np.full(len(rows), 0.3)), threshold=0.2, version="unit", runtime="stub"
    )


class _Stream(io.BytesIO):
    """``wsgi.input`` that counts its reads."""

    reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        return super().read(size)


def call(
    method: str, path: str, body: bytes = b"", *, model: LoadedModel | None = None, **environ: str
) -> tuple[str, dict[str, str], bytes, _Stream]:
    """One request through the WSGI app: status line, headers, body, and the input stream."""
    app = make_wsgi_app(Service(model or _model()))
    stream = _Stream(body)
    env: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": stream} | environ
    started: list[Any] = []
    answer = b"".join(app(env, lambda status, headers: started.extend([status, dict(headers)])))
    return started[0], started[1], answer, stream


def test_invocations_reads_the_declared_body_and_scores_it() -> None:
    status, headers, body, _ = call(
        "POST", "/invocations", ROW * 2, CONTENT_TYPE="text/csv", CONTENT_LENGTH=str(len(ROW * 2))
    )
    assert status == "200 OK"
    assert headers == {"Content-Type": "application/json", "Content-Length": str(len(body))}
    assert json.loads(body) == {"predictions": [{"probability": 0.3, "label": 1}] * 2, "model_version": "unit"}


def test_ping_and_head_ping() -> None:
    assert json.loads(call("GET", "/ping")[2]) == {"status": "ok", "model_version": "unit"}
    status, headers, body, _ = call("HEAD", "/ping")
    assert (status, headers["Content-Length"], body) == ("200 OK", "0", b"")


def test_unknown_route_and_method_are_json() -> None:
    status, _, body, _ = call("GET", "/nope")
    assert status == "404 Not Found"
    assert "no route" in json.loads(body)["error"]
    status, headers, _, _ = call("GET", "/invocations")
    assert status == "405 Method Not Allowed"
    assert headers["Allow"] == "POST"


def test_a_declared_size_over_the_bound_is_refused_unread_and_closes() -> None:
    size = MAX_PAYLOAD_BYTES + 1
    status, headers, body, stream = call("POST", "/invocations", ROW, CONTENT_TYPE="text/csv", CONTENT_LENGTH=str(size))
    assert status == "413 Content Too Large"
    assert f"{size} bytes (Content-Length)" in json.loads(body)["error"]
    assert headers["Connection"] == "close"
    assert stream.reads == 0


def test_a_chunked_body_over_the_bound_is_refused() -> None:
    status, _, body, _ = call(
        "POST", "/invocations", ROW * (MAX_PAYLOAD_BYTES // len(ROW) + 1), HTTP_TRANSFER_ENCODING="chunked"
    )
    assert status == "413 Content Too Large"
    assert f"over {MAX_PAYLOAD_BYTES} bytes" in json.loads(body)["error"]


def test_a_chunked_body_is_read_without_a_length() -> None:
    status, _, _, _ = call("POST", "/invocations", ROW, CONTENT_TYPE="text/csv", HTTP_TRANSFER_ENCODING="chunked")
    assert status == "200 OK"


@pytest.mark.parametrize(
    ("length", "expected"),
    [("abc", "invalid Content-Length 'abc'"), ("999", "the body ended after 28 of 999 bytes")],
)
def test_a_bad_or_unmet_content_length_is_a_400_that_closes(length: str, expected: str) -> None:
    status, headers, body, _ = call("POST", "/invocations", ROW, CONTENT_TYPE="text/csv", CONTENT_LENGTH=length)
    assert status == "400 Bad Request"
    assert expected in json.loads(body)["error"]
    assert headers["Connection"] == "close"


def test_an_unparseable_body_is_the_services_400() -> None:
    status, _, body, _ = call("POST", "/invocations", b"x\n", CONTENT_TYPE="text/csv", CONTENT_LENGTH="2")
    assert status == "400 Bad Request"
    assert json.loads(body)["error"]


def test_an_escaping_exception_is_a_bare_json_500(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(Service, "route", broken)
    status, _, body, _ = call("GET", "/ping")
    assert status == "500 Internal Server Error"
    assert json.loads(body) == {"error": "internal error; the request was not scored"}
