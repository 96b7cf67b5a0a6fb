"""The model server, under SageMaker's hosting contract.

``python -m inference.serve`` (the image's ``serve`` entry point):

* loads the model from ``SM_MODEL_DIR`` (else ``/opt/ml/model``) before it
  listens; a missing or invalid model exits with status 2 and one clear line;
* listens on ``0.0.0.0``:``SAGEMAKER_BIND_TO_PORT`` (else 8080; ``SERVE_HOST``
  narrows the address, e.g. to 127.0.0.1 for offline mode and tests) with
  ``SAGEMAKER_MODEL_SERVER_WORKERS`` worker processes (else one per CPU);
* reports ``MODEL_VERSION`` as the ``model_version`` of its answers and ``/ping`` when it is
  set and non-empty (the deployment sets it to the model package version, the version a person
  approved), else the ``model_version`` of the model's metadata;
* ``GET /ping`` and ``POST /invocations`` (see ``inference.app``); every answer,
  including gunicorn's own for a request it cannot parse, is JSON (``inference.workers``);
* ``SIGTERM`` stops it gracefully: in-flight requests finish, then it exits 0;
* ``INFERENCE_FAULT_5XX_RATE`` (off unless set) answers a share of ``/invocations`` with 500,
  for offline scenario testing only (``inference.fault_injection``);
* as a batch transform container (``SAGEMAKER_BATCH=true``, ``inference.batch``): answers
  ``GET /execution-parameters``, answers CSV line by line, bounds a request by
  ``SAGEMAKER_MAX_PAYLOAD_IN_MB`` and runs ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS`` workers
  (one request per worker process) when it is set.

Why gunicorn with a bare WSGI app (measured in ``docs/benchmarks.md``): the
work per request is tiny once the trees are compiled (``inference.model``), so
the server's own per-request cost decides throughput. Gunicorn's pre-fork
master gives one single-threaded process per core (no GIL sharing, no OpenMP
oversubscription), restarts a worker that dies, enforces request-line and
header limits, and implements graceful SIGTERM; the ``gthread`` worker keeps
connections alive and lets a slow client hold one thread rather than the whole
worker. An ASGI stack (uvicorn + FastAPI, which MLflow's scoring server uses)
adds an event loop, routing, and pydantic layers whose cost is several times
that of scoring one row.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from inference import fault_injection
from inference.app import WSGIApp, configure_logging, make_app
from inference.batch import BatchSettings
from inference.model import LoadedModel, ModelLoadError, load_model
from inference.workers import WORKER_CLASSES


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The hosting contract's knobs, read once from the environment."""

    model_dir: str
    host: str
    port: int
    workers: int
    threads: int
    worker_class: str
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

        worker_class = env.get("SERVE_WORKER_CLASS", "gthread").strip() or "gthread"
        if worker_class not in ("gthread", "sync"):
            raise ValueError(f"SERVE_WORKER_CLASS must be 'gthread' or 'sync', got {worker_class!r}")
        batch = BatchSettings.from_env(env)
        workers = integer("SAGEMAKER_MODEL_SERVER_WORKERS", os.cpu_count() or 1, 1)
        return cls(
            model_dir=env.get("SM_MODEL_DIR") or "/opt/ml/model",
            host=env.get("SERVE_HOST") or "0.0.0.0",
            port=integer("SAGEMAKER_BIND_TO_PORT", 8080, 1),
            # A transform job keeps SAGEMAKER_MAX_CONCURRENT_TRANSFORMS requests open: one worker process each.
            workers=(batch.max_concurrent_transforms or workers) if batch.enabled else workers,
            threads=integer("SERVE_THREADS", 4, 1),
            worker_class=worker_class,
            timeout=integer("SAGEMAKER_MODEL_SERVER_TIMEOUT", 60, 1),
            model_version=env.get("MODEL_VERSION", "").strip() or None,
            fault_5xx_rate=fault_injection.parse_rate(env.get(fault_injection.VARIABLE)),
            batch=batch,
        )


def _gunicorn_options(settings: ServerSettings, model: LoadedModel) -> dict[str, Any]:
    def when_ready(_server: Any) -> None:
        faults = f", {fault_injection.VARIABLE}={settings.fault_5xx_rate:g}" if settings.fault_5xx_rate else ""
        batch = f", batch mode, MaxPayloadInMB={settings.batch.max_payload_mb}" if settings.batch.enabled else ""
        print(
            f"inference server listening on http://{settings.host}:{settings.port} "
            f"({settings.workers} workers, model {model.version}, "
            f"{'compiled trees' if model.compiled else 'sklearn predict_proba'}{faults}{batch})",
            flush=True,
        )

    return {
        "bind": f"{settings.host}:{settings.port}",
        "workers": settings.workers,
        # Gunicorn's own worker, but answering the requests it cannot parse in JSON (inference.workers).
        "worker_class": WORKER_CLASSES[settings.worker_class],
        "threads": settings.threads,
        "timeout": settings.timeout,
        "graceful_timeout": 20,
        "keepalive": 75,  # longer than the idle timeout of SageMaker's front end, which reuses connections
        "backlog": 2048,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "when_ready": when_ready,
        "proc_name": "inference-serve",
    }


def run(settings: ServerSettings, app: WSGIApp, model: LoadedModel) -> None:
    """Serve ``app`` until SIGTERM/SIGINT."""
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    class _Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in _gunicorn_options(settings, model).items():
                self.cfg.set(key, value)

        def load(self) -> WSGIApp:
            return app

    _Server().run()


def main(env: Mapping[str, str] | None = None) -> int:
    """Load the model, then serve; a bad configuration or model exits 2 with one clear line."""
    environ = os.environ if env is None else env
    configure_logging()
    try:
        settings = ServerSettings.from_env(environ)
        model = load_model(settings.model_dir)
        if settings.model_version:
            model = replace(model, version=settings.model_version)
    except (ValueError, ModelLoadError) as err:
        print(f"inference server cannot start: {err}", file=sys.stderr, flush=True)
        return 2
    app = make_app(model, fault_rate=settings.fault_5xx_rate, batch=settings.batch, workers=settings.workers)
    run(settings, app, model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
