"""Serve a WSGI app under gunicorn as ``inference/serve.py`` configured it before granian (bench only).

``python -m bench.serving_gunicorn ours|constant --port P --workers N``: ``ours`` is our service
as WSGI (``bench.serving_wsgi.ours_from_env``: ``Service(load_model(SM_MODEL_DIR))``), loaded in
the master before the workers fork, as the old server did; ``constant`` is
``bench.serving_apps.constant_wsgi``. The settings are the old server's
(``git show 664894b:inference/serve.py``): plain ``gthread`` workers with 4 threads, keep-alive 75 s,
backlog 2048, timeout 60 s, graceful timeout 20 s, no access log. The benchmark compares our app
under this HTTP layer with ``python -m inference.serve``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.serving_wsgi import WSGIApp


def gunicorn_options(port: int, workers: int) -> dict[str, Any]:
    """The old server's gunicorn settings, bound to 127.0.0.1:``port``."""
    return {
        "bind": f"127.0.0.1:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 75,
        "backlog": 2048,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": "bench-gunicorn",
    }


def _app(kind: str) -> WSGIApp:
    if kind == "constant":
        from bench.serving_apps import constant_wsgi

        return constant_wsgi
    from bench.serving_wsgi import ours_from_env

    return ours_from_env()


def main(argv: Sequence[str] | None = None) -> int:
    """Load the app, then serve it until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m bench.serving_gunicorn", description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=("ours", "constant"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args(argv)
    app = _app(args.app)
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    class _Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in gunicorn_options(args.port, args.workers).items():
                self.cfg.set(key, value)

        def load(self) -> WSGIApp:
            return app

    _Server().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
