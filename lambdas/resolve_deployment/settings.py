"""A deployment's SageMaker names and the endpoint settings it reads from SSM."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]
from pydantic import ValidationError

from lambdas.common.settings import ConfigurationError
from lambdas.resolve_deployment.models import DeploymentNames, EndpointSettings, ResolveSettings

#: SageMaker's rule for model and endpoint config names.
SAGEMAKER_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
SAGEMAKER_NAME_MAX = 63
_HASH_CHARS = 8


class DeploymentConfigError(RuntimeError):
    """The run settings parameter is missing or malformed."""


def problems(error: ValidationError) -> str:
    """Each problem of a validation error as ``where: what``, joined by ``; ``."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'document'}: {item['msg']}"
        for item in error.errors(include_url=False)
    )


def deployment_names(settings: ResolveSettings, version: str, execution_name: str) -> DeploymentNames:
    """``<prefix>model-v<version>-<hash>`` and ``<prefix>config-v<version>-<hash>`` (hash: 8 hex of
    sha256(execution name)); the ``model-`` / ``config-`` kinds are what the clean-up and the teardown
    (``lambdas/sagemaker_cleanup``) look for.

    The version makes the name readable in the console; the hash makes it unique to the
    execution, so deploying a version again (a rollback) never collides with the models and
    configs an earlier deployment of it left. Lower case, because SageMaker lower-cases
    names in ARNs, which IAM policies match.
    """
    suffix = hashlib.sha256(execution_name.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    names = {
        kind: f"{settings.sagemaker_name_prefix}{kind}-v{version}-{suffix}".lower() for kind in ("model", "config")
    }
    for name in names.values():
        if not SAGEMAKER_NAME_PATTERN.match(name) or len(name) > SAGEMAKER_NAME_MAX:
            raise ConfigurationError(
                f"NAME_PREFIX {settings.sagemaker_name_prefix!r} gives the invalid SageMaker name {name!r} "
                f"(letters, digits and single hyphens, at most {SAGEMAKER_NAME_MAX} characters)"
            )
    return DeploymentNames(model=names["model"], endpoint_config=names["config"], endpoint=settings.endpoint_name)


def endpoint_settings(ssm: Any, parameter: str) -> EndpointSettings:
    """The endpoint instance type and count from the run settings document."""
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
            raise DeploymentConfigError(f"SSM parameter {parameter} does not exist") from None
        raise
    try:
        document = json.loads(value)
    except json.JSONDecodeError as error:
        raise DeploymentConfigError(f"SSM parameter {parameter} is not valid JSON: {error.msg}") from None
    try:
        return EndpointSettings.model_validate(document)
    except ValidationError as error:
        raise DeploymentConfigError(f"SSM parameter {parameter} is invalid: {problems(error)}") from None
