"""What SageMaker says: a model package version, the newest Approved one, and what the endpoint serves."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]
from pydantic import BaseModel, ConfigDict, Field

from lambdas.resolve_deployment.models import LiveInfo, PackageInfo

#: Endpoint statuses in which it serves nothing: the deployment replaces it whatever it held.
NOT_SERVING = ("Failed", "Deleting")


class PackageError(RuntimeError):
    """A model package version cannot be deployed; the message says why."""


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Container(_Loose):
    Image: str = Field(min_length=1)
    ModelDataUrl: str | None = None


class _InferenceSpecification(_Loose):
    Containers: list[_Container] = Field(default_factory=list)


class PackageDescription(_Loose):
    """The part of DescribeModelPackage's answer a deployment uses."""

    ModelPackageArn: str
    ModelPackageGroupName: str | None = None
    ModelPackageVersion: int | None = None
    ModelPackageStatus: str = "Completed"
    ModelApprovalStatus: str | None = None
    InferenceSpecification: _InferenceSpecification | None = None
    CustomerMetadataProperties: dict[str, str] = Field(default_factory=dict)

    @property
    def version(self) -> str:
        return (
            str(self.ModelPackageVersion) if self.ModelPackageVersion is not None else version_of(self.ModelPackageArn)
        )


def version_of(package_arn: str) -> str:
    """The version of a versioned package: the last segment of ``.../model-package/<group>/<version>``."""
    return package_arn.rstrip("/").rsplit("/", 1)[-1]


def same_package(first: str | None, second: str | None) -> bool:
    """Whether two ARNs name the same package (SageMaker may lower-case names in ARNs)."""
    return first is not None and second is not None and first.lower() == second.lower()


def _not_found(error: ClientError) -> bool:
    # SageMaker answers a missing endpoint, config or model with ValidationException "Could not find ...".
    details = error.response.get("Error", {})
    return details.get("Code") == "ValidationException" and "could not find" in str(details.get("Message")).lower()


def describe_package(sagemaker: Any, arn: str) -> PackageDescription:
    """DescribeModelPackage, parsed; a missing package is a :class:`PackageError`."""
    try:
        answer = sagemaker.describe_model_package(ModelPackageName=arn)
    except ClientError as error:
        if _not_found(error) or error.response.get("Error", {}).get("Code") == "ResourceNotFound":
            raise PackageError(f"model package {arn} does not exist") from None
        raise
    return PackageDescription.model_validate(answer)


def deployable(package: PackageDescription) -> PackageInfo:
    """The facts a deployment needs, or a :class:`PackageError` saying why this version cannot serve."""
    name = f"version {package.version} ({package.ModelPackageArn})"
    if package.ModelPackageStatus != "Completed":
        raise PackageError(f"{name} has status {package.ModelPackageStatus}; only a Completed package can be deployed")
    containers = package.InferenceSpecification.Containers if package.InferenceSpecification else []
    if not containers:
        raise PackageError(f"{name} has no InferenceSpecification container to deploy")
    metadata = package.CustomerMetadataProperties
    return PackageInfo(
        arn=package.ModelPackageArn,
        version=package.version,
        model_data_url=containers[0].ModelDataUrl,
        image=containers[0].Image,
        run_id=metadata.get("run_id"),
        data_version=metadata.get("data_version"),
    )


def newest_approved(sagemaker: Any, group: str, *, excluding: str) -> str | None:
    """The ARN of the most recently created Approved, Completed version other than ``excluding``."""
    pages = sagemaker.get_paginator("list_model_packages").paginate(
        ModelPackageGroupName=group, ModelApprovalStatus="Approved", SortBy="CreationTime", SortOrder="Descending"
    )
    for page in pages:
        for summary in page.get("ModelPackageSummaryList", []):
            arn = str(summary["ModelPackageArn"])
            if same_package(arn, excluding) or summary.get("ModelPackageStatus", "Completed") != "Completed":
                continue
            return arn
    return None


def live_version(sagemaker: Any, endpoint_name: str) -> LiveInfo | None:
    """The package version the endpoint serves; None when there is no endpoint, or it serves nothing.

    Endpoint → its config → the first production variant's model → the model's container,
    whose ``ModelPackageName`` is the package it was made from. A model made from an image
    and artifact (before the registry), or deleted since, leaves the package unknown.
    """
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        if _not_found(error):
            return None
        raise
    if endpoint.get("EndpointStatus") in NOT_SERVING:
        return None
    config_name = str(endpoint["EndpointConfigName"])
    unknown = LiveInfo(package_arn=None, version=None, endpoint_config=config_name)
    try:
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        variants = config.get("ProductionVariants") or []
        if not variants or not variants[0].get("ModelName"):
            return unknown
        model = sagemaker.describe_model(ModelName=variants[0]["ModelName"])
    except ClientError as error:
        if _not_found(error):
            return unknown
        raise
    container: dict[str, Any] = model.get("PrimaryContainer") or next(iter(model.get("Containers") or []), {})
    package_arn = container.get("ModelPackageName")
    if not package_arn:
        return unknown
    return LiveInfo(package_arn=str(package_arn), version=version_of(str(package_arn)), endpoint_config=config_name)
