"""The boundary of ``explain_rollback``: its payload, environment and result."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lambdas.common.settings import EnvSettings


class RollbackSettings(EnvSettings):
    """The function's environment variables."""

    environment: str = Field(min_length=1)
    endpoint_name: str = Field(min_length=1)
    #: The alarms named in the update's AutoRollbackConfiguration, comma-separated.
    alarm_names: str = Field(min_length=1)

    @property
    def alarms(self) -> list[str]:
        return [name.strip() for name in self.alarm_names.split(",") if name.strip()]


class RolledBackPackage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    arn: str = Field(min_length=1)
    version: str | None = None


class RolledBackNames(BaseModel):
    model_config = ConfigDict(extra="ignore")

    endpoint_config: str = Field(min_length=1)


class RolledBackRun(BaseModel):
    model_config = ConfigDict(extra="ignore")

    package: RolledBackPackage
    names: RolledBackNames


class UpdateInfo(BaseModel):
    """``$.update``: when the update started and how it shifted traffic."""

    model_config = ConfigDict(extra="ignore")

    started: datetime
    traffic: str = "-"


class LiveEndpoint(BaseModel):
    """``$.endpoint``: DescribeEndpoint after the update ended."""

    model_config = ConfigDict(extra="ignore")

    EndpointConfigName: str | None = None
    FailureReason: str | None = None

    @field_validator("FailureReason")
    @classmethod
    def _short(cls, value: str | None) -> str | None:
        return value[:1000] if value else value


class ReplacedEndpoint(BaseModel):
    """``$.existing``: the endpoint as the deployment found it; ``config`` is absent when it created the endpoint."""

    model_config = ConfigDict(extra="ignore")

    config: str | None = None


class RollbackEvent(BaseModel):
    """``{"run": $.run, "update": $.update, "endpoint": $.endpoint, "existing": $.existing}``."""

    model_config = ConfigDict(extra="ignore")

    run: RolledBackRun
    update: UpdateInfo
    endpoint: LiveEndpoint
    existing: ReplacedEndpoint = Field(default_factory=ReplacedEndpoint)


class FiredAlarm(BaseModel):
    name: str
    state: str
    reason: str


class CanaryFigures(BaseModel):
    """What the new fleet served between the update's start and now (CloudWatch, by endpoint config)."""

    invocations: int
    errors_5xx: int
    max_model_latency_ms: float | None


#: ``rolled_back``: the endpoint serves the config the deployment replaced again (SageMaker rolled back);
#: ``superseded``: it serves a third config, put live by a later deployment while this one waited.
Outcome = Literal["rolled_back", "superseded"]


class RollbackReport(BaseModel):
    """``$.rollback``: why SageMaker rolled back, what the canary saw, and what happened to the version."""

    outcome: Outcome
    version: str | None
    alarms: list[FiredAlarm]
    canary: CanaryFigures
    failure_reason: str | None
    rejected: bool
    summary: str
