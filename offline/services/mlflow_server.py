"""A real MLflow tracking server for an offline run, standing in for SageMaker managed MLflow.

In AWS, training and evaluation jobs log to a SageMaker managed MLflow tracking server
(``MLFLOW_TRACKING_URI`` = its ARN, resolved by the ``sagemaker-mlflow`` plugin; SageMaker
Developer Guide, "Accelerate generative AI development using managed MLflow on Amazon
SageMaker AI"). Offline, the jobs log over HTTP to ``mlflow server`` (MLflow docs, "MLflow
Tracking Server", self-hosting/architecture/tracking-server), started here as a child process:

- bound to 127.0.0.1 on a free port, one uvicorn worker (the machine has few cores);
- run metadata in ``sqlite:///<workdir>/mlflow/mlflow.db``;
- artifacts proxied by the server (``--serve-artifacts``, ``--artifacts-destination
  <workdir>/mlflow/artifacts``): new experiments get the ``mlflow-artifacts:/`` root, so a
  client uploads models and files through the HTTP API and needs no access to the work dir,
  as a SageMaker job writes through the managed server to its S3 artifact store;
- the host-header check limited to ``127.0.0.1:<port>`` and ``localhost:<port>`` (MLflow 3's
  security middleware, ``--allowed-hosts``; its CORS check always admits loopback origins,
  so the UI works from a local browser);
- MLflow's background job runner (huey consumers, for GenAI features this product does not
  use) and its usage telemetry are off: the first costs seven processes and seconds of start
  time on two cores, the second would call the internet from an offline run;
- output in ``<workdir>/logs/mlflow.log``.

Starting takes several seconds (importing MLflow twice, creating the database), so
``start_tracking_server`` returns at once and ``TrackingServer.wait_ready`` blocks until
``/health`` answers: a caller overlaps the start with other work.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from offline.run import processes
from offline.run.local_aws import free_port

#: Bound on the wait for ``/health``; a cold start on a loaded two-core machine takes ~20 s.
READY_TIMEOUT_SECONDS = 120.0
_POLL_SECONDS = 0.2


class TrackingServerError(RuntimeError):
    """The MLflow tracking server could not start; the message says why and where its log is."""


class TrackingServer:
    """One ``mlflow server`` child process; see the module docstring."""

    def __init__(self, *, process: subprocess.Popen[bytes], port: int, log_file: Path, store: Path) -> None:
        self.process = process
        self.port = port
        self.log_file = log_file
        self.store = store
        self._ready = False

    @property
    def url(self) -> str:
        """The tracking URI clients use (``MLFLOW_TRACKING_URI``), also the UI's address."""
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> str:
        """Block until ``/health`` answers 200 and return the URL.

        Raises ``TrackingServerError`` (after stopping the process) when the server exits or
        does not answer within ``timeout`` seconds; the message names the log file.
        """
        if self._ready:
            return self.url
        deadline = time.monotonic() + timeout
        while True:
            code = self.process.poll()
            if code is not None:
                processes.forget(self.process)
                raise TrackingServerError(
                    f"the MLflow tracking server exited with status {code} before it was ready "
                    f"({_tail(self.log_file)}); see {self.log_file}"
                )
            if _healthy(self.url):
                self._ready = True
                return self.url
            if time.monotonic() >= deadline:
                self.stop()
                raise TrackingServerError(
                    f"the MLflow tracking server did not answer {self.url}/health within {timeout:.0f} s; "
                    f"see {self.log_file}"
                )
            time.sleep(_POLL_SECONDS)

    def stop(self) -> None:
        """Stop the server and everything it started (its process group)."""
        processes.stop(self.process)
        self._ready = False

    def __enter__(self) -> TrackingServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def start_tracking_server(workdir: Path) -> TrackingServer:
    """Start ``mlflow server`` for ``workdir`` in the background; call ``wait_ready()`` before logging to it.

    The store (``<workdir>/mlflow/``) is kept between runs, as a tracking server's would be.
    Raises ``TrackingServerError`` at once when the work dir cannot hold the store or the log.
    """
    workdir = workdir.resolve()
    store = workdir / "mlflow"
    artifacts = store / "artifacts"
    log_file = workdir / "logs" / "mlflow.log"
    for folder in (artifacts, log_file.parent):
        _require_writable(folder)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        f"sqlite:///{store / 'mlflow.db'}",
        "--serve-artifacts",
        "--artifacts-destination",
        str(artifacts),
        "--allowed-hosts",
        f"127.0.0.1:{port},localhost:{port}",
    ]
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "PYTHONUNBUFFERED": "1",
    }
    # The run's own tracking settings are for clients, not for the server.
    env.pop("MLFLOW_TRACKING_URI", None)
    with log_file.open("wb") as log:
        process = processes.start(command, env=env, cwd=store, stdout=log.fileno())
    return TrackingServer(process=process, port=port, log_file=log_file, store=store)


def _require_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise TrackingServerError(
            f"the MLflow tracking server cannot write to {folder} ({error.strerror or error}); "
            "give the run a writable --workdir"
        ) from None


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _tail(log_file: Path, lines: int = 3) -> str:
    try:
        text = log_file.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return " | ".join(text[-lines:]) or "no output"
