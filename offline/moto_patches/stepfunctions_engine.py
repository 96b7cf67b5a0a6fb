"""Patches to moto's Step Functions engine: integrations, waits and error names.

* ``state_task_factory.state_task_service_for``: sagemaker and codebuild get
  ``offline.services.stepfunctions`` instead of "unsupported";
* ``WaitFunction._wait_interval`` and ``retrier_decl.time``: Wait states and Retry intervals
  sleep at most ``max_wait_seconds``;
* ``state_fail.CustomErrorName`` and ``branches_decl.CustomErrorName``: a Fail state may
  re-raise a caught ``States.*`` error through ``ErrorPath``, and a Parallel state passes on
  its branch's ``States.*`` error (AWS does both; moto raised ValueError and lost the Catch);
* ``state_task_service_aws_sdk._SERVICE_ERROR_NAMES``: aws-sdk SageMaker errors are named
  ``SageMaker.SageMakerException`` as in AWS, not ``sagemaker.sagemakerException``, and
  Application Auto Scaling's ``ApplicationAutoScaling.<Exception>``;
* ``StateTaskServiceLambda._error_cause_from_client_error``: a Lambda API error other than
  throttling or a service fault is ``Lambda.AWSLambdaException`` with the error code in the
  cause, as AWS reports an AccessDeniedException of the invoke;
* ``StepFunctionsParserBackend.start_execution``: an execution started without a name is
  named with a UUID, as AWS does (Step Functions API Reference, "StartExecution": "If you
  don't provide a name for the execution, Step Functions automatically generates a
  universally unique identifier (UUID) as the execution name"); moto named it "None".
"""

from __future__ import annotations

import time
import types
import uuid
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.component.state.fail import state_fail
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from offline.moto_patches._registry import original, patch
from offline.run.active import current
from offline.services import stepfunctions as integrations

#: Lambda error codes Step Functions reports under their own name; any other is Lambda.AWSLambdaException.
_NAMED_LAMBDA_ERRORS = {"TooManyRequestsException", "ServiceException", "ResourceNotFoundException"}


def install() -> None:
    patch(state_task_factory, "state_task_service_for", _state_task_service_for)
    patch(WaitFunction, "_wait_interval", _wait_interval)
    patch(retrier_decl, "time", types.SimpleNamespace(sleep=_capped_sleep))
    patch(state_fail, "CustomErrorName", _PropagatedErrorName)
    patch(branches_decl, "CustomErrorName", _PropagatedErrorName)
    patch(
        state_task_service_aws_sdk,
        "_SERVICE_ERROR_NAMES",
        _ServiceErrorNames(
            state_task_service_aws_sdk._SERVICE_ERROR_NAMES,
            sagemaker="SageMaker",
            applicationautoscaling="ApplicationAutoScaling",
        ),
    )
    patch(StateTaskServiceLambda, "_error_cause_from_client_error", staticmethod(_lambda_error_cause))
    patch(StepFunctionsParserBackend, "start_execution", _start_execution)


def _start_execution(self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any) -> Any:
    replaced = original(StepFunctionsParserBackend, "start_execution")
    if not name and current() is not None:
        name = str(uuid.uuid4())
    return replaced(self, state_machine_arn, name, *args, **kwargs)


def _state_task_service_for(service_name: str) -> Any:
    if current() is not None:
        if service_name == "sagemaker":
            return integrations.SageMakerIntegration()
        if service_name == "codebuild":
            return integrations.CodeBuildIntegration()
    return original(state_task_factory, "state_task_service_for")(service_name)


def _max_wait() -> float | None:
    active = current()
    return active.max_wait_seconds if active is not None else None


def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
    """Sleep at most the cap, once.

    moto's own loop re-enters until ``int(elapsed)`` covers the wait, so a fractional cap
    (0.2 s waits ``int(0.2) == 0`` seconds) would recurse without end.
    """
    cap = _max_wait()
    if cap is None:
        original(WaitFunction, "_wait_interval")(self, env, wait_seconds)
        return
    seconds = min(float(wait_seconds), cap)
    if seconds > 0:
        env.program_state_event.wait(seconds)


def _capped_sleep(seconds: float) -> None:
    cap = _max_wait()
    time.sleep(seconds if cap is None else min(seconds, cap))


def _lambda_error_cause(client_error: ClientError) -> tuple[str, str]:
    error, cause = original(StateTaskServiceLambda, "_error_cause_from_client_error")(client_error)
    code = client_error.response["Error"]["Code"]
    if current() is not None and code not in _NAMED_LAMBDA_ERRORS:
        error = "Lambda.AWSLambdaException"
    return error, cause


class _PropagatedErrorName(CustomErrorName):
    """An error re-raised by a Fail state or propagated out of a Parallel branch.

    Unlike a Task's custom error it may start with ``States.`` (a branch's
    ``States.TaskFailed`` surfaces from the Parallel state as is, in AWS).
    """

    def __init__(self, error_name: str | None) -> None:
        if current() is None:
            CustomErrorName.__init__(self, error_name)
        else:
            ErrorName.__init__(self, error_name=error_name)


class _ServiceErrorNames(dict[str, str]):
    """moto's aws-sdk error-name table, plus offline mode's entries while it is active."""

    def __init__(self, shipped: dict[str, str], **offline: str) -> None:
        super().__init__(shipped)
        self._offline = offline

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key) or (current() is not None and key in self._offline)

    def __getitem__(self, key: str) -> str:
        if not super().__contains__(key) and current() is not None and key in self._offline:
            return self._offline[key]
        return super().__getitem__(key)
