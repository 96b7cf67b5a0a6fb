"""``python -m offline run`` refuses bad options in one line, with exit 2, before it synthesizes anything."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from offline.deploy.assembly import REPO_ROOT, Assembly
from offline.run import cli
from offline.run.faults import error_path_tasks, failable_states
from offline.run.usage import ERROR_PATH_STATES, NORMAL_PATH_STATES
from offline.run.workdir_lock import WorkdirBusyError, locked
from tests.e2e.conftest import state_machine_definition, synthesized_app


@pytest.fixture
def no_synth(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> Assembly:
        raise AssertionError("a usage error must be reported before any synth")

    monkeypatch.setattr(cli, "synthesize", refuse)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--rows", "50"], "--rows 50: at least 1000 rows are needed"),
        (["--runs", "0"], "--runs 0: at least one run"),
        (["--max-wait", "-1"], "--max-wait -1: a wait cannot be negative"),
        (["--env", "qa"], "unknown environment 'qa'; cdk.json defines: dev, prod, stage (choose with --env NAME)"),
        (["--fail-at", "Trian"], "--fail-at 'Trian' is not a Task state of the pipeline; choose one of: Initiate,"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2_before_any_synth(
    no_synth: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    code = cli.main(["run", "--workdir", str(tmp_path), *arguments])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {message}")
    assert err.count("\n") == 1


def test_a_directory_that_is_not_an_assembly_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["run", "--assembly", str(tmp_path)]) == 2
    assert "is not a cloud assembly (it has no manifest.json)" in capsys.readouterr().err


def test_help_describes_the_run_the_options_the_states_and_the_exit_codes() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "offline", "run", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "120"},
    )
    text = completed.stdout
    assert "uploads a" in text
    assert "_SUCCESS" in text
    for option in ("--env", "--assembly", "--rows", "--runs", "--fail-at", "--serve", "--workdir", "--max-wait", "-v"):
        assert option in text
    for state in NORMAL_PATH_STATES + ERROR_PATH_STATES:
        assert state in text
    for code in ("0 ", "1 ", "2 ", "130"):
        assert f"\n  {code}" in text


@pytest.mark.slow
def test_the_states_listed_are_the_synthesized_definitions() -> None:
    # The list is checked before synth, so it must be exactly what the definition holds
    definition = state_machine_definition(synthesized_app())
    assert list(NORMAL_PATH_STATES) == failable_states(definition)
    assert list(ERROR_PATH_STATES) == error_path_tasks(definition)


def test_a_second_run_in_the_same_workdir_is_refused_naming_the_first(
    no_synth: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run holding the work directory
    with locked(tmp_path):
        # When another starts there
        code = cli.main(["run", "--workdir", str(tmp_path)])
    # Then it is refused with the holder's pid and the way out
    err = capsys.readouterr().err
    assert code == 2
    assert f"another offline run (pid {os.getpid()}) is using {tmp_path}" in err
    assert "--workdir DIR" in err


def test_the_lock_is_released_when_its_holder_ends(tmp_path: Path) -> None:
    with locked(tmp_path), pytest.raises(WorkdirBusyError), locked(tmp_path):
        pass
    with locked(tmp_path):
        pass
