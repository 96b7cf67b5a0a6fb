"""Patches to moto's SageMaker responses: real training and processing jobs and endpoints, and AWS's checks.

* ``create_training_job``: the job really runs (``offline.services.sagemaker_training``);
  a duplicate name is ResourceInUse; the caller's MetricDefinitions are kept;
* ``create_processing_job``: the job really runs (``offline.services.sagemaker_processing``);
  a duplicate name is ResourceInUse; a container path outside ``/opt/ml/processing/`` is a
  ValidationException; the request's ``Environment`` and ``ProcessingResources`` are kept
  (moto drops them);
* ``stop_processing_job``: an InProgress job goes to Stopping and the runner stops its
  container, then marks it Stopped (moto marked any job Stopped at once, even a finished one);
* ``create_transform_job``: the job really runs (``offline.services.sagemaker_transform``); a
  duplicate name is ResourceInUse, a model that does not exist and a MaxPayloadInMB (times
  MaxConcurrentTransforms) over 100 MB a ValidationException, as AWS answers; moto's record
  (``FakeTransformJob``, every request member) is kept for DescribeTransformJob and its status
  driven by the runner;
* ``stop_transform_job`` (moto has none): an InProgress job goes to Stopping, then Stopped once
  the file in progress is done; a finished job cannot be stopped;
* ``create_model``, ``create_endpoint_config``, ``create_endpoint``: duplicate names are
  rejected as AWS rejects them (moto accepts them); a new endpoint really deploys
  (``offline.services.sagemaker_hosting``);
* ``create_training_job``, ``create_processing_job`` and ``create_model`` also check that
  SageMaker can assume the role passed to it (its trust policy allows
  ``sagemaker.amazonaws.com``), as AWS validates it;
* ``update_endpoint`` (moto has none): blue/green update of an InService endpoint; any other
  status is refused (SageMaker API Reference, UpdateEndpoint). ``DeploymentConfig`` (traffic
  shifting, auto-rollback alarms), ``RetainAllVariantProperties`` /
  ``ExcludeRetainedVariantProperties`` (the live instance count kept) and
  ``RetainDeploymentConfig`` are checked and resolved by
  ``offline.services.sagemaker_deployment_config``; DescribeEndpoint then shows the
  ``LastDeploymentConfig`` (moto builds it from the endpoint record's attributes);
* ``create_endpoint`` also checks a ``DeploymentConfig`` and keeps it as the
  ``LastDeploymentConfig`` for a later ``RetainDeploymentConfig`` (it shifts no traffic);
* ``delete_endpoint``: also stops the endpoint's model server.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.models import (
    FakeEndpoint,
    FakeEndpointConfig,
    FakeProcessingJob,
    FakeTrainingJob,
    FakeTransformJob,
)
from moto.sagemaker.models import arn_formatter as sagemaker_arn
from moto.sagemaker.responses import SageMakerResponse

from offline.moto_patches._registry import original, patch
from offline.run.active import Services, current
from offline.services.iam.sessions import RoleNotAssumableError
from offline.services.sagemaker_deployment_config import (
    DeploymentConfigError,
    UpdatePlan,
    check_capacity,
    parse_policy,
    plan_update,
)
from offline.services.sagemaker_deployment_config import request_errors as deployment_request_errors
from offline.services.sagemaker_processing import request_errors

SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"
#: "The value of MaxPayloadInMB cannot be greater than 100 MB. If you specify the MaxConcurrentTransforms
#: parameter, the value of (MaxConcurrentTransforms * MaxPayloadInMB) also cannot exceed 100 MB."
MAX_TRANSFORM_PAYLOAD_MB = 100


def install() -> None:
    for name, replacement in (
        ("create_training_job", _create_training_job),
        ("create_processing_job", _create_processing_job),
        ("stop_processing_job", _stop_processing_job),
        ("create_transform_job", _create_transform_job),
        ("stop_transform_job", _stop_transform_job),
        ("create_model", _create_model),
        ("create_endpoint_config", _create_endpoint_config),
        ("create_endpoint", _create_endpoint),
        ("update_endpoint", _update_endpoint),
        ("delete_endpoint", _delete_endpoint),
    ):
        patch(SageMakerResponse, name, replacement)


def _shipped(name: str) -> Callable[[Any], Any] | None:
    """moto's own response method when offline mode is not running, else None."""
    return None if current() is not None else original(SageMakerResponse, name)


