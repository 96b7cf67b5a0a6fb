"""The boundary of ``sagemaker_cleanup``: its environment, its payloads and what it answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lambdas.common.settings import EnvSettings

#: How many deleted names a report lists; the counts are always complete.
LISTED_NAMES = 20


class CleanupSettings(EnvSettings):
    """The function's environment variables (both handlers share them)."""

    environment: str = Field(min_length=1)
    #: ``fraud-<env>-``: models are ``<prefix>model-…`` and endpoint configs ``<prefix>config-…``.
    name_prefix: str = Field(min_length=1)
    endpoint_name: str = Field(min_length=1)
    #: How many of the newest endpoint configs (and models) a clean-up keeps for rollback.
    keep_last_versions: int = Field(default=3, ge=1)

    @property
    def model_prefix(self) -> str:
        return f"{self.name_prefix}model-"

    @property
    def config_prefix(self) -> str:
        return f"{self.name_prefix}config-"


class PruneEvent(BaseModel):
    """The state machine's payload after it verified the live config."""

    model_config = ConfigDict(extra="ignore")

    execution_arn: str = Field(min_length=1)
    #: The endpoint config this run put live; never deleted, whatever its age.
    live_endpoint_config: str = Field(min_length=1)


class PruneReport(BaseModel):
    """What one clean-up did (the state machine keeps it at ``$.cleanup``)."""

    kept_endpoint_configs: list[str]
    kept_models: list[str]
    deleted_endpoint_configs: list[str] = Field(default_factory=list)
    deleted_models: list[str] = Field(default_factory=list)
    deleted_endpoint_config_count: int = 0
    deleted_model_count: int = 0


class CloudFormationRequest(BaseModel):
    """A custom resource request (CloudFormation User Guide, "Custom resource request objects")."""

    model_config = ConfigDict(extra="ignore")

    RequestType: Literal["Create", "Update", "Delete"]
    ResponseURL: str = Field(min_length=1)
    StackId: str = Field(min_length=1)
    RequestId: str = Field(min_length=1)
    LogicalResourceId: str = Field(min_length=1)
    PhysicalResourceId: str | None = None
    ResourceProperties: dict[str, Any] = Field(default_factory=dict)


class CloudFormationResponse(BaseModel):
    """The answer PUT to the request's ResponseURL (CloudFormation User Guide, "Custom resource response objects")."""

    Status: Literal["SUCCESS", "FAILED"]
    Reason: str = ""
    PhysicalResourceId: str
    StackId: str
    RequestId: str
    LogicalResourceId: str
    NoEcho: bool = False
    Data: dict[str, str] = Field(default_factory=dict)
