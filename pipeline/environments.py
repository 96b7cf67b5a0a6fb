"""What a command needs to know about a deployed environment: its stack names and outputs.

The stacks' outputs are the interface (``stacks/pipeline_stack.py`` declares them): a
command reads them with CloudFormation's DescribeStacks, the way the README's aws CLI
commands do, so it works against any account the caller's credentials reach and, with
``AWS_ENDPOINT_URL`` set, against offline mode's local AWS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from stacks.config import EnvironmentConfig, load_environment

REPO_ROOT = Path(__file__).resolve().parent.parent


class OperationError(RuntimeError):
    """Something the user can fix is missing or wrong; the message says what."""


def environment(name: str, cdk_json: Path = REPO_ROOT / "cdk.json") -> EnvironmentConfig:
    """The validated ``cdk.json`` environment ``name`` (a ``ConfigError`` names the problem)."""
    context = json.loads(cdk_json.read_text()).get("context", {})
    return load_environment(context, name, chosen_with="--env NAME")


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """``{OutputKey: OutputValue}`` of a deployed stack."""
    try:
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", "")
        if "does not exist" in message:
            raise OperationError(
                f"stack {stack_name} is not deployed in {cloudformation.meta.region_name}; "
                "deploy it first (make deploy ENV=...), or set AWS_REGION to where it is"
            ) from None
        raise
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs") or []}


def required(outputs: dict[str, str], key: str, stack_name: str) -> str:
    value = outputs.get(key)
    if not value:
        raise OperationError(f"stack {stack_name} has no output {key}; redeploy it with this version of the app")
    return value