def _require_assumable(active: Services, role_arn: str | None) -> None:
    if active.iam is None or not role_arn:
        return
    try:
        trusted = active.iam.sessions.trust(role_arn, service=SAGEMAKER_PRINCIPAL).allowed
    except RoleNotAssumableError:  # the role does not exist
        trusted = False
    if not trusted:
        raise ValidationError(
            message=f"Could not assume role {role_arn}. Please ensure that the role exists and allows principal "
            f"'{SAGEMAKER_PRINCIPAL}' to assume the role."
        )


def _create_training_job(self: Any) -> Any:
    shipped = _shipped("create_training_job")
    if shipped is not None:
        return shipped(self)
    active = current()
    assert active is not None
    backend = self.sagemaker_backend
    name = self._get_param("TrainingJobName")
    if name in backend.training_jobs:
        arn = FakeTrainingJob.arn_formatter(name, backend.account_id, backend.region_name)
        raise ResourceInUseException(
            message="Training job names must be unique within an AWS account and region, and a training job "
            f"with this name already exists ({arn})"
        )
    _require_assumable(active, self._get_param("RoleArn"))
    metric_definitions = copy.deepcopy((self._get_param("AlgorithmSpecification") or {}).get("MetricDefinitions", []))
    result = original(SageMakerResponse, "create_training_job")(self)
    job = backend.training_jobs[name]
    # moto replaces the job's MetricDefinitions with a sample; keep the caller's.
    job.algorithm_specification["MetricDefinitions"] = metric_definitions
    job.environment = self._get_param("Environment") or {}
    active.training.start(job)
    return result


def _create_processing_job(self: Any) -> Any:
    shipped = _shipped("create_processing_job")
    if shipped is not None:
        return shipped(self)
    active = current()
    assert active is not None
    if active.processing is None:
        raise NotImplementedError("offline mode's processing job runner is not running")
    backend = self.sagemaker_backend
    name = self._get_param("ProcessingJobName")
    if name in backend.processing_jobs:
        arn = FakeProcessingJob.arn_formatter(name, backend.account_id, backend.region_name)
        raise ResourceInUseException(
            message="Processing job names must be unique within an AWS account and region, and a processing job "
            f"with this name already exists ({arn})"
        )
    _require_assumable(active, self._get_param("RoleArn"))
    errors = request_errors(self._get_param("ProcessingInputs"), self._get_param("ProcessingOutputConfig"))
    if errors:
        raise ValidationError(message="; ".join(errors))
    environment = copy.deepcopy(self._get_param("Environment") or {})
    resources = copy.deepcopy(self._get_param("ProcessingResources"))
    result = original(SageMakerResponse, "create_processing_job")(self)
    job = backend.processing_jobs[name]
    # moto keeps neither; DescribeProcessingJob returns both.
    job.environment = environment
    job.processing_resources = resources
    active.processing.start(job)
    return result


def _stop_processing_job(self: Any) -> Any:
    active = current()
    if active is None or active.processing is None:
        return original(SageMakerResponse, "stop_processing_job")(self)
    backend = self.sagemaker_backend
    name = self._get_param("ProcessingJobName")
    job = backend.processing_jobs.get(name)
    if job is None:
        return original(SageMakerResponse, "stop_processing_job")(self)  # moto's "Could not find" error
    if job.processing_job_status in ("Completed", "Failed", "Stopped"):
        raise ValidationError(
            message=f"The processing job {job.arn} has already ended ({job.processing_job_status}); "
            "only an InProgress job can be stopped."
        )
    active.processing.stop(job)
    return EmptyResult()


