"""``python -m inference.serve`` as processes and connections: what the HTTP layer refuses, the workers, stopping.

Worker processes are found through ``/proc`` (Linux, as in the image): the children of the server's process.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.process.conftest import REPO, Server, TrainedJob, start_server, stop_server
from tests.process.test_serving import csv_body, request, socket_to
from tests.raw_http import read_answer

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")]

ROW_BODY = b"125.5,14,3.2,0,2,400,1,0.02\n"


def exchange(server: Server, raw: bytes) -> tuple[int, dict[str, str], bytes, bool]:
    """Send raw bytes, read one answer: (status, headers, body, whether the server closed the connection after it)."""
    with socket_to(server) as sock:
        sock.sendall(raw)
        status, headers, body = read_answer(sock)
        sock.settimeout(5)
        closed = sock.recv(1) == b""
    return status, headers, body, closed


def _post(content_length: str, method: str = "POST") -> bytes:
    return (
        f"{method} /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: {content_length}\r\n"
        "\r\n125.5,14,3.2,0,2,400,1,0.02\n"
    ).encode()


#: Requests the HTTP parser (httptools, llhttp) refuses before the app runs: (raw bytes, status, what the error says).
NOT_HTTP = {
    "content-length-word": (_post("ten"), 400, "invalid Content-Length header"),
    "content-length-negative": (_post("-1"), 400, "invalid Content-Length header"),
    "content-length-exponent": (_post("1e3"), 400, "invalid Content-Length header"),
    "content-length-list": (_post("12, 12"), 400, "invalid Content-Length header"),
    "content-length-enormous": (_post("99999999999999999999999999"), 400, "invalid Content-Length header"),
    "method-not-a-token": (_post("28", method="G(T"), 400, "invalid method"),
    "method-lower-case": (_post("28", method="post"), 400, "methods are upper-case words"),
    "method-unknown": (_post("28", method="BREW"), 400, "invalid method"),
    "garbage-request-line": (b"GARBAGE\r\n\r\n", 400, "use GET /ping or POST /invocations"),
    "http-version": (b"GET /ping HTTP/9.9\r\nHost: x\r\n\r\n", 400, "the request line is not"),
    "header-line": (b"GET /ping HTTP/1.1\r\nHo st: x\r\n\r\n", 400, "send header lines as 'Name: value'"),
    "transfer-encoding-gzip": (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
        "unsupported Transfer-Encoding",
    ),
    "content-length-and-chunked": (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "not both",
    ),
    "bad-chunk-size": (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
        "invalid chunked body",
    ),
    "headers-over-64-kb": (
        b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 1_000_000 + b"\r\n\r\n",
        431,
        "the request line and headers are over 65536 bytes",
    ),
    "many-headers-over-64-kb": (
        b"GET /ping HTTP/1.1\r\n" + b"".join(b"X-%d: %s\r\n" % (n, b"a" * 1000) for n in range(100)) + b"\r\n",
        431,
        "the request line and headers are over 65536 bytes",
    ),
}


@pytest.mark.parametrize(("raw", "status", "says"), list(NOT_HTTP.values()), ids=list(NOT_HTTP))
def test_a_request_that_is_not_http_gets_a_json_4xx_and_a_closed_connection(
    server: Server, raw: bytes, status: int, says: str
) -> None:
    # Given a request the HTTP parser cannot read: the app never sees it
    # When it is sent, all of it (the server reads what follows a refusal before it closes)
    answer, headers, body, closed = exchange(server, raw)
    # Then it is a 4xx in JSON saying what to fix (no stack trace or internal detail), and the connection is closed
    assert answer == status, (answer, body[:200])
    assert headers["content-type"] == "application/json"
    assert says in json.loads(body)["error"]
    assert headers.get("connection") == "close"
    assert closed


def test_a_refused_request_is_logged_with_its_reason(trained_job: TrainedJob) -> None:
    running = start_server(trained_job.model_dir, workers=1)
    try:
        exchange(running, _post("ten"))
        running.process.send_signal(signal.SIGTERM)
        running.process.wait(timeout=30)
        output = running.process.stdout.read() if running.process.stdout else ""
    finally:
        stop_server(running)
    assert "refused a request from 127.0.0.1: 400 invalid Content-Length header" in output


@pytest.mark.parametrize("method", ["PROPFIND", "DELETE"])
def test_a_method_the_server_does_not_serve_is_a_405_json_error(server: Server, method: str) -> None:
    # Given a well-formed request with a method HTTP defines and the server does not serve
    raw = f"{method} /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
    # When it is sent
    status, headers, body, _ = exchange(server, raw)
    # Then the app answers 405 in JSON, naming what to use
    assert status == 405, (status, body[:200])
    assert headers["content-type"] == "application/json"
    assert b"use POST" in body


def _is_worker(cmdline: Path) -> bool:
    """A process multiprocessing spawned (not its resource tracker, the master's other child)."""
    try:
        return b"spawn_main" in cmdline.read_bytes()
    except OSError:
        return False


def worker_pids(server: Server) -> list[int]:
    """The server's worker processes: the children of its process that multiprocessing spawned."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server.process.pid and fields[0] != "Z" and _is_worker(stat.parent / "cmdline"):
            children.append(int(stat.parent.name))
    return sorted(children)


def cpu_ticks(pid: int) -> int:
    """User plus system CPU time of ``pid``, in clock ticks (``/proc/<pid>/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def drive(server: Server, connections: int, seconds: float) -> list[int]:
    """``connections`` keep-alive clients posting one row each, back to back, for ``seconds``; their statuses."""
    deadline = time.monotonic() + seconds
    statuses: list[int] = []

    def client() -> None:
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            while time.monotonic() < deadline:
                connection.request("POST", "/invocations", body=ROW_BODY, headers={"Content-Type": "text/csv"})
                answer = connection.getresponse()
                answer.read()
                statuses.append(answer.status)
        finally:
            connection.close()

    clients = [threading.Thread(target=client) for _ in range(connections)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    return statuses


def test_keep_alive_connections_are_spread_over_the_workers(server: Server) -> None:
    # Given the session's server with 2 workers
    workers = worker_pids(server)
    assert len(workers) == 2
    before = [cpu_ticks(pid) for pid in workers]
    # When 16 keep-alive connections post rows for two seconds
    statuses = drive(server, connections=16, seconds=2.0)
    used = [cpu_ticks(pid) - start for pid, start in zip(workers, before, strict=True)]
    # Then every request succeeded and both workers did a share of the work (not one worker and an idle one)
    assert statuses
    assert set(statuses) == {200}
    assert min(used) >= 0.05 * sum(used) > 0, used


STALLED = b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 100\r\n\r\n125.5,"


def test_a_client_that_stalls_its_body_does_not_hold_up_the_worker(trained_job: TrainedJob) -> None:
    # Given a server with one worker (and its default threads)
    running = start_server(trained_job.model_dir, workers=1)
    try:
        with socket_to(running) as stalled:
            # When a client declares a 100-byte body, sends 6 bytes of it and stops
            stalled.sendall(STALLED)
            time.sleep(0.3)
            # Then the worker still serves other clients meanwhile
            assert request(running, "GET", "/ping")[0] == 200
            assert request(running, "POST", "/invocations", ROW_BODY, {"Content-Type": "text/csv"})[0] == 200
    finally:
        stop_server(running)


def test_sigterm_stops_a_worker_held_by_a_stalled_client_within_the_timeout(trained_job: TrainedJob) -> None:
    # Given a server whose SAGEMAKER_MODEL_SERVER_TIMEOUT is 2 s, and a client stalled in the middle of its body
    running = start_server(trained_job.model_dir, workers=1, SAGEMAKER_MODEL_SERVER_TIMEOUT="2")
    try:
        with socket_to(running) as stalled:
            stalled.sendall(STALLED)
            time.sleep(0.3)
            # When the server receives SIGTERM
            started = time.monotonic()
            running.process.send_signal(signal.SIGTERM)
            code = running.process.wait(timeout=30)
            took = time.monotonic() - started
    finally:
        stop_server(running)
    # Then the worker is stopped once the timeout has passed, not held forever, and the server exits 0
    assert code == 0
    assert 1.5 <= took < 15, took


def test_a_worker_that_dies_is_replaced(trained_job: TrainedJob) -> None:
    # Given a server with one worker
    running = start_server(trained_job.model_dir, workers=1)
    try:
        [first] = worker_pids(running)
        # When the worker is killed
        os.kill(first, signal.SIGKILL)
        # Then a new worker answers, and the server kept running
        deadline = time.monotonic() + 30
        while not (set(worker_pids(running)) - {first} and _pings(running)):
            assert running.process.poll() is None, "the server stopped"
            assert time.monotonic() < deadline, "no new worker answered within 30 s"
            time.sleep(0.2)
    finally:
        stop_server(running)


def _pings(server: Server) -> bool:
    try:
        return request(server, "GET", "/ping")[0] == 200
    except OSError:
        return False


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(trained_job: TrainedJob) -> None:
    running = start_server(trained_job.model_dir, workers=1)
    body = csv_body([[125.5, 14, 3.2, 0, 2, 400, 1, 0.02]])
    try:
        with socket_to(running) as sock:
            # Given a request in flight: its headers and the start of its body sent, the rest still to come
            head = f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: {len(body)}\r\n"
            sock.sendall(head.encode() + b"\r\n" + body[:10])
            time.sleep(0.5)
            # When the server receives SIGTERM, and then the rest of the body arrives
            running.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            sock.sendall(body[10:])
            status, _, answer = read_answer(sock)
        code = running.process.wait(timeout=30)
        output = running.process.stdout.read() if running.process.stdout else ""
    finally:
        stop_server(running)
    # Then the request is scored, and the server exits 0, having said where it listened
    assert status == 200, answer[:200]
    assert b'"predictions"' in answer
    assert code == 0
    listening = f"inference server listening on http://127.0.0.1:{running.port} (1 workers, model fraud-train-test-1, "
    assert listening in output


def test_a_missing_model_dir_stops_the_server_with_a_clear_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "inference.serve"],
        env={"SM_MODEL_DIR": str(tmp_path / "none"), "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"inference server cannot start: model directory {tmp_path / 'none'} does not exist" in result.stderr


def test_a_port_in_use_stops_the_server_with_a_clear_message(trained_job: TrainedJob) -> None:
    # Given a port another process listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # When the server is started on it
        env = {
            "SM_MODEL_DIR": str(trained_job.model_dir),
            "SAGEMAKER_BIND_TO_PORT": str(port),
            "SERVE_HOST": "127.0.0.1",
            "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
            "PYTHONPATH": str(REPO),
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run(
            [sys.executable, "-m", "inference.serve"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
        )
    # Then it exits 2 with one line naming the address and the reason, no traceback
    assert result.returncode == 2
    assert f"inference server cannot serve on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
