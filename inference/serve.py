"""The model server, under SageMaker's hosting contract.

``python -m inference.serve`` (the image's ``serve`` entry point):

* loads the model from ``SM_MODEL_DIR`` (else ``/opt/ml/model``) before it
  listens; a missing or invalid model exits with status 2 and one clear line;
* listens on ``0.0.0.0``:``SAGEMAKER_BIND_TO_PORT`` (else 8080; ``SERVE_HOST``
  narrows the address, e.g. to 127.0.0.1 for offline mode and tests) with
  ``SAGEMAKER_MODEL_SERVER_WORKERS`` worker processes (else one per CPU), and prints
  ``inference server listening on http://HOST:PORT (...)`` once every worker serves; an address
  already in use exits 2 with one line;
* reports ``MODEL_VERSION`` as the ``model_version`` of its answers and ``/ping`` when it is
  set and non-empty (the deployment sets it to the model package version, the version a person
  approved), else the ``model_version`` of the model's metadata;
* ``GET /ping`` and ``POST /invocations`` (``inference.app``): every answer is JSON, whether the
  app gives it or the HTTP layer refuses a request it cannot parse (``inference.http_protocol``:
  a bad ``Content-Length``, a malformed request line, an unsupported ``Transfer-Encoding``, headers
  over 64 KB); a fault is a bare 500, the detail goes to the log;
* ``SIGTERM`` stops it gracefully: it stops accepting, in-flight requests finish, idle keep-alive
  connections are closed, then it exits 0; a worker that dies is started again
  (``inference.supervisor``);
* ``INFERENCE_FAULT_5XX_RATE`` (off unless set) answers a share of ``/invocations`` with 500,
  for offline scenario testing only (``inference.fault_injection``);
* as a batch transform container (``SAGEMAKER_BATCH=true``, ``inference.batch``): answers
  ``GET /execution-parameters``, answers CSV line by line, bounds a request by
  ``SAGEMAKER_MAX_PAYLOAD_IN_MB`` and runs ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS`` workers
  when it is set.

Why uvicorn with httptools and uvloop, and an ASGI app: scoring one row costs microseconds, so
the HTTP layer's own per-request cost decides throughput. Measured on 2 cores, 2 workers, one CSV
row per request, 16 keep-alive connections (``docs/benchmarks.md``, medians of 3 rounds): the
same service answered about 5,600 requests a second under gunicorn's ``gthread`` workers, 16,000
under granian, and 16,800 here, where the protocol answers the common request itself
(``inference.direct``; 15,000 when every request went through the ASGI app).
Granian answers a request it cannot parse with an empty 400 that no option changes; uvicorn's
protocol class can be replaced, and this server answers such a request in JSON, as the hosting
contract's clients expect. Each worker is one process with its own model
session and its own ``SO_REUSEPORT`` listener (``inference.supervisor``), so the kernel spreads
connections over the workers.

What the knobs mean here:

* ``SAGEMAKER_MODEL_SERVER_TIMEOUT`` (60): how long, on ``SIGTERM``, a worker may take to finish
  its in-flight requests before they are cancelled. Gunicorn used it as a per-request limit;
  here a request is bounded by the payload limits and by the timeouts below instead.
* ``SERVE_THREADS`` (:data:`inference.settings.THREADS`): threads per worker that parse and
  score bodies over 64 KB off the event loop, so a large request does not hold up ``/ping``.
* Time bounds: an idle keep-alive connection is closed after 75 s (longer than the idle timeout of
  SageMaker's front end, which reuses connections); a request's headers must arrive within 75 s of
  its first byte (else a 408), and its body within 75 s of the read that left it incomplete (else a
  408; a body still arriving after a 413 is cut off by the same bound). A stalled client holds one
  coroutine, not a thread or the worker.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from inference import fault_injection
from inference.app import configure_logging
from inference.model import LoadedModel, ModelLoadError
from inference.settings import ServerSettings, served_model
from inference.supervisor import Supervisor, bind_listeners
from inference.worker import run_worker

log = logging.getLogger("inference")


def banner(settings: ServerSettings, model: LoadedModel) -> str:
    """The line printed once the server serves."""
    faults = f", {fault_injection.VARIABLE}={settings.fault_5xx_rate:g}" if settings.fault_5xx_rate else ""
    batch = f", batch mode, MaxPayloadInMB={settings.batch.max_payload_mb}" if settings.batch.enabled else ""
    return (
        f"inference server listening on http://{settings.host}:{settings.port} "
        f"({settings.workers} workers, model {model.version}, {model.runtime}{faults}{batch})"
    )


def main(env: Mapping[str, str] | None = None) -> int:
    """Load the model, then serve; a bad configuration or model exits 2 with one line."""
    environ = os.environ if env is None else env
    configure_logging()
    try:
        settings = ServerSettings.from_env(environ)
        model = served_model(settings)
    except (ValueError, ModelLoadError) as err:
        print(f"inference server cannot start: {err}", file=sys.stderr, flush=True)
        return 2
    return run(settings, model)


def run(settings: ServerSettings, model: LoadedModel) -> int:
    """Bind one listener per worker, then serve until SIGTERM (0); an address in use exits 2 with one line."""
    try:
        listeners = bind_listeners(settings.host, settings.port, settings.workers)
    except OSError as err:
        where = f"{settings.host}:{settings.port}"
        print(f"inference server cannot serve on {where}: {err.strerror or err}", file=sys.stderr, flush=True)
        return 2
    return Supervisor(settings, listeners, run_worker, banner(settings, model)).run()


if __name__ == "__main__":
    sys.exit(main())
