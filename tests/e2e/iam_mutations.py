"""Delete one IAM statement from a synthesized assembly and see where the offline run fails.

``statements`` finds the statements under test: every statement of the state machine role's
policies, and a sample of every other principal's (the Lambda roles, the CodeBuild roles, the
SageMaker execution role, the EventBridge role, and the CloudWatch statements of the topic
and key policies). ``without`` makes the mutated assembly; ``observe`` runs it as far as the
statement's expected failure point and reports the first failure: a deploy error, a failed
state, a trigger that started nothing, a failed prediction, a degraded notification or an
alarm notification that was lost.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offline.deploy.assembly import Assembly
from offline.deploy.deployment import ProvisionError
from offline.run.progress import silent
from offline.run.session import LocalPipeline, RunResult
from tests.e2e.loop_mutations import LOOP_SCENARIOS

#: Enough rows that the run's model passes the quality gate (a rejected model deploys nothing).
ROWS = 4000
SEED = 11
INJECTED = "offline fault injected"
_NAMED_ACTION = re.compile(r"not authorized to perform: ([A-Za-z0-9-]+:[A-Za-z0-9*]+)")


@dataclass(frozen=True)
class Statement:
    """One policy statement of the assembly."""

    stack: str
    resource: str  # logical id of the policy, topic policy or key
    index: int
    principal: str  # who the statement is for, e.g. "state machine role", "InitiateRole", "topic policy"
    actions: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.principal}[{self.index}]:{','.join(self.actions)}"


@dataclass(frozen=True)
class Outcome:
    """Where the run first failed (None: nowhere) and what it said."""

    where: str | None
    message: str

    def named_actions(self) -> set[str]:
        return set(_NAMED_ACTION.findall(self.message))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _documents(resource: dict[str, Any]) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
    """(statement list, role logical id or None) of each policy document a resource carries."""
    properties = resource.get("Properties", {})
    kind = resource["Type"]
    if kind == "AWS::IAM::Policy":
        for role in properties.get("Roles", []):
            yield properties["PolicyDocument"]["Statement"], role.get("Ref") if isinstance(role, dict) else None
    elif kind == "AWS::SNS::TopicPolicy":
        yield properties["PolicyDocument"]["Statement"], None
    elif kind == "AWS::KMS::Key":
        yield properties["KeyPolicy"]["Statement"], None


def state_machine_roles(assembly: Assembly) -> dict[str, str]:
    """``{role logical id: "<retraining|deployment|batch|drift> state machine role"}``."""
    roles: dict[str, str] = {}
    for stack in assembly.stacks:
        for logical_id, resource in stack.resources.items():
            if resource["Type"] == "AWS::StepFunctions::StateMachine":
                kind = next(
                    (k.lower() for k in ("Deployment", "Batch", "Drift") if logical_id.startswith(k)), "retraining"
                )
                roles[str(resource["Properties"]["RoleArn"]["Fn::GetAtt"][0])] = f"{kind} state machine role"
    if not roles:
        raise LookupError("the app has no state machine")
    return roles


def statements(assembly: Assembly) -> list[Statement]:
    """Every statement of every policy document in the assembly."""
    machine_roles = state_machine_roles(assembly)
    found: list[Statement] = []
    for stack in assembly.stacks:
        for logical_id, resource in stack.resources.items():
            for statement_list, role in _documents(resource):
                for index, statement in enumerate(statement_list):
                    if resource["Type"] == "AWS::IAM::Policy":
                        principal = machine_roles.get(str(role), str(role))
                    else:
                        principal = "topic policy" if resource["Type"] == "AWS::SNS::TopicPolicy" else "key policy"
                        named = statement.get("Principal")
                        if not isinstance(named, dict) or named.get("Service") != "cloudwatch.amazonaws.com":
                            continue
                    actions = tuple(str(a) for a in _as_list(statement.get("Action", [])))
                    found.append(Statement(stack.name, logical_id, index, principal, actions))
    return found


def without(assembly: Assembly, statement: Statement) -> Assembly:
    """A copy of the assembly without ``statement`` (without the policy, if it was its only one:
    IAM refuses a policy with no statement)."""
    mutated = copy.deepcopy(assembly)
    resources = mutated.stack(statement.stack).template["Resources"]
    for statement_list, _ in _documents(resources[statement.resource]):
        del statement_list[statement.index]
        if not statement_list and resources[statement.resource]["Type"] == "AWS::IAM::Policy":
            del resources[statement.resource]
        break
    return mutated


def without_action(assembly: Assembly, statement: Statement, action: str) -> Assembly:
    """A copy of the assembly whose ``statement`` no longer lists ``action`` (the rest stays)."""
    mutated = copy.deepcopy(assembly)
    resource = mutated.stack(statement.stack).template["Resources"][statement.resource]
    for statement_list, _ in _documents(resource):
        kept = [a for a in _as_list(statement_list[statement.index]["Action"]) if a != action]
        assert len(kept) < len(statement.actions), f"{action} is not in {statement.label}"
        statement_list[statement.index]["Action"] = kept
        break
    return mutated


def find(assembly: Assembly, principal: str, action: str) -> Statement:
    """The one statement of ``principal`` (a prefix of its label) that lists ``action``."""
    (found,) = [s for s in statements(assembly) if s.principal.startswith(principal) and action in s.actions]
    return found


def observe(assembly: Assembly, workdir: Path, *, scenario: str) -> Outcome:
    """Run the scenario on ``assembly``; the first failure it meets."""
    fail_at = "NotifyFailure" if scenario == "notify-failure" else None
    runs = 2 if scenario == "second-run" else 1
    try:
        with LocalPipeline(assembly, workdir=workdir, fail_at=fail_at, log=silent, max_wait_seconds=0.2) as pipeline:
            if scenario == "alarm":
                return _alarm(pipeline)
            result = pipeline.run(rows=ROWS, seed=SEED)
            for number in range(1, runs):
                if not result.failed:
                    result = pipeline.run(rows=ROWS, seed=SEED + number)
            if scenario in LOOP_SCENARIOS and not result.failed:
                return LOOP_SCENARIOS[scenario](pipeline)
            return _first_failure(pipeline, result, scenario)
    except ProvisionError as error:
        return Outcome("deploy", str(error))


def _alarm(pipeline: LocalPipeline) -> Outcome:
    # An alarm offline mode does not evaluate (the API's): the endpoint's would be set back to OK by its data.
    alarm = next(name for name in pipeline.deployment.alarms if not name.startswith("fraud-detector-"))
    pipeline.aws.client("cloudwatch").set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="mutation test")
    (outcome,) = pipeline.alarms.outcomes
    return Outcome(None, "") if outcome.delivered else Outcome("alarm", outcome.detail)


def _first_failure(pipeline: LocalPipeline, result: RunResult, scenario: str) -> Outcome:
    if not result.executions:
        reasons = "; ".join(failure.reason for failure in pipeline.bridge.failures)
        return Outcome("trigger", reasons)
    if not result.failed and not result.deployments and pipeline.bridge.failures:
        # The version was registered, but EventBridge could not start the deployment.
        return Outcome("deployment trigger", "; ".join(failure.reason for failure in pipeline.bridge.failures))
    for execution in (*result.executions, *result.deployments):
        failed = _failed_state(pipeline, execution.arn)
        if failed is not None:
            return failed
    for execution in result.failed:
        return Outcome(
            "execution", f"{execution.status} without a failed state: {_execution_error(pipeline, execution.arn)}"
        )
    if scenario in ("run", "second-run") and result.succeeded:
        for note in result.notifications:
            if "(unavailable:" in note.message:
                return Outcome("notification", note.message)
        prediction = pipeline.predict(pipeline.workdir / "datasets" / result.dataset / "test.csv")
        if prediction.status != 200:
            denials = "; ".join(
                f"{d.principal} is not authorized to perform: {d.action} on resource: {d.resource} {d.reason}"
                for d in pipeline.iam.authorizer.denials()
            )
            return Outcome("predict", f"{prediction.status} {prediction.body} | {denials}")
    return Outcome(None, "")


def _failed_state(pipeline: LocalPipeline, execution_arn: str) -> Outcome | None:
    """The first state whose task failed for a reason other than an injected fault."""
    sfn = pipeline.aws.client("stepfunctions")
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events += page["events"]
    by_id = {event["id"]: event for event in events}
    for event in events:
        details = event.get("taskFailedEventDetails") or event.get("lambdaFunctionFailedEventDetails")
        if not details or INJECTED in str(details.get("cause")):
            continue
        return Outcome(_state_of(event, by_id), f"{details.get('error')}: {details.get('cause')}")
    return None


def _execution_error(pipeline: LocalPipeline, execution_arn: str) -> str:
    described = pipeline.aws.client("stepfunctions").describe_execution(executionArn=execution_arn)
    return f"{described.get('error')}: {described.get('cause')}"


def _state_of(event: dict[str, Any], by_id: dict[int, dict[str, Any]]) -> str:
    current: dict[str, Any] | None = event
    while current is not None:
        entered = current.get("stateEnteredEventDetails")
        if entered:
            return str(entered["name"])
        current = by_id.get(current.get("previousEventId", -1))
    return "?"
