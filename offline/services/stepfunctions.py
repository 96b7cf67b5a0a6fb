"""Step Functions service integrations moto's engine lacks: SageMaker and CodeBuild with ``.sync``.

moto's engine routes ``sagemaker`` and ``codebuild`` to ``StateTaskServiceUnsupported``,
which forwards the call once and rejects ``.sync``. These classes follow moto's own Glue
integration (``state_task_service_glue.py``): ``_eval_service_task`` makes the call and
``_build_sync_resolver`` returns a function the engine polls until it returns a result or
raises the task's failure.

* SageMaker calls go to moto's SageMaker (patched by ``offline.moto_patches`` so training,
  processing and transform jobs and endpoints really run), signed as the state machine's role.
  For ``createTrainingJob.sync``, ``createProcessingJob.sync`` and ``createTransformJob.sync``
  Step Functions tags the job ``MANAGED_BY_AWS`` and reads its tags back, then polls
  DescribeTrainingJob / DescribeProcessingJob / DescribeTransformJob and returns its response (the calls of
  ``offline.services.iam.integrations``). A failed or stopped job fails the task with
  ``States.TaskFailed`` and the Describe response (FailureReason included) as the cause; a
  rejected API call fails it with ``SageMaker.AmazonSageMakerException``, as AWS Step
  Functions reports.
* CodeBuild calls go to ``offline.services.codebuild`` (moto never runs a build), after the
  role's StartBuild / BatchGetBuilds permissions are evaluated in process; the output is
  ``{"Build": ...}`` with PascalCase keys, and a FAILED build fails the task with
  ``States.TaskFailed`` and that output as the cause.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any, cast

from botocore import exceptions as botocore_errors  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

from offline.run.active import services
from offline.services.codebuild import pascal_case
from offline.services.iam import integrations as permissions
from offline.services.iam.authorizer import AccessDeniedError

#: What AWS Step Functions reports when a job it waited on (``.sync``) ended in failure.
TASK_FAILED = "States.TaskFailed"
#: What it reports when SageMaker rejected the API call itself.
SAGEMAKER_API_ERROR = "SageMaker.AmazonSageMakerException"
#: The tag Step Functions puts on the SageMaker jobs it runs with ``.sync``.
MANAGED_TAG = {"Key": "MANAGED_BY_AWS", "Value": "STARTED_BY_STEP_FUNCTIONS"}

#: The ``.sync`` SageMaker jobs: the job name parameter, the Describe call and its status field.
_SYNC_JOBS = {
    "create_training_job": ("TrainingJobName", "describe_training_job", "TrainingJobStatus"),
    "create_processing_job": ("ProcessingJobName", "describe_processing_job", "ProcessingJobStatus"),
    "create_transform_job": ("TransformJobName", "describe_transform_job", "TransformJobStatus"),
}
_JOB_RUNNING = {"InProgress", "Stopping"}
#: A call that got no answer (the local AWS did not answer in time on a loaded machine): to the task
#: it is a service error, which its Retry covers, as AWS's throttling or unavailability would be.
TRANSPORT_ERRORS = (botocore_errors.ConnectionError, botocore_errors.HTTPClientError)
#: Answers to a ``.sync`` job's Describe that mean "ask again", not "the job failed".
_TRANSIENT_CODES = {"ThrottlingException", "Throttling", "ServiceUnavailable", "InternalFailure"}


def client_error(code: str, message: str, operation: str) -> ClientError:
    """A ClientError shaped like one botocore raises for a 400 answer."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": str(uuid.uuid4())},
        },
        operation,
    )


def injected_message(state_name: str) -> str:
    return f"offline fault injected at state {state_name} (--fail-at {state_name})"


def jsonable(value: Any) -> Any:
    """boto3 answers with datetimes; Step Functions shows them as epoch milliseconds."""
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items() if key != "ResponseMetadata"}
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return value


