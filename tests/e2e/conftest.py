"""One synthesized app for every e2e test (synth takes a while), and the definition's states."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from offline.deploy.assembly import REPO_ROOT, Assembly, synthesize
from offline.deploy.intrinsics import Pseudo, Resolver

_cache: dict[str, Assembly] = {}


def synthesized_app(env: str = "dev") -> Assembly:
    """``app.py`` synthesized for ``env``, once per test session (also used at collection time).

    Each pytest-xdist worker is its own session, with its own directory.
    """
    if env not in _cache:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        _cache[env] = synthesize(env, REPO_ROOT / ".offline" / f"test-cdk.out-{env}{'-' + worker if worker else ''}")
    return _cache[env]


class _AnyLookup:
    """Resolves every reference to a placeholder: only the definition's shape is needed."""

    def ref(self, logical_id: str) -> Any:
        return logical_id

    def get_att(self, logical_id: str, attribute: str) -> Any:
        return f"{logical_id}.{attribute}"

    def import_value(self, export_name: str) -> Any:
        return export_name


def state_machine_definition(assembly: Assembly) -> dict[str, Any]:
    """Every synthesized state machine's states in one definition (retraining and deployment; their state
    names are unique across the app), references replaced by placeholders."""
    import json

    states: dict[str, Any] = {}
    starts: list[str] = []
    for stack in assembly.stacks:
        # The retraining machine first: a run meets its states before the deployment's.
        machines = sorted(
            (item for item in stack.resources.items() if item[1]["Type"] == "AWS::StepFunctions::StateMachine"),
            key=lambda item: item[0].startswith("Deployment"),
        )
        for _logical_id, resource in machines:
            resolver = Resolver(pseudo=Pseudo("123456789012", "us-east-1", stack.name), lookup=_AnyLookup())
            definition = json.loads(resolver.resolve(resource["Properties"]["DefinitionString"]))
            states.update(definition["States"])
            starts.append(definition["StartAt"])
    if not states:
        raise LookupError("the app has no state machine")
    return {"StartAt": starts[0], "Starts": starts, "States": states}


@pytest.fixture(scope="session")
def assembly() -> Assembly:
    return synthesized_app()


@pytest.fixture(scope="session")
def definition(assembly: Assembly) -> dict[str, Any]:
    return state_machine_definition(assembly)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "offline"
