"""Synthesized apps shared by the infrastructure tests (synth is the slow part, so once per env)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from app import Stacks, build
from stacks.config import EnvironmentConfig, load_environment

REPO = Path(__file__).resolve().parents[2]
CDK_CONTEXT: dict[str, Any] = json.loads((REPO / "cdk.json").read_text())["context"]


def make_app(env_name: str, outdir: Path, **overrides: Any) -> tuple[cdk.App, Stacks, EnvironmentConfig]:
    """Build one environment's stacks the way app.py does, from the real cdk.json."""
    context = json.loads(json.dumps(CDK_CONTEXT))
    context["environments"][env_name].update(overrides)
    config = load_environment(context, env_name)
    app = cdk.App(outdir=str(outdir), context=context)
    return app, build(app, config), config


class Synthesized:
    """One environment's stacks, their templates and its parsed state machine definition."""

    def __init__(self, env_name: str, outdir: Path, **overrides: Any) -> None:
        self.app, self.stacks, self.config = make_app(env_name, outdir, **overrides)
        self.storage = Template.from_stack(self.stacks.storage)
        self.pipeline = Template.from_stack(self.stacks.pipeline)
        self.inference = Template.from_stack(self.stacks.inference)
        account = self.stacks.api_gateway_account
        #: The account-wide API Gateway settings stack; None where config leaves that role to someone else.
        self.api_gateway_account = Template.from_stack(account) if account is not None else None

    def state_machine_definition(self, which: str = "retraining") -> dict[str, Any]:
        """One state machine's ASL (``retraining``, ``deployment``, ``batch`` or ``drift``), parsed;
        CloudFormation references become ``${Ref}`` / ``${Logical.Attr}`` strings."""
        prefixes = {
            "retraining": "WorkflowStateMachine",
            "deployment": "DeploymentStateMachine",
            "batch": "BatchStateMachine",
            "drift": "DriftStateMachine",
        }
        prefix = prefixes[which]
        machines = self.pipeline.find_resources("AWS::StepFunctions::StateMachine")
        (machine,) = [m for logical_id, m in machines.items() if logical_id.startswith(prefix)]
        return parse_definition(machine["Properties"]["DefinitionString"])

    def combined_definition(self) -> dict[str, Any]:
        """Both state machines' states in one ``States`` map (their state names are unique across the app)."""
        states: dict[str, Any] = {}
        for which in ("retraining", "deployment"):
            states.update(self.state_machine_definition(which)["States"])
        return {"States": states}


def _placeholder(value: Any) -> str:
    if isinstance(value, dict) and "Ref" in value:
        return "${" + str(value["Ref"]) + "}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "${" + ".".join(value["Fn::GetAtt"]) + "}"
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        return "${Import:" + str(value["Fn::ImportValue"]) + "}"
    raise AssertionError(f"unexpected intrinsic in the definition: {value}")


def parse_definition(definition: Any) -> dict[str, Any]:
    if isinstance(definition, str):
        return dict(json.loads(definition))
    parts = definition["Fn::Join"][1]
    text = "".join(part if isinstance(part, str) else _placeholder(part) for part in parts)
    return dict(json.loads(text))


def walk_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every state, including those inside Parallel branches."""
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from walk_states(branch["States"])


def state_names_matching(definition: dict[str, Any], pattern: str) -> list[str]:
    return [name for name, _ in walk_states(definition["States"]) if re.search(pattern, name)]


@pytest.fixture(scope="session")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return Synthesized("dev", tmp_path_factory.mktemp("cdk-dev"))


@pytest.fixture(scope="session")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return Synthesized("prod", tmp_path_factory.mktemp("cdk-prod"))


@pytest.fixture(scope="session")
def definition(dev: Synthesized) -> dict[str, Any]:
    """Both state machines' states: most checks (catches, retries, integrations) hold for every state."""
    return dev.combined_definition()


@pytest.fixture(scope="session")
def retraining(dev: Synthesized) -> dict[str, Any]:
    return dev.state_machine_definition("retraining")


@pytest.fixture(scope="session")
def deployment(dev: Synthesized) -> dict[str, Any]:
    return dev.state_machine_definition("deployment")