class _OfflineIntegration(StateTaskServiceCallback):
    def __init__(self) -> None:
        # WaitForTaskToken is listed only so that moto's callback machinery, which every
        # integration pattern goes through, has its endpoint; ``.waitForTaskToken`` itself
        # is not offered by these integrations.
        patterns = {cast(Any, ResourceCondition.Sync), cast(Any, ResourceCondition.WaitForTaskToken)}
        super().__init__(supported_integration_patterns=patterns)

    def _get_supported_parameters(self) -> set[str]:
        # Non-None accepts the resource; empty means "pass every parameter through".
        return set()

    @staticmethod
    def _state_name(env: Any) -> str:
        return str(env.states.context_object.context_object_data["State"]["Name"])

    def _task_failure(self, env: Any, error: str, cause: str) -> Any:
        return FailureEvent(
            env=env,
            error_name=(
                StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed)
                if error == TASK_FAILED
                else CustomErrorName(error)
            ),
            event_type=HistoryEventType.TaskFailed,
            event_details=cast(Any, EventDetails)(
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=error,
                    cause=cause,
                    resource=self._get_sfn_resource(),
                    resourceType=self._get_sfn_resource_type(),
                )
            ),
        )


class SageMakerIntegration(_OfflineIntegration):
    """``arn:aws:states:::sagemaker:<action>[.sync]``."""

    def _eval_service_task(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> None:
        action = self._get_boto_service_action()
        state = self._state_name(env)
        if services().faults.targets(state):
            if action == "create_training_job":
                services().faults.arm("training", normalised_parameters["TrainingJobName"])
            elif action == "create_processing_job":
                services().faults.arm("processing", normalised_parameters["ProcessingJobName"])
            elif action == "create_transform_job":
                services().faults.arm("transform", normalised_parameters["TransformJobName"])
            elif action in ("create_endpoint", "update_endpoint"):
                services().faults.arm("endpoint", normalised_parameters["EndpointName"])
            else:
                raise client_error("ValidationException", injected_message(state), action)
        client = _client("sagemaker", resource_runtime_part, state_credentials)
        sync = self.resource.condition == ResourceCondition.Sync
        if sync:
            # Step Functions marks the jobs it runs; the tag is why the role needs sagemaker:AddTags.
            normalised_parameters = {
                **normalised_parameters,
                "Tags": [*normalised_parameters.get("Tags", []), MANAGED_TAG],
            }
        response = getattr(client, action)(**normalised_parameters)
        arn = next((value for key, value in response.items() if key.endswith("Arn")), None)
        if arn and permissions.calls(_integration(self), "start", where="moto"):
            # ...and reads the resource's tags back (sagemaker:ListTags in the documented policies).
            client.list_tags(ResourceArn=arn)
        env.stack.append(jsonable(response))

    def _from_error(self, env: Any, ex: Exception) -> Any:
        if isinstance(ex, ClientError):
            error = ex.response["Error"]
            meta = ex.response.get("ResponseMetadata", {})
            cause = (
                f"{error.get('Message')} (Service: AmazonSageMaker; Status Code: {meta.get('HTTPStatusCode', 400)}; "
                f"Error Code: {error.get('Code')}; Request ID: {meta.get('RequestId', '')}; Proxy: null)"
            )
            return self._task_failure(env, SAGEMAKER_API_ERROR, cause)
        if isinstance(ex, TRANSPORT_ERRORS):
            cause = f"{ex} (Service: AmazonSageMaker; Status Code: 503; Error Code: ServiceUnavailable; Proxy: null)"
            return self._task_failure(env, SAGEMAKER_API_ERROR, cause)
        return super()._from_error(env=env, ex=ex)

    def _build_sync_resolver(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> Callable[[], Any]:
        env.stack.pop()
        action = self._get_boto_service_action()
        if action not in _SYNC_JOBS:
            raise RuntimeError(
                "offline mode supports .sync for sagemaker:createTrainingJob, sagemaker:createProcessingJob and "
                f"sagemaker:createTransformJob only, not {action}"
            )
        name_parameter, describe, status_field = _SYNC_JOBS[action]
        name = normalised_parameters[name_parameter]
        client = _client("sagemaker", resource_runtime_part, state_credentials)

        def resolve() -> Any:
            # Step Functions waits on the job: a poll that got no answer is asked again, not a failed task.
            try:
                job = jsonable(getattr(client, describe)(**{name_parameter: name}))
            except TRANSPORT_ERRORS:
                return None
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in _TRANSIENT_CODES:
                    return None
                raise
            if job[status_field] in _JOB_RUNNING:
                return None
            if job[status_field] == "Completed":
                return job
            raise FailureEventException(self._task_failure(env, TASK_FAILED, to_json_str(job)))

        return resolve


class CodeBuildIntegration(_OfflineIntegration):
    """``arn:aws:states:::codebuild:startBuild[.sync]``."""

    def _eval_service_task(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> None:
        action = self._get_boto_service_action()
        if action != "start_build":
            raise RuntimeError(f"offline mode supports codebuild:startBuild only, not {action}")
        self._require(_integration(self), "start", normalised_parameters, resource_runtime_part, state_credentials)
        overrides = [
            {"name": v["Name"], "value": str(v["Value"]), "type": v.get("Type", "PLAINTEXT")}
            for v in normalised_parameters.get("EnvironmentVariablesOverride", [])
        ]
        fail = services().faults.targets(self._state_name(env))
        try:
            build = services().codebuild.start(normalised_parameters["ProjectName"], overrides, fail=fail)
        except KeyError as missing:
            raise client_error("ResourceNotFoundException", str(missing), "StartBuild") from None
        env.stack.append({"Build": _build_output(build)})

    def _from_error(self, env: Any, ex: Exception) -> Any:
        if isinstance(ex, ClientError):
            error = ex.response["Error"]
            return self._task_failure(env, f"CodeBuild.{error['Code']}", str(error.get("Message")))
        return super()._from_error(env=env, ex=ex)

    def _build_sync_resolver(
        self, env: Any, resource_runtime_part: Any, normalised_parameters: dict[str, Any], state_credentials: Any
    ) -> Callable[[], Any]:
        started = env.stack.pop()
        build_id = started["Build"]["Id"]
        integration = _integration(self)

        def resolve() -> Any:
            self._require(integration, "poll", normalised_parameters, resource_runtime_part, state_credentials)
            build = services().codebuild.get(build_id)
            if build["buildStatus"] == "IN_PROGRESS":
                return None
            output = {"Build": _build_output(build)}
            if build["buildStatus"] == "SUCCEEDED":
                return output
            raise FailureEventException(self._task_failure(env, TASK_FAILED, to_json_str(output)))

        return resolve

    def _require(
        self,
        integration: str,
        when: permissions.When,
        parameters: dict[str, Any],
        resource_runtime_part: Any,
        state_credentials: Any,
    ) -> None:
        """Evaluate the calls Step Functions makes for the role without a request moto sees."""
        iam = services().iam
        role_arn = getattr(state_credentials, "role_arn", None)
        if iam is None or not role_arn:
            return
        credentials = iam.assume(
            role_arn, service="states.amazonaws.com", source_arn=getattr(state_credentials, "state_machine_arn", None)
        )
        for row in permissions.calls(integration, when, where="in process"):
            resource = permissions.resource_of(
                row, parameters, partition="aws", region=resource_runtime_part.region, account=iam.account
            )
            try:
                iam.require(credentials, row.action, resource, dict(row.context), via=f"{integration} ({when})")
            except AccessDeniedError as denied:
                raise client_error("AccessDeniedException", str(denied), row.action.split(":", 1)[1]) from None


def _integration(task: Any) -> str:
    resource = task.resource
    suffix = ".sync" if resource.condition == ResourceCondition.Sync else ""
    return f"{resource.service_name}:{resource.api_action}{suffix}"


def _client(service: str, resource_runtime_part: Any, state_credentials: Any) -> Any:
    # Looked up at call time: offline mode replaces it with a client signed as the role.
    return boto_client.boto_client_for(
        service=service, region=resource_runtime_part.region, state_credentials=state_credentials
    )


def _build_output(build: dict[str, Any]) -> Any:
    def epoch(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: epoch(v) for k, v in value.items()}
        if isinstance(value, list):
            return [epoch(v) for v in value]
        if isinstance(value, datetime.datetime):
            return value.timestamp()
        return value

    return pascal_case(epoch(build))
