"""The typed, validated configuration of the optional delivery pipeline (``delivery`` in CDK context).

The pipeline (``stacks/delivery_stack.py``) deploys this app from its repository to dev, stage and
prod, each of which may live in its own account. ``app.py`` reads the ``delivery`` object once, when
run with ``-c env=delivery``, validates it here and derives each environment's
:class:`~stacks.config.EnvironmentConfig` with that environment's account filled in. A bad value stops
synth with a message naming the key, as :func:`stacks.config.load_environment` does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stacks.config import LOG_RETENTION_DAYS, ConfigError, EnvironmentConfig, load_environment
from stacks.regions import SUPPORTED_REGIONS

#: What ``-c env=...`` is set to for the delivery app; no environment may take this name.
DELIVERY = "delivery"
#: The environments the pipeline promotes through, in order.
ENVIRONMENTS: tuple[str, ...] = ("dev", "stage", "prod")

_ACCOUNT = r"^\d{12}$"
# CodeConnections ARNs; connections created before the service's rename carry codestar-connections.
_CONNECTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[\w-]+$"
)
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_CODECOMMIT_REPOSITORY = re.compile(r"^[\w.-]{1,100}$")
_BRANCH = re.compile(r"^[^\s~^:?*\[\\]+$")


class DeliverySource(BaseModel):
    """Where the pipeline pulls the app from: a CodeConnections connection (GitHub, GitLab, Bitbucket)
    with ``connection_arn`` and ``repository`` ("owner/name"), or a CodeCommit repository by name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connection_arn: str | None = None
    repository: str | None = None
    codecommit_repository: str | None = None
    branch: str = "main"

    @field_validator("connection_arn")
    @classmethod
    def _connection_arn(cls, value: str | None) -> str | None:
        if value is not None and not _CONNECTION_ARN.match(value):
            raise ValueError(
                f"{value!r} is not a CodeConnections connection ARN such as "
                "'arn:aws:codeconnections:eu-west-1:111111111111:connection/0a1b2c3d-...'"
            )
        return value

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str | None) -> str | None:
        if value is not None and not _REPOSITORY.match(value):
            raise ValueError(f"{value!r} is not 'owner/name'")
        return value

    @field_validator("codecommit_repository")
    @classmethod
    def _codecommit_repository(cls, value: str | None) -> str | None:
        if value is not None and not _CODECOMMIT_REPOSITORY.match(value):
            raise ValueError(f"{value!r} is not a CodeCommit repository name (letters, digits, '.', '_', '-')")
        return value

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        if not _BRANCH.match(value):
            raise ValueError(f"{value!r} is not a branch name")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> DeliverySource:
        if (self.connection_arn is None) == (self.codecommit_repository is None):
            raise ValueError(
                "set either connection_arn and repository (CodeConnections) or codecommit_repository (CodeCommit)"
            )
        if self.connection_arn is not None and self.repository is None:
            raise ValueError("a CodeConnections source needs repository ('owner/name') beside connection_arn")
        if self.codecommit_repository is not None and self.repository is not None:
            raise ValueError(
                "repository belongs to a CodeConnections source; a CodeCommit source names only codecommit_repository"
            )
        return self

    @property
    def kind(self) -> Literal["codeconnections", "codecommit"]:
        return "codeconnections" if self.connection_arn is not None else "codecommit"


class EnvironmentAccounts(BaseModel):
    """The account each environment deploys into; any two (or all three, or the pipeline's) may be equal."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dev: str = Field(pattern=_ACCOUNT)
    stage: str = Field(pattern=_ACCOUNT)
    prod: str = Field(pattern=_ACCOUNT)


class DeliveryConfig(BaseModel):
    """The pipeline's own account and region, its source, and the accounts it deploys to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account: str = Field(pattern=_ACCOUNT)
    #: The pipeline's region, also where an environment without its own ``region`` is deployed.
    region: str
    source: DeliverySource
    accounts: EnvironmentAccounts
    #: Retention of the pipeline's CodeBuild logs.
    log_retention_days: int = 30

    @field_validator("region")
    @classmethod
    def _supported_region(cls, value: str) -> str:
        if value not in SUPPORTED_REGIONS:
            raise ValueError(
                f"{value!r} is not a supported region (environments without their own region deploy there); "
                f"supported: {', '.join(SUPPORTED_REGIONS)}"
            )
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"{value} is not a CloudWatch Logs retention; choose one of {LOG_RETENTION_DAYS}")
        return value

    @property
    def cross_account(self) -> bool:
        """Whether any environment lives outside the pipeline's account (artifacts then need a KMS key)."""
        return any(getattr(self.accounts, name) != self.account for name in ENVIRONMENTS)


def load_delivery(context: dict[str, Any] | None) -> DeliveryConfig:
    """Validate ``delivery`` from the CDK context into a :class:`DeliveryConfig`."""
    raw = (context or {}).get(DELIVERY)
    if not isinstance(raw, dict):
        raise ConfigError(
            "cdk.json: context key 'delivery' is missing or not an object; it names the pipeline's account, "
            "region, source and the accounts of dev, stage and prod (README, 'Delivery pipeline')"
        )
    try:
        return DeliveryConfig(**raw)
    except ValidationError as err:
        problems = "; ".join(
            f"delivery.{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"cdk.json: {problems}") from None


def stage_environments(context: dict[str, Any], delivery: DeliveryConfig) -> tuple[EnvironmentConfig, ...]:
    """dev, stage and prod as the pipeline deploys them: each with its account from ``delivery.accounts``
    and its own ``region``, or the pipeline's when it has none."""
    configs = []
    for name in ENVIRONMENTS:
        environments = json.loads(json.dumps((context or {}).get("environments") or {}))
        raw = environments.get(name)
        if raw is None:
            raise ConfigError(
                f"cdk.json: environments.{name} is missing; the delivery pipeline deploys {', '.join(ENVIRONMENTS)}"
            )
        if isinstance(raw, dict):
            account = getattr(delivery.accounts, name)
            if raw.get("account") not in (None, account):
                raise ConfigError(
                    f"cdk.json: environments.{name}.account is {raw['account']} but delivery.accounts.{name} is "
                    f"{account}; remove one or make them equal"
                )
            raw["account"] = account
            raw.setdefault("region", delivery.region)
        configs.append(load_environment({"environments": environments}, name))
    return tuple(configs)


def pinned_cli_version(repo_root: Path) -> str:
    """The CDK CLI version package.json pins: the pipeline's self-mutation and asset steps use the same one,
    because npm's newest CLI cannot read this aws-cdk-lib's cloud assembly."""
    package = json.loads((repo_root / "package.json").read_text())
    return str(package["devDependencies"]["aws-cdk"])
