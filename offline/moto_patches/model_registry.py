"""Patches to moto's model registry (SageMaker model packages): AWS's updates and EventBridge events.

* ``update_model_package`` changes only what the request passes, as AWS does (SageMaker API
  Reference, "UpdateModelPackage": every request field but ``ModelPackageArn`` is optional;
  ``CustomerMetadataProperties`` adds or replaces keys, ``CustomerMetadataPropertiesToRemove``
  removes them). moto assigns every field from the request, so approving a version with only
  ``ModelApprovalStatus`` erased its ``ApprovalDescription`` and ``CustomerMetadataProperties``
  (and a call without a status erased the status).
* ``create_model_package`` and ``update_model_package`` send the "SageMaker Model Package State
  Change" event, which moto never sends, shaped as the documented example (SageMaker Developer
  Guide, "Events that Amazon SageMaker AI sends to Amazon EventBridge", "SageMaker model package
  state change"): for a versioned package when it is created, and whenever its
  ``ModelApprovalStatus`` changes. The event goes to offline mode's EventBridge bridge
  (``offline.services.eventbridge``), which matches it against the rules' own patterns and
  delivers it on its own thread after a short latency, as EventBridge does: never inside the
  API call that caused it.

Where the events go is set by whoever runs the bridge (:func:`send_events_to`); offline
mode's patches only act while its local services are active (``offline.run.active``).
"""

from __future__ import annotations

import datetime
import sys
import uuid
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.responses import SageMakerResponse

from offline.moto_patches._registry import original, patch
from offline.run.active import current

DETAIL_TYPE = "SageMaker Model Package State Change"
SOURCE = "aws.sagemaker"

#: The event's ``detail``: the package's DescribeModelPackage fields that the documented example
#: carries, in its order, plus the optional ones it leaves out only because its package has none.
_DETAIL_FIELDS = (
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageDescription",
    "CreationTime",
    "InferenceSpecification",
    "ModelPackageStatus",
    "ModelPackageStatusDetails",
    "CertifyForMarketplace",
    "ModelApprovalStatus",
    "ApprovalDescription",
    "MetadataProperties",
    "ModelMetrics",
    "CustomerMetadataProperties",
    "LastModifiedTime",
)

_send: Callable[[dict[str, Any]], None] | None = None


def install() -> None:
    patch(SageMakerResponse, "create_model_package", _create_model_package)
    patch(SageMakerResponse, "update_model_package", _update_model_package)


def send_events_to(send: Callable[[dict[str, Any]], None] | None) -> None:
    """Hand model package events to ``send`` (offline mode's EventBridge bridge), or to nobody."""
    global _send
    _send = send


def state_change_event(package: Any, *, account: str, region: str) -> dict[str, Any]:
    """The EventBridge event SageMaker sends for moto's model ``package`` as it is now."""
    described = package.gen_response_object()
    described["CreationTime"] = _timestamp(package.creation_time)
    described["LastModifiedTime"] = _timestamp(package.last_modified_time or package.creation_time)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": SOURCE,
        "account": account,
        "time": _timestamp(datetime.datetime.now(tz=datetime.UTC)),
        "region": region,
        "resources": [package.arn],
        "detail": {field: described[field] for field in _DETAIL_FIELDS if described.get(field) is not None},
    }


def _create_model_package(self: Any) -> Any:
    result = original(SageMakerResponse, "create_model_package")(self)
    if current() is not None:
        package = self.sagemaker_backend.describe_model_package(result.result["ModelPackageArn"])
        if package.model_package_group_name:  # a versioned package (an unversioned one has no approval)
            _emit(self.sagemaker_backend, package)
    return result


def _update_model_package(self: Any) -> Any:
    if current() is None:
        return original(SageMakerResponse, "update_model_package")(self)
    backend = self.sagemaker_backend
    package = backend.describe_model_package(self._get_param("ModelPackageArn"))
    before = package.model_approval_status

    status = self._get_param("ModelApprovalStatus")
    if status is not None:
        package.set_model_approval_status(status)  # validates the value as moto does
    description = self._get_param("ApprovalDescription")
    if description is not None:
        package.approval_description = description
    added = self._get_param("CustomerMetadataProperties")
    removed = self._get_param("CustomerMetadataPropertiesToRemove") or []
    if added or removed:
        properties = {**(package.customer_metadata_properties or {}), **(added or {})}
        for key in removed:
            properties.pop(key, None)
        package.customer_metadata_properties = properties
    specification = self._get_param("InferenceSpecification")
    if specification is not None:
        package.inference_specification = specification
    additional = self._get_param("AdditionalInferenceSpecificationsToAdd")
    if additional is not None:
        package.add_additional_inference_specifications(additional)
    package.modifications_done()

    if package.model_package_group_name and package.model_approval_status != before:
        _emit(backend, package)
    return ActionResult({"ModelPackageArn": package.arn})


def _emit(backend: Any, package: Any) -> None:
    event = state_change_event(package, account=backend.account_id, region=backend.region_name)
    if _send is None:
        print(
            f"offline mode: no EventBridge bridge takes SageMaker events; {DETAIL_TYPE} for {package.arn} is dropped",
            file=sys.stderr,
        )
        return
    _send(event)


def _timestamp(moment: datetime.datetime) -> str:
    """EventBridge's time format (ISO 8601, UTC, to the second); moto keeps naive UTC times."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
