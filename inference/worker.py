"""One worker process of ``inference.serve``: its own model session, the ASGI app, uvicorn on its own listener.

Each worker loads the model itself rather than inheriting the master's onnxruntime session across
``fork`` (which onnxruntime does not support); the master starts workers with ``spawn``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Final

import uvicorn

from inference.app import Service, configure_logging
from inference.asgi import ASGIApp, ServiceApp
from inference.http_protocol import HEAD_SECONDS, JsonHttpToolsProtocol
from inference.model import ModelLoadError
from inference.settings import ServerSettings, served_model

#: Pending connections the kernel queues for each worker's listener.
BACKLOG: Final = 2048


def uvicorn_config(app: ASGIApp, settings: ServerSettings) -> uvicorn.Config:
    """Uvicorn as this server runs it: httptools answering bad HTTP in JSON, uvloop, no access log."""
    return uvicorn.Config(
        app,
        http=JsonHttpToolsProtocol,
        loop="uvloop",
        ws="none",
        lifespan="off",
        interface="asgi3",
        # Idle keep-alive connections are closed after 75 s: longer than the idle timeout of
        # SageMaker's front end, which reuses connections.
        timeout_keep_alive=int(HEAD_SECONDS),
        timeout_graceful_shutdown=settings.timeout,
        backlog=BACKLOG,
        log_config=None,
        log_level="warning",
        access_log=False,
        server_header=False,
        # Nothing reads the client's address: no X-Forwarded-* rewriting (a middleware call per request).
        proxy_headers=False,
    )


class AnnouncingServer(uvicorn.Server):
    """Uvicorn's server, telling the master (``ready``, its pid) once it accepts connections."""

    def __init__(self, config: uvicorn.Config, ready: Connection | None) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._ready is not None:
            with contextlib.suppress(OSError):
                self._ready.send_bytes(str(os.getpid()).encode())


def build_app(settings: ServerSettings, executor: ThreadPoolExecutor | None = None) -> ASGIApp:
    """The worker's app, with its own model session; a model that vanished since the master checked exits 2."""
    try:
        model = served_model(settings)
    except ModelLoadError as err:
        print(f"inference server worker cannot start: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    service = Service(model, fault_rate=settings.fault_5xx_rate, batch=settings.batch, workers=settings.workers)
    return ServiceApp(service, executor)


def run_worker(settings: ServerSettings, listener: socket.socket, ready: Connection | None = None) -> None:
    """Serve on ``listener`` until SIGTERM; the master gives each worker its own ``SO_REUSEPORT`` listener."""
    configure_logging()
    with ThreadPoolExecutor(settings.threads, thread_name_prefix="score") as executor:
        app = build_app(settings, executor)
        AnnouncingServer(uvicorn_config(app, settings), ready).run(sockets=[listener])
