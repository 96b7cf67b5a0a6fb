"""The master process's listeners and worker lifecycle, with stand-in workers (the real server: tests/process)."""

import os
import signal
import socket
import threading
import time
from multiprocessing.connection import Connection

import pytest

from inference.settings import ServerSettings
from inference.supervisor import Supervisor, bind_listeners

SETTINGS = ServerSettings.from_env({"SAGEMAKER_MODEL_SERVER_WORKERS": "2", "SAGEMAKER_MODEL_SERVER_TIMEOUT": "1"})


def ready_then_wait(settings: ServerSettings, listener: socket.socket, ready: Connection) -> None:
    """A worker that serves at once, then waits to be stopped."""
    ready.send_bytes(str(os.getpid()).encode())
    time.sleep(120)


def cannot_load(settings: ServerSettings, listener: socket.socket, ready: Connection) -> None:
    """A worker whose model directory vanished."""
    raise SystemExit(2)


def test_each_worker_gets_its_own_listener_on_the_same_port() -> None:
    listeners = bind_listeners("127.0.0.1", 0, 1)
    port = listeners[0].getsockname()[1]
    listeners[0].close()
    listeners = bind_listeners("127.0.0.1", port, 3)
    try:
        assert len({sock.fileno() for sock in listeners}) == 3
        assert {sock.getsockname()[1] for sock in listeners} == {port}
        assert all(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for sock in listeners)
        # Bound, not listening: a worker's socket joins the port only once that worker serves.
        assert not any(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) for sock in listeners)
    finally:
        for sock in listeners:
            sock.close()


def test_a_port_another_process_holds_is_refused_before_any_worker_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError, match="Address already in use"):
            bind_listeners("127.0.0.1", taken.getsockname()[1], 2)


def test_the_banner_comes_once_every_worker_serves_and_sigterm_stops_with_0(capsys: pytest.CaptureFixture[str]) -> None:
    # Given two workers that report ready
    listeners = bind_listeners("127.0.0.1", 0, 1) * 2
    supervisor = Supervisor(SETTINGS, listeners, ready_then_wait, "listening (2 workers)")
    # When the master is sent SIGTERM a moment after it started them
    timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    started = time.monotonic()
    try:
        code = supervisor.run()
    finally:
        timer.cancel()  # had run() returned early, the signal would stop the test process itself
    # Then it printed the banner once, stopped its workers and returned 0, well within the kill bound
    assert code == 0
    assert capsys.readouterr().out.count("listening (2 workers)") == 1
    assert time.monotonic() - started < 3.0 + 5
    assert listeners[0].fileno() == -1  # the master's copy is closed first: no new connection waits on it


def test_a_worker_that_cannot_load_the_model_stops_the_server_with_2() -> None:
    listeners = bind_listeners("127.0.0.1", 0, 1)
    started = time.monotonic()
    assert Supervisor(SETTINGS, listeners, cannot_load, "never printed").run() == 2
    assert time.monotonic() - started < 30