def _transform_runner(active: Services | None) -> Any:
    """The running transform job runner (``Services.transform``), or None."""
    return active.transform if active is not None else None


def _create_transform_job(self: Any) -> Any:
    shipped = _shipped("create_transform_job")
    if shipped is not None:
        return shipped(self)
    runner = _transform_runner(current())
    if runner is None:
        raise NotImplementedError("offline mode's transform job runner is not running")
    backend = self.sagemaker_backend
    name = self._get_param("TransformJobName")
    if name in backend.transform_jobs:
        arn = FakeTransformJob.arn_formatter(name, backend.account_id, backend.region_name)
        raise ResourceInUseException(
            message="Transform job names must be unique within an AWS account and region, and a transform job "
            f"with this name already exists ({arn})"
        )
    model_name = self._get_param("ModelName")
    if model_name not in backend._models:
        arn = sagemaker_arn("model", model_name, backend.account_id, backend.region_name)
        raise ValidationError(message=f'Could not find model "{arn}".')
    payload, concurrency = self._get_param("MaxPayloadInMB"), self._get_param("MaxConcurrentTransforms")
    if (payload or 0) * max(1, concurrency or 1) > MAX_TRANSFORM_PAYLOAD_MB:
        # API Reference, CreateTransformJob, MaxPayloadInMB (offline mode's wording).
        raise ValidationError(
            message=f"MaxPayloadInMB ({payload}) times MaxConcurrentTransforms ({concurrency}) must not exceed "
            f"{MAX_TRANSFORM_PAYLOAD_MB} MB"
        )
    result = original(SageMakerResponse, "create_transform_job")(self)
    job = backend.transform_jobs[name]
    job.tags = job.tags or []  # ListTags on the job answers a list, as AWS does
    runner.start(job)
    return result


def _stop_transform_job(self: Any) -> Any:
    runner = _transform_runner(current())
    if runner is None:
        raise NotImplementedError("StopTransformJob is only available in offline mode")
    backend = self.sagemaker_backend
    name = self._get_param("TransformJobName")
    job = backend.transform_jobs.get(name)
    arn = FakeTransformJob.arn_formatter(name, backend.account_id, backend.region_name)
    if job is None:
        raise ValidationError(message=f"Could not find transform job '{arn}'.")
    if job.transform_job_status in ("Completed", "Failed", "Stopped"):
        raise ValidationError(
            message=f"The transform job {arn} has already ended ({job.transform_job_status}); "
            "only an InProgress job can be stopped."
        )
    runner.stop(job)
    return EmptyResult()


def _create_model(self: Any) -> Any:
    shipped = _shipped("create_model")
    if shipped is not None:
        return shipped(self)
    active = current()
    assert active is not None
    backend = self.sagemaker_backend
    name = self._get_param("ModelName")
    if name in backend._models:
        arn = sagemaker_arn("model", name, backend.account_id, backend.region_name)
        raise ValidationError(message=f'Cannot create already existing model "{arn}".')
    _require_assumable(active, self._get_param("ExecutionRoleArn"))
    return original(SageMakerResponse, "create_model")(self)


def _create_endpoint_config(self: Any) -> Any:
    shipped = _shipped("create_endpoint_config")
    if shipped is not None:
        return shipped(self)
    backend = self.sagemaker_backend
    name = self._get_param("EndpointConfigName")
    if name in backend.endpoint_configs:
        arn = FakeEndpointConfig.arn_formatter(name, backend.account_id, backend.region_name)
        raise ValidationError(message=f'Cannot create already existing endpoint configuration "{arn}".')
    return original(SageMakerResponse, "create_endpoint_config")(self)


