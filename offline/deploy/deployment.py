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

    def state_machine(self) -> StateMachine:
        if len(self.state_machines) != 1:
            raise ProvisionError(f"expected one state machine in the app, found {len(self.state_machines)}")
        return self.state_machines[0]

    def lambda_with_handler(self, handler: str) -> LambdaSpec:
        for spec in self.lambdas:
            if spec.handler == handler:
                return spec
        raise ProvisionError(f"no Lambda with handler {handler}; have {', '.join(s.handler for s in self.lambdas)}")
