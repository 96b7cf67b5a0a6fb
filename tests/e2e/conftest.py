"""One synthesized app for every e2e test (synth takes a while), and the definition's states."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from offline.deploy.assembly import REPO_ROOT, Assembly, synthesize
from offline.deploy.intrinsics import Pseudo, Resolver

_cache: dict[str, Assembly] = {}


def synthesized_app() -> Assembly:
    """``app.py`` synthesized for dev, once per test session (also used at collection time)."""
    if "dev" not in _cache:
        _cache["dev"] = synthesize("dev", REPO_ROOT / ".offline" / "test-cdk.out-dev")
    return _cache["dev"]


class _AnyLookup:
    """Resolves every reference to a placeholder: only the definition's shape is needed."""

    def ref(self, logical_id: str) -> Any:
        return logical_id

    def get_att(self, logical_id: str, attribute: str) -> Any:
        return f"{logical_id}.{attribute}"

    def import_value(self, export_name: str) -> Any:
        return export_name


def state_machine_definition(assembly: Assembly) -> dict[str, Any]:
    """The synthesized state machine definition, references replaced by placeholders."""
    import json

    for stack in assembly.stacks:
        for resource in stack.resources.values():
            if resource["Type"] == "AWS::StepFunctions::StateMachine":
                resolver = Resolver(pseudo=Pseudo("123456789012", "us-east-1", stack.name), lookup=_AnyLookup())
                return dict(json.loads(resolver.resolve(resource["Properties"]["DefinitionString"])))
    raise LookupError("the app has no state machine")


@pytest.fixture(scope="session")
def assembly() -> Assembly:
    return synthesized_app()


@pytest.fixture(scope="session")
def definition(assembly: Assembly) -> dict[str, Any]:
    return state_machine_definition(assembly)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "offline"
