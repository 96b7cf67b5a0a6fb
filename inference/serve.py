"""The model server, under SageMaker's hosting contract.

``python -m inference.serve`` (the image's ``serve`` entry point):

* loads the model from ``SM_MODEL_DIR`` (else ``/opt/ml/model``) before it
  listens; a missing or invalid model exits with status 2 and one clear line;
* listens on ``0.0.0.0``:``SAGEMAKER_BIND_TO_PORT`` (else 8080; ``SERVE_HOST``
  narrows the address, e.g. to 127.0.0.1 for offline mode and tests) with
  ``SAGEMAKER_MODEL_SERVER_WORKERS`` worker processes (else one per CPU), and prints
  ``inference server listening on http://HOST:PORT (...)`` once every worker has loaded the app;
* reports ``MODEL_VERSION`` as the ``model_version`` of its answers and ``/ping`` when it is
  set and non-empty (the deployment sets it to the model package version, the version a person
  approved), else the ``model_version`` of the model's metadata;
* ``GET /ping`` and ``POST /invocations`` (see ``inference.app``): every answer the app gives is
  JSON, a fault included (a bare 500, the detail goes to the log). A request the HTTP layer cannot
  parse (a bad ``Content-Length``, a malformed request line, an unsupported ``Transfer-Encoding``,
  headers over the buffer) never reaches the app: granian (hyper) answers it with an empty 4xx and
  closes the connection, and no option changes that body;
* ``SIGTERM`` stops it gracefully: it stops accepting, in-flight requests finish, idle keep-alive
  connections are closed, then it exits 0; a worker that dies is started again;
* ``INFERENCE_FAULT_5XX_RATE`` (off unless set) answers a share of ``/invocations`` with 500,
  for offline scenario testing only (``inference.fault_injection``);
* as a batch transform container (``SAGEMAKER_BATCH=true``, ``inference.batch``): answers
  ``GET /execution-parameters``, answers CSV line by line, bounds a request by
  ``SAGEMAKER_MAX_PAYLOAD_IN_MB`` and runs ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS`` workers
  (one request per worker process) when it is set.

Why granian with a bare WSGI app: scoring one row costs microseconds, so the HTTP layer's own
per-request cost decides throughput. Measured on 2 cores, 2 workers, one CSV row per request,
``wrk -t1`` keep-alive: gunicorn's ``gthread`` workers answered about 3,000 requests a second at 16
connections (5,800 at best: in most runs every connection landed on one worker and the other core
sat idle) and 2,700 at one connection; granian answers about 15,000 and 4,700. Granian is pre-fork
too: one process per core, each with its own model session (no GIL sharing), its HTTP/1 parsing
and writing in Rust (hyper). On Linux each worker binds its own ``SO_REUSEPORT`` listener, so the
kernel spreads new connections over the workers (measured: a 45/55 split of CPU at worst).

What the knobs mean here:

* ``SAGEMAKER_MODEL_SERVER_TIMEOUT`` (60): how long, on ``SIGTERM`` or when a worker is replaced,
  a worker may take to finish its in-flight requests before it is killed. Gunicorn used it as a
  per-request limit (a worker silent that long was killed and restarted); granian has no
  per-request timeout, so a request is never cut short while the server runs. Scoring is bounded
  by the payload limits; what a slow client can hold is described next.
* ``SERVE_THREADS`` (:data:`THREADS`): WSGI threads per worker (granian's blocking threads).
  Granian's ``wsgi.input`` has no read timeout: a read waits until its bytes arrive or the client
  closes. A client that declares a body and stops sending holds one thread of one worker until it
  sends or closes (or until ``SIGTERM`` plus the timeout above); the worker's other threads keep
  serving. Draining an oversized body before the 413 (``inference.app._drain``) stops after 20 s.
* Keep-alive: an idle connection is closed after 75 s (longer than the idle timeout of SageMaker's
  front end, which reuses connections); the same bound applies to reading a request's headers.
* Limits granian enforces itself: the request line and headers must fit hyper's read buffer
  (granian's default, several hundred KB; a 1 MB header gets a bare 431); there is no separate
  request-line limit any more (gunicorn's 414 for a line over 4 KB).
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from multiprocessing.connection import Connection
from typing import Any, Final

from granian import Granian
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.log import LogLevels

from inference import fault_injection
from inference.app import StartResponse, WSGIApp, WSGIEnviron, configure_logging, make_app
from inference.batch import BatchSettings
from inference.model import LoadedModel, ModelLoadError, load_model

log = logging.getLogger("inference")

#: WSGI threads per worker. Measured as above (medians of 3-4 interleaved 5 s runs): 1 thread
#: 16,400 req/s at c=16 and 5,400 at c=1; 2 or 4 threads 15,400-15,900 and 4,600-4,800 (granian's
#: thread pool costs a few microseconds a request; the GIL serializes the app either way). A few
#: threads cost those 3-12 %, and a client that stalls its body then holds one of them, not the worker.
THREADS: Final = 4
#: Idle keep-alive and header-read bound, in seconds (see the module docstring).
KEEP_ALIVE_SECONDS: Final = 75
#: Pending connections the kernel queues for each worker's listener.
BACKLOG: Final = 2048

_FAULT_BODY: Final = json.dumps({"error": "internal error; the request was not scored"}).encode()
#: Granian's own log lines, at warning and above, on stderr next to the app's (SageMaker ships both).
_GRANIAN_LOGGING: Final[dict[str, Any]] = {
    "formatters": {
        "generic": {"()": "logging.Formatter", "fmt": "%(asctime)s %(levelname)s granian %(message)s"},
        "access": {"()": "logging.Formatter", "fmt": "%(message)s"},
    },
    "handlers": {
        "console": {"formatter": "generic", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
    },
}


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The hosting contract's knobs, read once from the environment."""

    model_dir: str
    host: str
    port: int
    workers: int
    threads: int
    timeout: int
    model_version: str | None = None
    #: ``INFERENCE_FAULT_5XX_RATE``: the share of /invocations answered 500 (offline scenario testing only).
    fault_5xx_rate: float = 0.0
    #: Batch transform mode and its bounds (``SAGEMAKER_BATCH``, ``inference.batch``).
    batch: BatchSettings = field(default_factory=BatchSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServerSettings:
        """Read ``SM_MODEL_DIR``, ``SAGEMAKER_BIND_TO_PORT``, ``SAGEMAKER_MODEL_SERVER_WORKERS``..."""

        def integer(name: str, default: int, low: int) -> int:
            raw = env.get(name, "").strip()
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
            if value < low:
                raise ValueError(f"{name} must be >= {low}, got {value}")
            return value

        batch = BatchSettings.from_env(env)
        workers = integer("SAGEMAKER_MODEL_SERVER_WORKERS", os.cpu_count() or 1, 1)
        return cls(
            model_dir=env.get("SM_MODEL_DIR") or "/opt/ml/model",
            host=env.get("SERVE_HOST") or "0.0.0.0",
            port=integer("SAGEMAKER_BIND_TO_PORT", 8080, 1),
            # A transform job keeps SAGEMAKER_MAX_CONCURRENT_TRANSFORMS requests open: one worker process each.
            workers=(batch.max_concurrent_transforms or workers) if batch.enabled else workers,
            threads=integer("SERVE_THREADS", THREADS, 1),
            timeout=integer("SAGEMAKER_MODEL_SERVER_TIMEOUT", 60, 1),
            model_version=env.get("MODEL_VERSION", "").strip() or None,
            fault_5xx_rate=fault_injection.parse_rate(env.get(fault_injection.VARIABLE)),
            batch=batch,
        )


def served_model(settings: ServerSettings) -> LoadedModel:
    """The model to serve, reporting ``MODEL_VERSION`` when set; raises :class:`ModelLoadError`."""
    model = load_model(settings.model_dir)
    return replace(model, version=settings.model_version) if settings.model_version else model


def json_faults(app: WSGIApp) -> WSGIApp:
    """``app``, answering an exception it lets escape with a bare JSON 500 (granian's own 500 is empty)."""

    def guarded(environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        try:
            return app(environ, start_response)
        except Exception:
            log.exception("error handling %s %s", environ.get("REQUEST_METHOD"), str(environ.get("PATH_INFO"))[:100])
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(_FAULT_BODY)))]
            start_response("500 Internal Server Error", headers)
            return [_FAULT_BODY]

    return guarded


