"""Optimized SageMaker Task states, built as ``CustomState``s.

The CDK task classes (``SageMakerCreateTrainingJob`` and friends) write their own IAM with
wildcards; a ``CustomState`` leaves IAM to the workflow, which scopes it to this
environment's name prefix and the one role it passes.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.components.task_retries import retry_transient


def sagemaker_task(scope: Construct, construct_id: str, action: str, state: dict[str, Any]) -> sfn.CustomState:
    """``arn:<partition>:states:::sagemaker:<action>`` with ``state``'s fields, retried on throttling only."""
    step = sfn.CustomState(
        scope,
        construct_id,
        state_json={"Type": "Task", "Resource": f"arn:{Aws.PARTITION}:states:::sagemaker:{action}", **state},
    )
    retry_transient(step, "sagemaker")
    return step
