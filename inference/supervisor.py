"""The master process of ``inference.serve``: listeners, workers, restarts, a graceful stop.

* **One listener per worker.** The master binds ``workers`` TCP sockets to the same address with
  ``SO_REUSEPORT`` and hands one to each worker. The kernel spreads new connections over them by
  a hash of the connection's addresses (socket(7), ``SO_REUSEPORT``), so keep-alive clients land
  on every worker, where one shared socket lets the busiest, quickest-to-accept worker take them
  all. Binding in the master also makes "address already in use" one clear line before any
  worker starts. Each worker starts listening on its socket once it has loaded the model.
* **Restarts.** A worker that dies is started again on the same socket; connections the kernel
  queued on it meanwhile wait in its backlog and are then served. A worker that exits 2 before it
  ever served (its model directory changed since the master checked it) stops the server with 2.
* **Stop.** On SIGTERM or SIGINT the master closes its copies of the listeners, then sends SIGTERM
  to every worker: uvicorn stops accepting, lets in-flight requests finish for up to
  ``SAGEMAKER_MODEL_SERVER_TIMEOUT`` seconds, closes idle connections and exits. A worker still
  alive :data:`KILL_GRACE_SECONDS` after that is killed. The master then exits 0.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any, Final

from inference.settings import ServerSettings

log = logging.getLogger("inference")

#: How long past the graceful timeout a stopping worker may take before it is killed.
KILL_GRACE_SECONDS: Final = 5.0
#: A worker that dies sooner than this after it started is restarted after this pause (no tight loop).
RESTART_PAUSE_SECONDS: Final = 1.0
_POLL_SECONDS: Final = 0.2

WorkerTarget = Callable[[ServerSettings, socket.socket, Connection], None]


def bind_listeners(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` TCP sockets bound to ``host:port``, each with ``SO_REUSEPORT``; raises ``OSError``.

    They are bound, not listening: the worker's event loop calls ``listen()`` once its app is built
    (asyncio's ``create_server``, with ``inference.worker.BACKLOG``). A socket joins the port's
    ``SO_REUSEPORT`` group only when it listens, so the kernel never hands a connection to a worker
    still loading its model: the first ``/ping`` that succeeds is not followed by requests waiting
    half a second in the backlog of a worker that does not serve yet.
    """
    listeners: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            listeners.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
    except OSError:
        for sock in listeners:
            sock.close()
        raise
    return listeners


@dataclass
class _Worker:
    listener: socket.socket
    process: BaseProcess
    started: float
    served: bool = False


class Supervisor:
    """Runs ``target(settings, listener, ready)`` in one spawned process per listener until told to stop."""

    def __init__(self, settings: ServerSettings, listeners: list[socket.socket], target: WorkerTarget, banner: str):
        self._settings = settings
        self._listeners = listeners
        self._target = target
        self._banner = banner
        self._context = multiprocessing.get_context("spawn")
        self._ready_rx, self._ready_tx = self._context.Pipe(duplex=False)
        self._workers: dict[int, _Worker] = {}
        self._stopping = False
        self._announced = False

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT (0), or until a worker cannot load the model (2)."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for listener in self._listeners:
                self._start(listener)
            code = self._watch()
        finally:
            self._shut_down()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return code

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _start(self, listener: socket.socket) -> None:
        process = self._context.Process(
            target=self._target, args=(self._settings, listener, self._ready_tx), name="inference-worker"
        )
        process.start()
        self._workers[process.pid or 0] = _Worker(listener, process, time.monotonic())

    def _watch(self) -> int:
        while not self._stopping:
            sentinels: list[Any] = [worker.process.sentinel for worker in self._workers.values()]
            for ready in wait([self._ready_rx, *sentinels], timeout=_POLL_SECONDS):
                if ready is self._ready_rx:
                    self._note_ready()
            for pid, worker in list(self._workers.items()):
                if self._stopping or worker.process.is_alive():
                    continue
                code = worker.process.exitcode
                del self._workers[pid]
                if code == 2 and not worker.served:
                    log.error("a worker could not load the model (exit 2): stopping")
                    return 2
                log.warning("worker %d exited with %s; starting another", pid, code)
                if time.monotonic() - worker.started < RESTART_PAUSE_SECONDS:
                    time.sleep(RESTART_PAUSE_SECONDS)
                self._start(worker.listener)
        return 0

    def _note_ready(self) -> None:
        """A worker serves: print the banner once all of them first do."""
        try:
            pid = int(self._ready_rx.recv_bytes())
        except (EOFError, OSError, ValueError):
            return
        if pid in self._workers:
            self._workers[pid].served = True
        if not self._announced and all(worker.served for worker in self._workers.values()):
            self._announced = True
            print(self._banner, flush=True)

    def _shut_down(self) -> None:
        """Close the master's listeners, ask every worker to stop, kill the ones that overstay."""
        for listener in self._listeners:
            listener.close()
        for worker in self._workers.values():
            if worker.process.is_alive():
                worker.process.terminate()
        deadline = time.monotonic() + self._settings.timeout + KILL_GRACE_SECONDS
        for worker in self._workers.values():
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                log.error("worker %d did not stop in time: killing it", worker.process.pid)
                worker.process.kill()
                worker.process.join(5)
