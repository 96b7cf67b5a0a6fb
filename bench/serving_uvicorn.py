"""Serve the constant ASGI app with ``python -m inference.serve``'s HTTP layer (bench only): ``const-uvicorn``.

``python -m bench.serving_uvicorn --port P --workers N`` runs ``bench.serving_apps.constant_asgi`` (a
:class:`inference.asgi.ServiceApp`, so the protocol answers its common requests itself, as it does the
service's) exactly as ``inference.serve`` runs the service: the master binds one ``SO_REUSEPORT`` listener per
worker and supervises spawned workers (``inference.supervisor``), and each worker runs uvicorn with
``inference.worker.uvicorn_config`` (``inference.http_protocol.JsonHttpToolsProtocol``, uvloop, no
lifespan, no access log). Uvicorn's own ``--workers`` mode would share one listening socket between
the workers instead, which can leave a worker idle under keep-alive load: then it would not be this
layer's ceiling.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence
from multiprocessing.connection import Connection

from inference.settings import THREADS, ServerSettings


def constant_worker(settings: ServerSettings, listener: socket.socket, ready: Connection) -> None:
    """One worker: uvicorn as ``inference.worker`` configures it, serving the constant app on ``listener``."""
    from bench.serving_apps import constant_asgi
    from inference.worker import AnnouncingServer, uvicorn_config

    AnnouncingServer(uvicorn_config(constant_asgi, settings), ready).run(sockets=[listener])


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m bench.serving_uvicorn", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args(argv)
    from inference.supervisor import Supervisor, bind_listeners

    settings = ServerSettings(
        model_dir="", host="127.0.0.1", port=args.port, workers=args.workers, threads=THREADS, timeout=60
    )
    listeners = bind_listeners(settings.host, settings.port, settings.workers)
    banner = f"constant ASGI app listening on http://{settings.host}:{settings.port} ({settings.workers} workers)"
    return Supervisor(settings, listeners, constant_worker, banner).run()


if __name__ == "__main__":
    sys.exit(main())
