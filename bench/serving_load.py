"""Drive one server with ``wrk`` and read its workers' CPU time from ``/proc`` (``bench.serving``).

``wrk`` (C, one thread, keep-alive connections) sends the same body over and over; a Lua ``done``
hook prints the request count, errors and the 50th and 99th latency percentiles as one JSON line.
Around each run the CPU time (``utime + stime`` of ``/proc/<pid>/stat``, every thread of the process)
of each worker process is read (:func:`worker_pids`): a worker is a leaf of the process tree under
the launched process (the launched process itself when it has no children). When some leaves were
started by multiprocessing's ``spawn`` (``python -m inference.serve``'s workers, uvicorn's), the
workers are those alone; otherwise (gunicorn's and granian's forked workers) every leaf that is not
one of multiprocessing's helpers. A ``spawn`` master also runs a resource tracker, which is never
counted: an idle helper would read as an idle worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

_WRK_DONE: Final = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"socket_errors":%d,"non2xx":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""
#: Processes under a server that are not its workers (Python's multiprocessing helpers).
_HELPERS: Final = ("resource_tracker", "semaphore_tracker", "forkserver")
#: In the command line of a process that multiprocessing started with ``spawn``.
_SPAWNED: Final = "spawn_main"
_TICKS: Final = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Load:
    """One measurement's request: the body, its content type, and how many connections send it."""

    body: str
    content_type: str
    connections: int


@dataclass(frozen=True)
class Measurement:
    """What one ``wrk`` run measured, and each worker's CPU over it (1.0 = one core busy all along)."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    failures: int
    worker_cpu: tuple[float, ...]


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (field 3 onwards), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def children_by_parent() -> dict[int, list[int]]:
    """Every process's children, from ``/proc``."""
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _command(pid: int) -> str | None:
    """The command line of ``pid``, or None once it has exited."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def leaves(root: int, tree: Mapping[int, list[int]]) -> list[int]:
    """The processes under ``root`` (recursively) that have no children; ``[root]`` if it has none."""
    found: list[int] = []
    stack = [root]
    while stack:
        pid = stack.pop()
        below = tree.get(pid, [])
        if below:
            stack.extend(below)
        else:
            found.append(pid)
    return sorted(found)


def workers_among(commands: Mapping[int, str]) -> list[int]:
    """The workers among a server's leaf processes (pid: command line), in pid order.

    The ones multiprocessing spawned when there are any, else every one that is not a helper.
    """
    spawned = [pid for pid, command in commands.items() if _SPAWNED in command]
    if spawned:
        return sorted(spawned)
    return sorted(pid for pid, command in commands.items() if not any(helper in command for helper in _HELPERS))


def worker_pids(root: int) -> list[int]:
    """The worker processes of the server launched as ``root``."""
    found = leaves(root, children_by_parent())
    if found == [root]:
        return found
    return workers_among({pid: command for pid in found if (command := _command(pid)) is not None})


def wait_for_workers(root: int, count: int, timeout: float = 30) -> list[int]:
    """The workers of ``root`` once there are ``count`` of them (a server may answer before all have started).

    Returns what there is after ``timeout`` seconds if fewer ever appear.
    """
    deadline = time.monotonic() + timeout
    while len(found := worker_pids(root)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (0 once it has exited)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    # After the command name: field 14 (utime) and 15 (stime) of proc(5) are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _script(load: Load, scripts: Path) -> Path:
    digest = hashlib.sha256(f"{load.content_type}\n{load.body}".encode()).hexdigest()[:16]
    script = scripts / f"wrk-{digest}.lua"
    if not script.exists():
        script.write_text(
            f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "{load.content_type}"\n'
            f"wrk.body = [==[{load.body}]==]\n{_WRK_DONE}"
        )
    return script


def run_wrk(url: str, load: Load, seconds: int, scripts: Path) -> dict[str, int]:
    """One ``wrk`` run against ``url``/invocations; its summary line as a dict."""
    command = ["wrk", "-t1", f"-c{load.connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(_script(load, scripts)), f"{url}/invocations"]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    line = next((line for line in output.splitlines() if line.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary for {url}:\n{output[-2000:]}")
    summary: dict[str, int] = json.loads(line.removeprefix("WRKJSON "))
    return summary


def measure(url: str, root: int, load: Load, seconds: int, scripts: Path) -> Measurement:
    """Drive the server launched as ``root`` for ``seconds``; throughput, latency and its workers' CPU."""
    pids = worker_pids(root)
    before = [cpu_seconds(pid) for pid in pids]
    started = time.monotonic()
    data = run_wrk(url, load, seconds, scripts)
    wall = time.monotonic() - started
    used = [max(0.0, cpu_seconds(pid) - was) for pid, was in zip(pids, before, strict=True)]
    return Measurement(
        requests_per_second=data["requests"] / (data["duration_us"] / 1e6) if data["duration_us"] else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        failures=data["socket_errors"] + data["non2xx"],
        worker_cpu=tuple(cpu / wall for cpu in used),
    )
