"""aws-sdk Task states of the deployment: one call each, IAM scoped by the caller, results trimmed.

A ResultSelector keeps only what the next states read: aws-sdk results carry timestamps,
which the definition never needs.
"""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.task_retries import retry_transient

#: The IAM prefix of each aws-sdk service name, where the two differ.
_IAM_PREFIX = {"applicationautoscaling": "application-autoscaling"}
#: The retry kind (stacks.components.task_retries) of each service; None: never retried.
_RETRY = {"sagemaker": "sagemaker-sdk", "applicationautoscaling": "autoscaling"}


def sdk_task(
    scope: Construct,
    construct_id: str,
    *,
    service: str,
    action: str,
    parameters: dict[str, object],
    iam_resources: list[str],
    selector: dict[str, object] | None = None,
    result_path: str | None = None,
    retry: bool = True,
) -> tasks.CallAwsService:
    """``arn:aws:states:::aws-sdk:<service>:<action>``; ``result_path`` None discards the result."""
    prefix = _IAM_PREFIX.get(service)
    step = tasks.CallAwsService(
        scope,
        construct_id,
        service=service,
        action=action,
        parameters=parameters,
        iam_resources=iam_resources,
        # CDK writes "<service>:<action>"; only a service whose IAM prefix differs needs its own.
        iam_action=f"{prefix}:{action[0].upper()}{action[1:]}" if prefix else None,
        result_selector=selector,
        result_path=result_path if result_path is not None else sfn.JsonPath.DISCARD,
    )
    if retry and service in _RETRY:
        retry_transient(step, _RETRY[service])
    return step
