"""The boundary of ``resolve_deployment``: its payload, environment and result."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lambdas.common.execution import ExecutionContext
from lambdas.common.settings import EnvSettings

EVENT_SOURCE = "aws.sagemaker"
EVENT_DETAIL_TYPE = "SageMaker Model Package State Change"


class ResolveSettings(EnvSettings):
    """The function's environment variables."""

    environment: str = Field(min_length=1)
    #: This environment's model package group; events for any other group are refused.
    model_package_group: str = Field(min_length=1)
    endpoint_name: str = Field(min_length=1)
    #: The SSM parameter holding the run settings (endpoint instance type and count).
    settings_parameter: str = Field(min_length=1)
    #: Optional; the state machine's IAM policy scopes SageMaker resources to this prefix.
    name_prefix: str | None = None

    @property
    def sagemaker_name_prefix(self) -> str:
        """``NAME_PREFIX`` if set, else ``fraud-<env>-``."""
        return self.name_prefix or f"fraud-{self.environment}-"


class PackageStateDetail(BaseModel):
    """The ``detail`` of the event: the model package after its state changed (DescribeModelPackage's fields)."""

    model_config = ConfigDict(extra="ignore")

    ModelPackageGroupName: str = Field(min_length=1)
    ModelPackageArn: str = Field(pattern=r"^arn:[^:]+:sagemaker:[^:]*:[^:]*:model-package/.+")
    ModelApprovalStatus: Literal["Approved", "Rejected", "PendingManualApproval"]
    ModelPackageVersion: int | None = None


class PackageStateEvent(BaseModel):
    """The EventBridge event "SageMaker Model Package State Change"."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    source: Literal["aws.sagemaker"]
    detail_type: Literal["SageMaker Model Package State Change"] = Field(alias="detail-type")
    detail: PackageStateDetail


class ResolveEvent(BaseModel):
    """The Lambda payload: ``{"event": <EventBridge event>, "execution": {...}}``."""

    event: PackageStateEvent
    execution: ExecutionContext


class EndpointSettings(BaseModel):
    """The keys of the run settings (SSM) that a deployment uses; the others are ignored."""

    model_config = ConfigDict(extra="ignore")

    endpoint_instance_type: str = Field(min_length=1)
    endpoint_initial_instance_count: int = Field(ge=1)


class PackageInfo(BaseModel):
    """The model package version to deploy (or the one already live)."""

    arn: str
    version: str
    model_data_url: str | None
    image: str
    #: From the package's CustomerMetadataProperties; null for a package registered without them.
    run_id: str | None
    data_version: str | None


class LiveInfo(BaseModel):
    """What the endpoint serves now; ``package_arn`` and ``version`` are null for a model not made from a package."""

    package_arn: str | None
    version: str | None
    endpoint_config: str


class DeploymentNames(BaseModel):
    """SageMaker names for this deployment: ``<prefix>v<version>-<hash of the execution name>``."""

    model: str
    endpoint_config: str
    endpoint: str


class ResolveResult(BaseModel):
    """What the state machine keeps at ``$.run``.

    ``names`` and ``settings`` are set when ``action`` is ``deploy`` and null for ``skip``;
    ``package`` is null when there is nothing to deploy.
    """

    run_id: str
    action: Literal["deploy", "skip"]
    notify: bool
    reason: str
    trigger: Literal["approved", "rejected"]
    package: PackageInfo | None
    live: LiveInfo | None
    names: DeploymentNames | None
    settings: EndpointSettings | None
    console_url: str
    execution_arn: str
