"""Each answer leaves in one write: the protocol with uvicorn's own request cycle, over a recording transport."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from uvicorn.server import ServerState

from inference.asgi import make_app
from inference.http_protocol import HeadWithBody, JsonHttpToolsProtocol
from inference.model import load_model
from inference.settings import ServerSettings
from inference.worker import uvicorn_config

ROW = b"125.5,13,8.2,0,3,400,1,0.02\n"


class RecordingTransport(asyncio.Transport):
    """What the protocol writes, one entry per ``write``."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def _exchange(model_dir: Path, *requests: bytes) -> list[bytes]:
    """Feed ``requests`` (one read each) to a connection; the writes the protocol made."""

    async def run() -> list[bytes]:
        settings = ServerSettings.from_env({"SM_MODEL_DIR": str(model_dir)})
        config = uvicorn_config(make_app(load_model(model_dir)), settings)
        protocol = JsonHttpToolsProtocol(config, ServerState(), {}, asyncio.get_running_loop())
        transport = RecordingTransport()
        protocol.connection_made(transport)
        for request in requests:
            protocol.data_received(request)
            for _ in range(20):  # let the app's task run to its answer
                await asyncio.sleep(0)
        protocol.connection_lost(None)
        return transport.writes

    return asyncio.run(run())


def test_an_answer_is_one_write_of_its_head_and_body(model_dir: Path) -> None:
    # Given two keep-alive requests, a prediction and a ping
    prediction = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n%s" % (
        len(ROW),
        ROW,
    )
    writes = _exchange(model_dir, prediction, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    # Then each answer is one write holding its whole head and its whole body
    assert len(writes) == 2
    for write, key in zip(writes, ("predictions", "status"), strict=True):
        head, body = write.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert f"content-length: {len(body)}".encode() in head.lower()
        assert key in json.loads(body)


def test_a_100_continue_is_written_at_once_and_the_answer_after_it_whole(model_dir: Path) -> None:
    head = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nExpect: 100-continue\r\n"
    writes = _exchange(model_dir, head + b"Content-Length: %d\r\n\r\n" % len(ROW), ROW)
    assert writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert len(writes) == 2
    assert writes[1].startswith(b"HTTP/1.1 200 OK")
    assert writes[1].endswith(b"}")


def test_a_head_without_a_body_is_dropped_when_the_cycle_closes() -> None:
    class Cycle:
        response_started = True

    transport = RecordingTransport()
    held = HeadWithBody(transport, Cycle())
    held.write(b"HTTP/1.1 200 OK\r\n\r\n")
    held.close()
    assert transport.writes == []
    assert held.is_closing()
