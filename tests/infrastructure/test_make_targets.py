"""``make synth`` / ``make diff``: what the Makefile asks of the pinned CDK CLI, and what synth leaves in cdk.out."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from stacks.api_gateway_account_stack import STACK_NAME
from tests.infrastructure.conftest import REPO

CDK = "node_modules/.bin/cdk"


def _dry_run(target: str, *variables: str) -> list[list[str]]:
    """The commands ``make -n`` would run for ``target`` (``install`` taken as up to date), split into words."""
    completed = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", "install", target, *variables],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return [shlex.split(line) for line in completed.stdout.splitlines() if line.strip()]


def _cdk_command(commands: list[list[str]], verb: str) -> list[str]:
    (command,) = [c for c in commands if c[:2] == [CDK, verb]]
    return command


@pytest.mark.parametrize("verb", ["synth", "diff"])
def test_synth_and_diff_pass_only_options_the_pinned_cli_knows(verb: str) -> None:
    # Given the Makefile's synth or diff target for prod
    # When make prints the commands it would run
    command = _cdk_command(_dry_run(verb, "ENV=prod"), verb)
    # Then the CLI gets the environment and no --all (synth and diff take every stack without it, and warn on it)
    assert "--all" not in command
    assert command[command.index("-c") + 1] == "env=prod"


def test_synth_removes_the_previous_cloud_assembly_first() -> None:
    # Given the Makefile's synth target
    commands = _dry_run("synth", "ENV=dev")
    # When its commands are read in order
    synth = _cdk_command(commands, "synth")
    removals = [i for i, c in enumerate(commands) if c[:2] == ["rm", "-rf"] and "cdk.out" in c]
    # Then cdk.out is removed before the CLI writes the new assembly into it
    assert removals
    assert removals[0] < commands.index(synth)
    assert synth[synth.index("--output") + 1] == "cdk.out"


@pytest.mark.slow
def test_synth_leaves_only_the_chosen_environments_templates(tmp_path: Path) -> None:
    # Given cdk.out still holding another environment's assembly from an earlier synth
    out = tmp_path / "cdk.out"
    out.mkdir()
    for part in ("Storage", "Pipeline", "Inference"):
        (out / f"FraudPipeline-stage-{part}.template.json").write_text("{}")
    (out / "manifest.json").write_text('{"artifacts": {"FraudPipeline-stage-Storage": {}}}')
    # When `make synth ENV=dev` runs the pinned CLI into it
    completed = subprocess.run(
        ["make", "--no-print-directory", "-o", "install", "synth", "ENV=dev", f"CDK_OUT={out}"],
        cwd=REPO,
        env={**os.environ, "CI": "true"},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    # Then cdk.out holds dev's stacks and the account-wide stack, and nothing of stage
    templates = sorted(p.name.removesuffix(".template.json") for p in out.glob("*.template.json"))
    assert templates == sorted(
        [STACK_NAME, "FraudPipeline-dev-Inference", "FraudPipeline-dev-Pipeline", "FraudPipeline-dev-Storage"]
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert not [name for name in manifest["artifacts"] if "stage" in name]
    # And the CLI accepted every option it was given
    assert "Unknown option" not in completed.stdout + completed.stderr
