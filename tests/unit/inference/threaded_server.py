"""An app served by uvicorn in a thread, configured as a worker of the image configures it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from inference.settings import ServerSettings
from inference.worker import uvicorn_config


@contextmanager
def serving(app: Any, model_dir: Path) -> Iterator[int]:
    """Serve ``app`` on a free port of 127.0.0.1 (yielded) until the block ends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    settings = ServerSettings.from_env({"SM_MODEL_DIR": str(model_dir)})
    server = uvicorn.Server(uvicorn_config(app, settings))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
