"""The SSM documents a run reads: hyperparameters and pipeline settings."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]
from pydantic import ValidationError

from lambdas.initiate_pipeline.errors import PipelineConfigError
from lambdas.initiate_pipeline.models import PipelineSettings


def read_json_parameter(ssm: Any, name: str) -> Any:
    """The JSON document stored in SSM parameter ``name``."""
    try:
        value = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ParameterNotFound":
            raise PipelineConfigError(f"SSM parameter {name} does not exist") from err
        raise
    try:
        return json.loads(value)
    except json.JSONDecodeError as err:
        raise PipelineConfigError(f"SSM parameter {name} is not valid JSON: {err.msg}") from None


def _as_string(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def hyperparameters(ssm: Any, name: str) -> dict[str, str]:
    """The hyperparameters object, every value a string as CreateTrainingJob requires."""
    document = read_json_parameter(ssm, name)
    if not isinstance(document, dict):
        raise PipelineConfigError(f"SSM parameter {name} must hold a JSON object of hyperparameters")
    return {str(key): _as_string(value) for key, value in document.items()}


def pipeline_settings(ssm: Any, name: str) -> dict[str, Any]:
    """The settings object, checked to hold every key the state machine reads."""
    document = read_json_parameter(ssm, name)
    try:
        return PipelineSettings.model_validate(document).model_dump()
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'document'}: {error['msg']}"
            for error in err.errors(include_url=False)
        )
        raise PipelineConfigError(f"SSM parameter {name} is invalid: {problems}") from None
