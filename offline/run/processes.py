"""Child processes offline mode starts, and the guarantee that none outlives it.

Training jobs and endpoint servers are subprocesses. Every one is registered here and
stopped by ``stop_all`` (called in ``finally`` blocks), by ``atexit`` and by the SIGTERM
handler (SIGINT unwinds as KeyboardInterrupt through those ``finally`` blocks), so an
interrupted ``make run`` leaves no orphan server holding a port.
Each child gets its own process group so that stopping it also stops anything it forked.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

_lock = threading.Lock()
_children: set[subprocess.Popen[bytes]] = set()
_atexit_registered = False


def start(
    command: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path | None = None,
    stdout: int | None = subprocess.PIPE,
) -> subprocess.Popen[bytes]:
    """Start a registered child in its own process group (stderr merged into stdout)."""
    _register_atexit()
    process = subprocess.Popen(
        list(command),
        env=env,
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    with _lock:
        _children.add(process)
    return process


def read_output(process: subprocess.Popen[bytes], log_file: Path) -> list[str]:
    """Every line the child writes to its stdout until it closes it, also written to ``log_file``.

    A job's container output is both its log (CloudWatch, in AWS) and what SageMaker reads
    metrics and failure lines from.
    """
    assert process.stdout is not None
    lines: list[str] = []
    with log_file.open("w") as log:
        for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            lines.append(line)
            log.write(line + "\n")
    return lines


def stop(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Terminate a child's process group, killing it if it does not exit in ``timeout``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
    if process.stdout is not None:
        with contextlib.suppress(OSError):
            process.stdout.close()
    with _lock:
        _children.discard(process)


def forget(process: subprocess.Popen[bytes]) -> None:
    """Drop a child that has exited on its own."""
    with _lock:
        _children.discard(process)


def running() -> list[subprocess.Popen[bytes]]:
    """Children still alive (tests use this to prove nothing is orphaned)."""
    with _lock:
        return [p for p in _children if p.poll() is None]


def stop_all() -> None:
    """Stop every registered child."""
    with _lock:
        children = list(_children)
    for process in children:
        stop(process)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if signum == signal.SIGINT:
        # Ctrl-C: unwind normally, so the CLI can say what happened; its finally blocks stop the children.
        raise KeyboardInterrupt
    stop_all()
    raise SystemExit(128 + signum)


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        _atexit_registered = True
        atexit.register(stop_all)


def install_signal_handlers() -> None:
    """Stop every child on SIGINT / SIGTERM (the CLI calls this from the main thread)."""
    _register_atexit()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)