def worker_app(settings: ServerSettings, ready: Connection | None = None) -> WSGIApp:
    """Build the app in a worker process, with the worker's own model session; then tell the master.

    Each worker loads the model itself rather than inheriting the master's onnxruntime session
    across ``fork`` (which onnxruntime does not support), and it works with any start method.
    """
    configure_logging()
    try:
        model = served_model(settings)
    except ModelLoadError as err:  # the master loaded it a moment ago: the directory changed since
        print(f"inference server worker cannot start: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    app = make_app(model, fault_rate=settings.fault_5xx_rate, batch=settings.batch, workers=settings.workers)
    if ready is not None:
        with contextlib.suppress(OSError):
            ready.send_bytes(b"1")
    return json_faults(app)


def banner(settings: ServerSettings, model: LoadedModel) -> str:
    """The line printed once the server serves."""
    faults = f", {fault_injection.VARIABLE}={settings.fault_5xx_rate:g}" if settings.fault_5xx_rate else ""
    batch = f", batch mode, MaxPayloadInMB={settings.batch.max_payload_mb}" if settings.batch.enabled else ""
    return (
        f"inference server listening on http://{settings.host}:{settings.port} "
        f"({settings.workers} workers, model {model.version}, {model.runtime}{faults}{batch})"
    )


def _announce(ready: Connection, workers: int, line: str) -> None:
    """Print ``line`` once ``workers`` workers have loaded the app; keep reading what respawned ones send."""
    loaded = 0
    with contextlib.suppress(EOFError, OSError):
        while True:
            ready.recv_bytes()
            loaded += 1
            if loaded == workers:
                print(line, flush=True)


def run(settings: ServerSettings, model: LoadedModel) -> None:
    """Serve until SIGTERM/SIGINT: granian's master process here, ``settings.workers`` worker processes."""
    server = Granian(
        "inference.serve:worker_app",  # what the workers run; the loader below passes it the settings
        address=settings.host,
        port=settings.port,
        interface=Interfaces.WSGI,
        workers=settings.workers,
        blocking_threads=settings.threads,
        http=HTTPModes.http1,
        http1_settings=HTTP1Settings(header_read_timeout=KEEP_ALIVE_SECONDS * 1000, keep_alive=True),
        websockets=False,
        backlog=BACKLOG,
        log_level=LogLevels.warning,
        log_dictconfig=_GRANIAN_LOGGING,
        log_access=False,
        respawn_failed_workers=True,
        workers_kill_timeout=settings.timeout,
    )
    ready_rx, ready_tx = multiprocessing.Pipe(duplex=False)
    announcer = threading.Thread(
        target=_announce, args=(ready_rx, settings.workers, banner(settings, model)), name="announce", daemon=True
    )
    announcer.start()
    server.serve(target_loader=partial(worker_app, settings, ready_tx), wrap_loader=False)


def main(env: Mapping[str, str] | None = None) -> int:
    """Load the model, then serve; a bad configuration or model, or a port it cannot bind, exits 2 with one line."""
    environ = os.environ if env is None else env
    configure_logging()
    try:
        settings = ServerSettings.from_env(environ)
        model = served_model(settings)
    except (ValueError, ModelLoadError) as err:
        print(f"inference server cannot start: {err}", file=sys.stderr, flush=True)
        return 2
    try:
        run(settings, model)
    except RuntimeError as err:  # granian's, e.g. "Address already in use (os error 98)", then a Rust backtrace
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        where = f"{settings.host}:{settings.port}"
        print(f"inference server cannot serve on {where}: {reason}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
