"""What drives the pipeline: the state machine, EventBridge rules and CloudWatch alarms.

Creating a state machine is where Step Functions checks its role (Step Functions API
Reference, CreateStateMachine errors, and the Developer Guide pages named in
``offline.services.iam.integrations``):

* the role must trust ``states.amazonaws.com`` for this state machine ("Neither the global
  service principal states.amazonaws.com, nor the regional one is authorized to assume the
  provided role");
* with logging to CloudWatch Logs, the role needs the log-delivery actions ("The state
  machine IAM Role is not authorized to access the Log Destination");
* each ``.sync`` integration needs the role to manage its EventBridge rule ("... is not
  authorized to create managed-rule").

A failure stops the deploy, as the CloudFormation resource would fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from offline.deploy.assembly import StackArtifact
from offline.deploy.deployment import Deployed, ProvisionError, Rule, StateMachine
from offline.services.iam import integrations
from offline.services.iam.authorizer import AccessDeniedError
from offline.services.iam.enforcement import STEP_FUNCTIONS, Iam

if TYPE_CHECKING:
    from offline.deploy.provision import Provisioner


def state_machine(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    name = props.get("StateMachineName") or p.name(stack, logical_id, limit=80)
    definition = props.get("DefinitionString") or json.dumps(props.get("Definition"))
    for placeholder, value in (props.get("DefinitionSubstitutions") or {}).items():
        definition = definition.replace("${" + placeholder + "}", str(value))
    definition = without_escaped_quotes(definition)
    role = str(props.get("RoleArn") or p.arn("iam", "role/offline-states", region=False))
    arn = p.arn("states", f"stateMachine:{name}")
    if p.iam is not None:
        _check_role(p.iam, role, arn, json.loads(definition), props)
    created = p.aws.client("stepfunctions").create_state_machine(
        name=name, definition=definition, roleArn=role, type=props.get("StateMachineType", "STANDARD")
    )["stateMachineArn"]
    p.deployment.state_machines.append(
        StateMachine(created, name, json.loads(definition), stack.name, logical_id, role_arn=role)
    )
    return Deployed(ref=created, attributes={"Arn": created, "Name": name})


def _check_role(iam: Iam, role: str, arn: str, definition: dict[str, Any], props: dict[str, Any]) -> None:
    if not iam.sessions.trust(role, service=STEP_FUNCTIONS, source_arn=arn).allowed:
        raise ProvisionError(
            "Neither the global service principal states.amazonaws.com, nor the regional one is authorized to "
            f"assume the provided role. (Service: AWSStepFunctions; Error Code: AccessDeniedException) (role {role})"
        )
    credentials = iam.assume(role, service=STEP_FUNCTIONS, source_arn=arn)
    logging = props.get("LoggingConfiguration") or {}
    if logging.get("Destinations"):
        for row in integrations.LOG_DELIVERY:
            try:
                iam.require(credentials, row.action, row.resource, via="CreateStateMachine (logging)")
            except AccessDeniedError as denied:
                raise ProvisionError(
                    "Invalid Logging Configuration: The state machine IAM Role is not authorized to access the "
                    f"Log Destination (Service: AWSStepFunctions; Error Code: InvalidLoggingConfiguration). {denied}"
                ) from None
    for integration in sorted({name for name in _integrations(definition) if name}):
        for row in integrations.calls(integration, "deploy"):
            resource = integrations.resource_of(row, {}, partition="aws", region=iam.region, account=iam.account)
            try:
                iam.require(credentials, row.action, resource, via=f"CreateStateMachine ({integration})")
            except AccessDeniedError as denied:
                raise ProvisionError(
                    f"'{role}' is not authorized to create managed-rule. (Service: AWSStepFunctions; "
                    f"Error Code: AccessDeniedException). {denied}"
                ) from None


def _integrations(definition: dict[str, Any]) -> Iterator[str | None]:
    for state in definition.get("States", {}).values():
        if state.get("Type") == "Task":
            yield integrations.integration_of(str(state.get("Resource", "")))
        for branch in state.get("Branches", []):
            yield from _integrations(branch)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _integrations(processor)


def rule(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    name = props.get("Name") or p.name(stack, logical_id)
    events = p.aws.client("events")
    pattern = props.get("EventPattern")
    arguments: dict[str, Any] = {"Name": name, "State": props.get("State", "ENABLED")}
    if pattern is not None:
        arguments["EventPattern"] = json.dumps(pattern)
    if props.get("ScheduleExpression"):
        arguments["ScheduleExpression"] = props["ScheduleExpression"]
    arn = events.put_rule(**arguments)["RuleArn"]
    targets = list(props.get("Targets", []))
    if targets:
        events.put_targets(Rule=name, Targets=[_target_for_api(t) for t in targets])
    p.deployment.rules.append(
        Rule(name, arn, pattern, props.get("ScheduleExpression"), arguments["State"] == "ENABLED", targets)
    )
    return Deployed(ref=name, attributes={"Arn": arn})


def alarm(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    name = props.get("AlarmName") or p.name(stack, logical_id, limit=255)
    allowed = (
        "AlarmDescription",
        "ActionsEnabled",
        "AlarmActions",
        "OKActions",
        "InsufficientDataActions",
        "MetricName",
        "Namespace",
        "Statistic",
        "ExtendedStatistic",
        "Dimensions",
        "Period",
        "EvaluationPeriods",
        "DatapointsToAlarm",
        "Threshold",
        "ComparisonOperator",
        "TreatMissingData",
        "Metrics",
    )
    arguments = {key: props[key] for key in allowed if key in props}
    p.aws.client("cloudwatch").put_metric_alarm(AlarmName=name, **arguments)
    p.deployment.alarms.append(name)
    return Deployed(ref=name, attributes={"Arn": p.arn("cloudwatch", f"alarm:{name}")})


def without_escaped_quotes(definition: str) -> str:
    """Replace ``\\'`` (an escaped quote inside an intrinsic function's string) with U+2019.

    AWS accepts ``States.Format('it\\'s {}', ...)``; moto's intrinsic-function lexer cannot
    read the escape and fails the state with States.Runtime. A typographic apostrophe (U+2019) keeps
    the message readable (a documented difference of offline mode).
    """
    return definition.replace("\\\\'", "\u2019")


def _target_for_api(target: dict[str, Any]) -> dict[str, Any]:
    allowed = ("Id", "Arn", "RoleArn", "Input", "InputPath", "InputTransformer", "RetryPolicy", "DeadLetterConfig")
    return {key: target[key] for key in allowed if key in target}