def _create_endpoint(self: Any) -> Any:
    shipped = _shipped("create_endpoint")
    if shipped is not None:
        return shipped(self)
    active = current()
    assert active is not None
    backend = self.sagemaker_backend
    name = self._get_param("EndpointName")
    deployment_config = self._get_param("DeploymentConfig")
    _check_shapes("CreateEndpoint", {"DeploymentConfig": deployment_config})
    if name in backend.endpoints:
        arn = FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
        raise ValidationError(message=f'Cannot create already existing endpoint "{arn}".')
    if deployment_config is not None:
        variant = backend.describe_endpoint_config(self._get_param("EndpointConfigName"))["ProductionVariants"][0]
        try:
            check_capacity(parse_policy(deployment_config), int(variant.get("InitialInstanceCount") or 1))
        except DeploymentConfigError as refused:
            raise ValidationError(message=str(refused)) from None
    result = original(SageMakerResponse, "create_endpoint")(self)
    endpoint = backend.endpoints[name]
    if deployment_config is not None:
        endpoint.last_deployment_config = copy.deepcopy(deployment_config)
    active.fleet.deploy(endpoint, endpoint.endpoint_config_name, update=False)
    return result


def _update_endpoint(self: Any) -> Any:
    active = current()
    if active is None:
        raise NotImplementedError("UpdateEndpoint is only available in offline mode")
    backend = self.sagemaker_backend
    options = {member: self._get_param(member) for member in _UPDATE_OPTIONS}
    _check_shapes("UpdateEndpoint", options)
    name = self._get_param("EndpointName")
    config_name = self._get_param("EndpointConfigName")
    endpoint = backend.endpoints.get(name)
    arn = FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
    if endpoint is None:
        raise ValidationError(message=f'Could not find endpoint "{arn}".')
    new_config = backend.describe_endpoint_config(config_name)
    if endpoint.endpoint_status == "Failed":
        raise ValidationError(
            message=f'Cannot update endpoint "{arn}" in status Failed: only DeleteEndpoint is allowed on it.'
        )
    if endpoint.endpoint_status != "InService":
        raise ValidationError(message=f'Cannot update in-progress endpoint "{arn}".')
    plan = _plan_update(endpoint, new_config, options)
    if plan.deployment_config is not None:
        endpoint.last_deployment_config = copy.deepcopy(plan.deployment_config)
    active.fleet.deploy(endpoint, config_name, update=True, policy=plan.policy, instance_count=plan.instance_count)
    return ActionResult({"EndpointArn": endpoint.arn})


#: UpdateEndpoint's members beyond the names (SageMaker API Reference, UpdateEndpoint).
_UPDATE_OPTIONS = (
    "RetainAllVariantProperties",
    "ExcludeRetainedVariantProperties",
    "DeploymentConfig",
    "RetainDeploymentConfig",
)


def _check_shapes(operation: str, members: dict[str, Any]) -> None:
    """AWS validates every member against the API model first (Step Functions' aws-sdk calls are unchecked)."""
    message = deployment_request_errors(operation, {k: v for k, v in members.items() if v is not None})
    if message is not None:
        raise ValidationError(message=message)


def _plan_update(endpoint: Any, new_config: dict[str, Any], options: dict[str, Any]) -> UpdatePlan:
    live_variants = endpoint.production_variants or [None]
    try:
        return plan_update(
            deployment_config=copy.deepcopy(options["DeploymentConfig"]),
            retain_deployment_config=bool(options["RetainDeploymentConfig"]),
            last_deployment_config=getattr(endpoint, "last_deployment_config", None),
            retain_all_variant_properties=bool(options["RetainAllVariantProperties"]),
            excluded_properties=options["ExcludeRetainedVariantProperties"],
            new_variant=new_config["ProductionVariants"][0],
            live_variant=live_variants[0],
        )
    except DeploymentConfigError as refused:
        raise ValidationError(message=str(refused)) from None


def _delete_endpoint(self: Any) -> Any:
    result = original(SageMakerResponse, "delete_endpoint")(self)
    active = current()
    if active is not None:
        active.fleet.delete(self._get_param("EndpointName"))
    return result
