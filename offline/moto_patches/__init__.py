"""Every change offline mode makes to moto's internals, in one place.

moto is pinned exactly (requirements-dev.txt) and ``tests/offline/test_moto_internals.py``
imports each symbol below and checks its signature, so an upgrade that moves one fails
loudly instead of silently running the pipeline without it. Each patch only acts while
offline mode's local services are active (``offline.run.active``); otherwise moto
behaves as shipped.

* ``state_task_factory.state_task_service_for``: sagemaker and codebuild get
  ``offline.services.stepfunctions`` instead of "unsupported";
* ``WaitFunction._wait_interval`` and ``retrier_decl.time``: Wait states and Retry intervals
  sleep at most ``max_wait_seconds``;
* ``StateTaskServiceLambda._eval_service_task``: ``--fail-at`` a Lambda state makes the
  invocation carry a fault marker (in the Lambda ClientContext);
* ``StateTaskLambda._eval_parameters``: the same for a Task whose Resource is a function ARN;
* ``StateTaskServiceAwsSdk._eval_service_task``: ``--fail-at`` an aws-sdk state rejects the
  call as the service would; timestamps in answers become ISO 8601 text (moto kept datetimes,
  which broke DescribeExecution);
* ``LambdaFunction.invoke``: runs the real handler in-process (``offline.services.lambda_runtime``);
* ``SageMakerResponse.create_*``, ``update_endpoint``, ``delete_endpoint``: real training
  jobs and endpoints, AWS's duplicate-name errors, and UpdateEndpoint (moto has none);
* ``state_fail.CustomErrorName`` and ``branches_decl.CustomErrorName``: a Fail state may
  re-raise a caught ``States.*`` error through ``ErrorPath``, and a Parallel state passes on
  its branch's ``States.*`` error (AWS does both; moto raised ValueError and lost the Catch);
* ``state_task_service_aws_sdk._SERVICE_ERROR_NAMES``: aws-sdk SageMaker errors are named
  ``SageMaker.SageMakerException`` as in AWS, not ``sagemaker.sagemakerException``;
* ``s3.notifications._send_event_bridge_message``: S3 "Object Created" events reach offline
  mode's EventBridge bridge.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import time
import types
from collections.abc import Callable
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.core.responses import ActionResult
from moto.s3 import notifications as s3_notifications
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, FakeTrainingJob
from moto.sagemaker.models import arn_formatter as sagemaker_arn
from moto.sagemaker.responses import SageMakerResponse
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.component.state.fail import state_fail
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

from offline.run.active import current
from offline.services import stepfunctions as sfn_integrations

#: The header moto passes through for the Lambda ``ClientContext`` parameter.
_CLIENT_CONTEXT_HEADER = "X-Amz-Client-Context"
_FAULT_KEY = "offline-fault"

_originals: dict[str, Any] = {}


def install() -> None:
    """Apply every patch (idempotent)."""
    if _originals:
        return
    _patch(state_task_factory, "state_task_service_for", _state_task_service_for)
    _patch(WaitFunction, "_wait_interval", _wait_interval)
    _patch(retrier_decl, "time", types.SimpleNamespace(sleep=_capped_sleep))
    _patch(StateTaskServiceLambda, "_eval_service_task", _lambda_eval_service_task)
    _patch(StateTaskServiceAwsSdk, "_eval_service_task", _aws_sdk_eval_service_task)
    _patch(StateTaskLambda, "_eval_parameters", _lambda_resource_parameters)
    _patch(LambdaFunction, "invoke", _lambda_invoke)
    _patch(SageMakerResponse, "create_training_job", _create_training_job)
    _patch(SageMakerResponse, "create_model", _create_model)
    _patch(SageMakerResponse, "create_endpoint_config", _create_endpoint_config)
    _patch(SageMakerResponse, "create_endpoint", _create_endpoint)
    _patch(SageMakerResponse, "update_endpoint", _update_endpoint)
    _patch(SageMakerResponse, "delete_endpoint", _delete_endpoint)
    _patch(s3_notifications, "_send_event_bridge_message", _send_event_bridge_message)
    _patch(state_fail, "CustomErrorName", _PropagatedErrorName)
    _patch(branches_decl, "CustomErrorName", _PropagatedErrorName)
    _patch(
        state_task_service_aws_sdk,
        "_SERVICE_ERROR_NAMES",
        _ServiceErrorNames(state_task_service_aws_sdk._SERVICE_ERROR_NAMES, sagemaker="SageMaker"),
    )


def _patch(owner: Any, name: str, replacement: Any) -> None:
    _originals[f"{getattr(owner, '__name__', owner)}.{name}"] = getattr(owner, name, None)
    setattr(owner, name, replacement)


def _original(owner: Any, name: str) -> Any:
    return _originals[f"{getattr(owner, '__name__', owner)}.{name}"]


# --- Step Functions engine -------------------------------------------------------------


def _state_task_service_for(service_name: str) -> Any:
    if current() is not None:
        if service_name == "sagemaker":
            return sfn_integrations.SageMakerIntegration()
        if service_name == "codebuild":
            return sfn_integrations.CodeBuildIntegration()
    return _original(state_task_factory, "state_task_service_for")(service_name)


def _max_wait() -> float | None:
    active = current()
    return active.max_wait_seconds if active is not None else None


def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
    cap = _max_wait()
    seconds = wait_seconds if cap is None else min(wait_seconds, cap)
    _original(WaitFunction, "_wait_interval")(self, env, seconds)


def _capped_sleep(seconds: float) -> None:
    cap = _max_wait()
    time.sleep(seconds if cap is None else min(seconds, cap))


def _state_name(env: Any) -> str:
    return str(env.states.context_object.context_object_data["State"]["Name"])


def _lambda_eval_service_task(
    self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
) -> None:
    active = current()
    state = _state_name(env)
    if active is not None and active.faults.targets(state):
        context = {"custom": {_FAULT_KEY: sfn_integrations.injected_message(state)}}
        normalised_parameters["ClientContext"] = base64.b64encode(json.dumps(context).encode()).decode()
    _original(StateTaskServiceLambda, "_eval_service_task")(
        self, env, resource_runtime_part, normalised_parameters, state_credentials
    )


def _lambda_resource_parameters(self: Any, env: Any) -> dict[str, Any]:
    """A Task whose Resource is a function ARN (not ``lambda:invoke``): same fault marker."""
    parameters: dict[str, Any] = _original(StateTaskLambda, "_eval_parameters")(self, env)
    active = current()
    state = _state_name(env)
    if active is not None and active.faults.targets(state):
        context = {"custom": {_FAULT_KEY: sfn_integrations.injected_message(state)}}
        parameters["ClientContext"] = base64.b64encode(json.dumps(context).encode()).decode()
    return parameters


def _aws_sdk_eval_service_task(
    self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
) -> None:
    active = current()
    state = _state_name(env)
    if active is not None and active.faults.targets(state):
        raise sfn_integrations.client_error(
            "ValidationException", sfn_integrations.injected_message(state), self._get_boto_service_action()
        )
    _original(StateTaskServiceAwsSdk, "_eval_service_task")(
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


# --- Lambda ----------------------------------------------------------------------------


def _fault_from_headers(headers: Any) -> str | None:
    raw = headers.get(_CLIENT_CONTEXT_HEADER) if headers is not None else None
    if not raw:
        return None
    try:
        context = json.loads(base64.b64decode(raw))
    except ValueError:
        return None
    fault = (context.get("custom") or {}).get(_FAULT_KEY)
    return str(fault) if fault else None


def _lambda_invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
    active = current()
    if active is None:
        return _original(LambdaFunction, "invoke")(self, body, request_headers, response_headers)  # type: ignore[no-any-return, unused-ignore]
    event = json.loads(body) if body else {}
    result = active.lambdas.invoke(self.function_name, event, inject_fault=_fault_from_headers(request_headers))
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    return result.payload


# --- SageMaker -------------------------------------------------------------------------


def _when_active(name: str) -> Callable[[Any], Any] | None:
    return None if current() is not None else _original(SageMakerResponse, name)


def _create_training_job(self: Any) -> Any:
    original = _when_active("create_training_job")
    if original is not None:
        return original(self)
    backend = self.sagemaker_backend
    name = self._get_param("TrainingJobName")
    if name in backend.training_jobs:
        arn = FakeTrainingJob.arn_formatter(name, backend.account_id, backend.region_name)
        raise ResourceInUseException(
            message="Training job names must be unique within an AWS account and region, and a training job "
            f"with this name already exists ({arn})"
        )
    metric_definitions = copy.deepcopy((self._get_param("AlgorithmSpecification") or {}).get("MetricDefinitions", []))
    result = _original(SageMakerResponse, "create_training_job")(self)
    job = backend.training_jobs[name]
    # moto replaces the job's MetricDefinitions with a sample; keep the caller's.
    job.algorithm_specification["MetricDefinitions"] = metric_definitions
    job.environment = self._get_param("Environment") or {}
    current().training.start(job)  # type: ignore[union-attr]
    return result


def _create_model(self: Any) -> Any:
    original = _when_active("create_model")
    if original is not None:
        return original(self)
    backend = self.sagemaker_backend
    name = self._get_param("ModelName")
    if name in backend._models:
        arn = sagemaker_arn("model", name, backend.account_id, backend.region_name)
        raise ValidationError(message=f'Cannot create already existing model "{arn}".')
    return _original(SageMakerResponse, "create_model")(self)


def _create_endpoint_config(self: Any) -> Any:
    original = _when_active("create_endpoint_config")
    if original is not None:
        return original(self)
    backend = self.sagemaker_backend
    name = self._get_param("EndpointConfigName")
    if name in backend.endpoint_configs:
        arn = FakeEndpointConfig.arn_formatter(name, backend.account_id, backend.region_name)
        raise ValidationError(message=f'Cannot create already existing endpoint configuration "{arn}".')
    return _original(SageMakerResponse, "create_endpoint_config")(self)


def _create_endpoint(self: Any) -> Any:
    original = _when_active("create_endpoint")
    if original is not None:
        return original(self)
    backend = self.sagemaker_backend
    name = self._get_param("EndpointName")
    if name in backend.endpoints:
        arn = FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
        raise ValidationError(message=f'Cannot create already existing endpoint "{arn}".')
    result = _original(SageMakerResponse, "create_endpoint")(self)
    endpoint = backend.endpoints[name]
    current().fleet.deploy(endpoint, endpoint.endpoint_config_name, update=False)  # type: ignore[union-attr]
    return result


def _update_endpoint(self: Any) -> Any:
    active = current()
    if active is None:
        raise NotImplementedError("UpdateEndpoint is only available in offline mode")
    backend = self.sagemaker_backend
    name = self._get_param("EndpointName")
    config_name = self._get_param("EndpointConfigName")
    endpoint = backend.endpoints.get(name)
    arn = FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
    if endpoint is None:
        raise ValidationError(message=f'Could not find endpoint "{arn}".')
    backend.describe_endpoint_config(config_name)
    if endpoint.endpoint_status != "InService":
        raise ValidationError(message=f'Cannot update in-progress endpoint "{arn}".')
    active.fleet.deploy(endpoint, config_name, update=True)
    return ActionResult({"EndpointArn": endpoint.arn})


def _delete_endpoint(self: Any) -> Any:
    result = _original(SageMakerResponse, "delete_endpoint")(self)
    active = current()
    if active is not None:
        active.fleet.delete(self._get_param("EndpointName"))
    return result


# --- S3 → EventBridge ------------------------------------------------------------------


def _send_event_bridge_message(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    active = current()
    if active is None:
        _original(s3_notifications, "_send_event_bridge_message")(account_id, bucket, event_name, key)
        return
    if "ObjectCreated" not in event_name:
        return
    active.on_object_created(
        {
            "account": account_id,
            "region": bucket.region_name,
            "bucket": bucket.name,
            "bucket_arn": bucket.arn,
            "key": key.name,
            "size": key.size,
            "etag": key.etag.replace('"', ""),
            "version_id": key.version_id,
            "reason": event_name.split(":")[1],
        }
    )
