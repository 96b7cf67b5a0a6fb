"""``python -m offline run --serve`` as a user drives it from two shells.

The run's printed hints are executed as printed, from "another shell" (a subprocess with the
printed exports). An execution started there is followed in the serving terminal like the
first, and Ctrl-C ends with a summary and exit status 0.
"""

from __future__ import annotations

import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from offline.deploy.assembly import REPO_ROOT, Assembly

pytestmark = pytest.mark.slow


class Terminal:
    """A running ``python -m offline run`` whose output lines are read as they come."""

    def __init__(self, arguments: list[str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "offline", "run", *arguments],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._new.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} in time; last lines:\n" + "\n".join(self.lines[-30:]))

    def output(self) -> str:
        while not self._new.empty():
            self.lines.append(self._new.get())
        return "\n".join(self.lines)


def _section(lines: list[str], after: str, until: str) -> list[str]:
    start = next(i for i, line in enumerate(lines) if after in line) + 1
    end = next(i for i in range(start, len(lines)) if until in lines[i])
    return [line.split(" ", 1)[1].strip() for line in lines[start:end]]


def test_serve_follows_runs_from_another_shell_and_stops_cleanly_on_ctrl_c(assembly: Assembly, tmp_path: Path) -> None:
    terminal = Terminal(
        ["--assembly", str(assembly.directory), "--rows", "4000", "--serve", "--workdir", str(tmp_path)]
    )
    try:
        terminal.wait_for("serving; try:")
        lines = terminal.lines
        # The printed exports, and the commands printed for after them
        (export,) = _section(lines, "from another shell, export:", "and run, for example:")
        variables = dict(item.split("=", 1) for item in shlex.split(export)[1:])
        shell = {**os.environ, **variables, "PATH": f"{REPO_ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        commands = _section(lines, "and run, for example:", "(AWS CLI v2 also needs")
        per_command = _section(lines, "name the endpoint per command:", "notifications (read from")
        bare = {name: value for name, value in shell.items() if not name.startswith("AWS_ENDPOINT_URL")}
        # When another shell runs each of them as printed
        outputs = {}
        for command, environment in [(c, shell) for c in commands] + [(c, bare) for c in per_command]:
            done = subprocess.run(
                ["bash", "-c", command], cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, f"{command}\n{done.stdout[-1500:]}{done.stderr[-1500:]}"
            outputs[command] = done.stdout
        # Then each worked: the endpoint answered a prediction through the local runtime, twice
        invokes = [out for command, out in outputs.items() if "invoke-endpoint" in command]
        assert len(invokes) == 2
        for out in invokes:
            # The body goes to /dev/stdout first, then the CLI prints its own JSON (the content type)
            answer, _end = json.JSONDecoder().raw_decode(out)
            assert answer["predictions"][0]["label"] in (0, 1)
        # And the run make retrain started is followed in the serving terminal to its end
        retrain = next(out for command, out in outputs.items() if command.startswith("make retrain"))
        arn = next(word for word in retrain.split() if word.startswith("arn:aws:states:"))
        label = arn.rsplit(":", 1)[-1][:8]
        terminal.wait_for(f"[{label}] execution started")
        terminal.wait_for(f"[{label}] SUCCEEDED")
        # And so is the deployment of the version it registered
        terminal.wait_for("version 2 deployed to fraud-detector-dev")
        # When Ctrl-C is pressed
        terminal.process.send_signal(signal.SIGINT)
        code = terminal.process.wait(timeout=60)
    finally:
        if terminal.process.poll() is None:
            terminal.process.kill()
    # Then it says what happened while serving and exits 0
    output = terminal.output()
    (stopped,) = [line for line in output.splitlines() if "stopped (Ctrl-C). While serving:" in line]
    assert "2 execution(s) started" in stopped
    assert f"{arn.rsplit(':', 1)[-1]} SUCCEEDED" in stopped
    assert stopped.count("SUCCEEDED") == 2
    assert "exit status 0" in output
    assert code == 0
