"""Serve a WSGI app under granian as ``inference/serve.py`` configured it before uvicorn (bench only).

``python -m bench.serving_granian ours|constant --port P --workers N``: ``ours`` is our service as
WSGI (``bench.serving_wsgi.ours_from_env``), built in each worker with the worker's own model
session, as the old server built it; ``constant`` is ``bench.serving_apps.constant_wsgi``.
The settings are the old server's (``git show 3ea8050:inference/serve.py``), through granian's
Python API as it used them (the command line caps the header-read timeout at 60 s): the WSGI
interface, HTTP/1 only with keep-alive, a 75 s header-read timeout, no websockets, 4 blocking
threads per worker, backlog 2048, no access log, failed workers respawned, a 60 s kill timeout.
Granian's workers each bind their own ``SO_REUSEPORT`` listener on Linux.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.serving_wsgi import WSGIApp

#: The old server's settings (``inference/serve.py`` before uvicorn).
BLOCKING_THREADS = 4
KEEP_ALIVE_SECONDS = 75
BACKLOG = 2048
KILL_TIMEOUT_SECONDS = 60


def worker_app(kind: str) -> WSGIApp:
    """The app one worker serves, built in that worker."""
    if kind == "constant":
        from bench.serving_apps import constant_wsgi

        return constant_wsgi
    from bench.serving_wsgi import ours_from_env

    return ours_from_env()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m bench.serving_granian", description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=("ours", "constant"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args(argv)
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    server = Granian(
        "bench.serving_granian:worker_app",  # what the workers run; the loader below builds it
        address="127.0.0.1",
        port=args.port,
        interface=Interfaces.WSGI,
        workers=args.workers,
        blocking_threads=BLOCKING_THREADS,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=KEEP_ALIVE_SECONDS * 1000, keep_alive=True),
        websockets=False,
        backlog=BACKLOG,
        log_level=LogLevels.warning,
        log_access=False,
        respawn_failed_workers=True,
        workers_kill_timeout=KILL_TIMEOUT_SECONDS,
    )
    server.serve(target_loader=partial(worker_app, args.app), wrap_loader=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
