"""The servers the serving benchmark compares, how each is started, and the bodies each one takes.

Every server serves the same trained model (or, for the ``const-*`` rows, a fixed answer) on
127.0.0.1 with the same number of worker processes. Each runs in its own session (process group),
so stopping it reaches every worker it started. See ``docs/benchmarks.md`` for what each one is.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[1]
_UVICORN_NODELAY: Final = ("--http", "bench.serving_apps:NoDelayHttpTools")
_QUIET: Final = ("--no-access-log", "--log-level", "warning")


class ServerStartError(Exception):
    """A server exited or did not answer ``/ping`` in time; the message ends with its log's tail."""


@dataclass(frozen=True)
class Peer:
    """One server: its command and environment, the HTTP layer under it, the body form it takes."""

    name: str
    description: str
    #: The ``const-*`` server that has the same HTTP layer (itself for a ``const-*`` server).
    ceiling: str
    body: str
    command: tuple[str, ...]
    env: dict[str, str] = field(repr=False)


@dataclass(frozen=True)
class Setup:
    """What the servers are started from."""

    model_dir: Path
    estimator: Path
    mlflow_model: Path
    workers: int
    mlflow_json: str


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_env() -> dict[str, str]:
    """This process's environment without SageMaker's or OpenMP's settings, with the venv first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SAGEMAKER_", "OMP_", "MKL_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    # No telemetry from a benchmark (MLflow 3 sends usage events unless told not to).
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return env


def _uvicorn(port: int, workers: int, app: str, *options: str) -> tuple[str, ...]:
    """Uvicorn's command line with httptools and TCP_NODELAY, no access log, serving the import string ``app``."""
    return (
        *(sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
        *(*_UVICORN_NODELAY, *_QUIET, *options, app),
    )


def _mlflow_fair(setup: Setup, port: int) -> tuple[tuple[str, ...], dict[str, str]]:
    """MLflow's own scoring command and environment, plus OMP_NUM_THREADS=1, TCP_NODELAY, no access log."""
    from mlflow.pyfunc import scoring_server

    line, env = scoring_server.get_cmd(str(setup.mlflow_model), port, None, None, setup.workers)
    words = shlex.split(line)
    if words[0] != "uvicorn":
        raise ServerStartError(f"mlflow-fair: MLflow's scoring command is no longer uvicorn: {line}")
    command = (
        sys.executable,
        "-m",
        "uvicorn",
        "--host",
        "127.0.0.1",
        *words[1:-1],
        *_UVICORN_NODELAY,
        *_QUIET,
        words[-1],
    )
    return command, base_env() | {k: v for k, v in env.items() if k not in os.environ} | {"OMP_NUM_THREADS": "1"}


def _ours(setup: Setup, env: dict[str, str]) -> list[Peer]:
    n, py = setup.workers, sys.executable
    ours_env = env | {"SM_MODEL_DIR": str(setup.model_dir)}
    serve_env = {"SAGEMAKER_BIND_TO_PORT": str(free_port()), "SAGEMAKER_MODEL_SERVER_WORKERS": str(n)}
    return [
        Peer(
            "ours",
            "`python -m inference.serve`: our service as ASGI under uvicorn with httptools and uvloop, "
            "the common request answered by the HTTP protocol itself (`inference.direct`), "
            "bad HTTP answered in JSON (`inference.http_protocol`), one `SO_REUSEPORT` listener per worker "
            "bound by the master",
            "const-uvicorn",
            "csv",
            (py, "-m", "inference.serve"),
            ours_env | serve_env | {"SERVE_HOST": "127.0.0.1"},
        ),
        Peer(
            "ours-gunicorn",
            "the same service as WSGI (`bench/serving_wsgi.py`) under the previous gunicorn settings "
            "(`bench/serving_gunicorn.py`)",
            "const-gunicorn",
            "csv",
            (py, "-m", "bench.serving_gunicorn", "ours", "--port", str(free_port()), "--workers", str(n)),
            ours_env,
        ),
        Peer(
            "ours-granian",
            "the same service as WSGI (`bench/serving_wsgi.py`) under granian with the settings of the server "
            "before this one (`bench/serving_granian.py`), which answers unparseable HTTP with an empty 400",
            "const-granian",
            "csv",
            (py, "-m", "bench.serving_granian", "ours", "--port", str(free_port()), "--workers", str(n)),
            ours_env,
        ),
    ]


def _others(setup: Setup, env: dict[str, str]) -> list[Peer]:
    n = setup.workers
    shipped = ("-m", str(setup.mlflow_model), "--env-manager", "local", "-h", "127.0.0.1", "-p", str(free_port()))
    fair_command, fair_env = _mlflow_fair(setup, free_port())
    return [
        Peer(
            "mlflow-shipped",
            "`mlflow models serve --env-manager local` as shipped",
            "const-uvicorn",
            "csv+header",
            (sys.executable, "-m", "mlflow", "models", "serve", *shipped, "-w", str(n)),
            env,
        ),
        Peer(
            "mlflow-fair",
            "MLflow's scoring app under its own uvicorn command, OMP_NUM_THREADS=1, TCP_NODELAY, no access log",
            "const-uvicorn",
            f"mlflow:{setup.mlflow_json}",
            fair_command,
            fair_env,
        ),
        Peer(
            "fastapi-peer",
            "FastAPI + uvicorn calling `predict_proba` (`bench/serving_fastapi.py`), OMP_NUM_THREADS=1, TCP_NODELAY",
            "const-uvicorn",
            "instances",
            _uvicorn(free_port(), n, "bench.serving_fastapi:app"),
            env | {"BENCH_SKLEARN_MODEL": str(setup.estimator), "OMP_NUM_THREADS": "1"},
        ),
    ]


def _constants(setup: Setup, env: dict[str, str]) -> list[Peer]:
    n, py = setup.workers, sys.executable
    return [
        Peer(
            "const-uvicorn",
            "fixed answer (`ConstantRouter` in `bench/serving_apps.py`) on `ours`'s HTTP layer: its supervisor, "
            "protocol and uvicorn configuration "
            "(`bench/serving_uvicorn.py`)",
            "const-uvicorn",
            "csv",
            (py, "-m", "bench.serving_uvicorn", "--port", str(free_port()), "--workers", str(n)),
            env,
        ),
        Peer(
            "const-gunicorn",
            "fixed answer, WSGI under the previous gunicorn settings",
            "const-gunicorn",
            "csv",
            (py, "-m", "bench.serving_gunicorn", "constant", "--port", str(free_port()), "--workers", str(n)),
            env,
        ),
        Peer(
            "const-granian",
            "fixed answer, WSGI under granian with the previous server's settings",
            "const-granian",
            "csv",
            (py, "-m", "bench.serving_granian", "constant", "--port", str(free_port()), "--workers", str(n)),
            env,
        ),
    ]


def peers(setup: Setup) -> list[Peer]:
    """Every server of the benchmark, ``ours`` first, each on a port of its own."""
    env = base_env()
    found = _ours(setup, env) + _others(setup, env) + _constants(setup, env)
    ports = [port_of(peer) for peer in found]
    if len(set(ports)) != len(ports):  # free_port() can hand out a port twice once the probe is closed
        raise ServerStartError(f"two servers were given the same port: {ports}")
    return found


def port_of(peer: Peer) -> int:
    """The port ``peer`` listens on, from its command line or environment."""
    if "SAGEMAKER_BIND_TO_PORT" in peer.env:
        return int(peer.env["SAGEMAKER_BIND_TO_PORT"])
    for flag in ("--port", "-p"):
        if flag in peer.command:
            return int(peer.command[peer.command.index(flag) + 1])
    raise ValueError(f"{peer.name}: no port in its command")


@dataclass
class Running:
    """A started server."""

    peer: Peer
    process: subprocess.Popen[bytes]
    url: str
    log: Path


def _tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(peer: Peer, logs: Path, timeout: float = 180) -> Running:
    """Spawn ``peer`` and wait for ``GET /ping`` to answer 200; :class:`ServerStartError` otherwise."""
    url = f"http://127.0.0.1:{port_of(peer)}"
    log = logs / f"{peer.name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            peer.command, env=peer.env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    running = Running(peer, process, url, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop(running)  # anything it started
            raise ServerStartError(
                f"{peer.name} exited with status {process.returncode} before answering /ping; "
                f"last lines of {log}:\n{_tail(log)}"
            )
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2) as answer:
                if answer.status == 200:
                    return running
        except OSError:
            time.sleep(0.01)
    stop(running)
    raise ServerStartError(
        f"{peer.name}: {url}/ping did not answer 200 within {timeout:.0f} s; last lines of {log}:\n{_tail(log)}"
    )


def stop(running: Running) -> None:
    """SIGTERM the server's process group; SIGKILL it if it has not exited 20 s later."""
    process = running.process
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=20)
    # Whatever is left of the group (a worker that outlived its parent, or all of it after 20 s).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=5)


def start_seconds(peer: Peer, logs: Path) -> float:
    """Seconds from spawning ``peer`` to its first ``/ping`` 200; the server is stopped again."""
    started = time.perf_counter()
    running = start(peer, logs)
    elapsed = time.perf_counter() - started
    stop(running)
    return elapsed
