"""Patches to how moto's Step Functions engine runs Task states: credentials and faults.

* ``StateTask._eval_state_credentials`` and every module's ``boto_client_for``: a Task's
  calls are signed with a session of the state machine's role, which Step Functions
  assumes as ``states.amazonaws.com`` with the state machine as ``aws:SourceArn``
  (moto signs them with a dummy key), so moto's server evaluates them as that role;
* ``StateTaskServiceLambda._eval_service_task`` and ``StateTaskLambda._eval_parameters``:
  ``--fail-at`` a Lambda state makes the invocation carry a fault marker (in the Lambda
  ClientContext);
* ``StateTaskServiceAwsSdk._eval_service_task``: ``--fail-at`` an aws-sdk state rejects the
  call as the service would (and a test can make it throttle once); timestamps in answers
  become ISO 8601 text (moto kept datetimes, which broke DescribeExecution).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import importlib
import json
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda

from offline.moto_patches._registry import original, patch
from offline.run.active import current
from offline.services import stepfunctions as integrations

#: The header moto passes through for the Lambda ``ClientContext`` parameter.
CLIENT_CONTEXT_HEADER = "X-Amz-Client-Context"
FAULT_KEY = "offline-fault"

#: moto modules that import ``boto_client_for`` by name; each gets the role-session version.
BOTO_CLIENT_MODULES = (
    "moto.stepfunctions.parser.asl.utils.boto_client",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sns",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sqs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_events",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_dynamodb",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_glue",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported",
)


@dataclasses.dataclass
class SessionCredentials(StateCredentials):
    """moto's task credentials, plus the state machine the role session is for (aws:SourceArn)."""

    state_machine_arn: str | None = None


def install() -> None:
    patch(StateTask, "_eval_state_credentials", _eval_state_credentials)
    for name in BOTO_CLIENT_MODULES:
        patch(importlib.import_module(name), "boto_client_for", _boto_client_for)
    patch(StateTaskServiceLambda, "_eval_service_task", _lambda_eval_service_task)
    patch(StateTaskServiceAwsSdk, "_eval_service_task", _aws_sdk_eval_service_task)
    patch(StateTaskLambda, "_eval_parameters", _lambda_resource_parameters)


def _eval_state_credentials(self: Any, env: Any) -> StateCredentials:
    credentials = original(StateTask, "_eval_state_credentials")(self, env)
    machine = env.states.context_object.context_object_data["StateMachine"]["Id"]
    return SessionCredentials(role_arn=credentials.role_arn, state_machine_arn=machine)


def _boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    """A client signed as the state machine's role session (offline), else moto's own."""
    active = current()
    role_arn = getattr(state_credentials, "role_arn", None)
    if active is None or active.iam is None or not role_arn:
        shipped = original(importlib.import_module(BOTO_CLIENT_MODULES[0]), "boto_client_for")
        return shipped(region=region, service=service, state_credentials=state_credentials)
    return active.iam.step_functions_client(
        service,
        region=region,
        role_arn=role_arn,
        state_machine_arn=getattr(state_credentials, "state_machine_arn", None),
    )


def state_name(env: Any) -> str:
    return str(env.states.context_object.context_object_data["State"]["Name"])


def _fault_context(state: str) -> str:
    context = {"custom": {FAULT_KEY: integrations.injected_message(state)}}
    return base64.b64encode(json.dumps(context).encode()).decode()


def _lambda_eval_service_task(
    self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
) -> None:
    active = current()
    state = state_name(env)
    if active is not None and active.faults.targets(state):
        normalised_parameters["ClientContext"] = _fault_context(state)
    original(StateTaskServiceLambda, "_eval_service_task")(
        self, env, resource_runtime_part, normalised_parameters, state_credentials
    )


def _lambda_resource_parameters(self: Any, env: Any) -> dict[str, Any]:
    """A Task whose Resource is a function ARN (not ``lambda:invoke``): same fault marker."""
    parameters: dict[str, Any] = original(StateTaskLambda, "_eval_parameters")(self, env)
    active = current()
    state = state_name(env)
    if active is not None and active.faults.targets(state):
        parameters["ClientContext"] = _fault_context(state)
    return parameters


def _aws_sdk_eval_service_task(
    self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
) -> None:
    active = current()
    state = state_name(env)
    if active is not None and active.faults.targets(state):
        raise integrations.client_error(
            "ValidationException", integrations.injected_message(state), self._get_boto_service_action()
        )
    if active is not None and active.faults.take("throttle", state):
        raise integrations.client_error("ThrottlingException", "Rate exceeded", self._get_boto_service_action())
    original(StateTaskServiceAwsSdk, "_eval_service_task")(
        self, env, resource_runtime_part, normalised_parameters, state_credentials
    )
    if active is not None:
        # boto3 answers with datetimes, which moto's DescribeExecution cannot serialize; the
        # aws-sdk integrations of AWS show timestamps as ISO 8601 text.
        env.stack.append(_iso_timestamps(env.stack.pop()))


def _iso_timestamps(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _iso_timestamps(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_iso_timestamps(item) for item in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value
