"""What the deploy step created: physical names, attributes, and what offline mode drives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from offline.services.cloudformation import StackOutput
from offline.services.lambda_runtime import LambdaSpec


class ProvisionError(RuntimeError):
    """A resource could not be created; the message reads like CloudFormation's CREATE_FAILED."""


@dataclass
class Deployed:
    """A resource's physical value (what ``Ref`` returns) and its ``GetAtt`` attributes."""

    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)
    created: bool = True


@dataclass(frozen=True)
class StateMachine:
    arn: str
    name: str
    definition: dict[str, Any]
    stack: str
    logical_id: str
    role_arn: str = ""


@dataclass(frozen=True)
class Rule:
    name: str
    arn: str
    event_pattern: dict[str, Any] | None
    schedule: str | None
    enabled: bool
    targets: list[dict[str, Any]]


#: Each of the app's state machines by kind: the start of its logical id (its construct path).
MACHINE_LOGICAL_PREFIXES = {
    "retraining": "WorkflowStateMachine",
    "deployment": "DeploymentStateMachine",
    "batch": "BatchStateMachine",
    "drift": "DriftStateMachine",
}


@dataclass
class Deployment:
    """What offline mode needs to know about the resources it created."""

    state_machines: list[StateMachine] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    buckets: dict[str, str] = field(default_factory=dict)
    lambdas: list[LambdaSpec] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    resources: dict[tuple[str, str], Deployed] = field(default_factory=dict)
    #: Each stack's outputs, resolved: what ``describe-stacks`` answers.
    outputs: dict[str, list[StackOutput]] = field(default_factory=dict)

    def started_by(self, source: str) -> StateMachine:
        """The state machine that rules on events from ``source`` (``aws.s3``, ``aws.sagemaker``) start."""
        for rule in self.rules:
            if source not in (rule.event_pattern or {}).get("source", []):
                continue
            for target in rule.targets:
                for machine in self.state_machines:
                    if machine.arn == target.get("Arn"):
                        return machine
        names = ", ".join(m.name for m in self.state_machines) or "none"
        raise ProvisionError(f"no rule on {source} events starts a state machine (state machines: {names})")

    def machine(self, kind: str) -> StateMachine:
        """The state machine of ``kind`` (``retraining``, ``deployment``, ``batch``, ``drift``)."""
        prefix = MACHINE_LOGICAL_PREFIXES[kind]
        for machine in self.state_machines:
            if machine.logical_id.startswith(prefix):
                return machine
        names = ", ".join(m.logical_id for m in self.state_machines) or "none"
        raise ProvisionError(f"no {kind} state machine (logical id {prefix}*) among: {names}")

    def state_machine(self) -> StateMachine:
        """The retraining state machine: the one a complete dataset under ``incoming/`` starts (the batch
        state machine is started by S3 events too, so the rule alone does not tell them apart)."""
        return self.machine("retraining")

    def deployment_state_machine(self) -> StateMachine:
        """The deployment state machine: the one the registry's approval events start."""
        return self.started_by("aws.sagemaker")

    def combined_definition(self) -> dict[str, Any]:
        """Every state machine's states in one definition (state names are unique across the app's machines),
        walked from each machine's start in turn (``Starts``: the retraining machine's first)."""
        machines = sorted(self.state_machines, key=lambda m: m.arn != self.state_machine().arn)
        states: dict[str, Any] = {}
        for machine in machines:
            states.update(machine.definition.get("States", {}))
        starts = [m.definition["StartAt"] for m in machines]
        return {"StartAt": starts[0], "Starts": starts, "States": states}

    def lambda_with_handler(self, handler: str) -> LambdaSpec:
        for spec in self.lambdas:
            if spec.handler == handler:
                return spec
        raise ProvisionError(f"no Lambda with handler {handler}; have {', '.join(s.handler for s in self.lambdas)}")
