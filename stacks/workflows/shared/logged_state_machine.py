"""A state machine as every workflow of the app has it: its own log group, full logging, X-Ray tracing.

Logging at ``ALL`` with execution data is what makes a failed run explainable from CloudWatch Logs
alone; the log group is retained in production (``removal_policy``) like the rest of its evidence.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.components.log_retention import retention
from stacks.config import EnvironmentConfig


def logged_state_machine(
    scope: Construct,
    config: EnvironmentConfig,
    *,
    start: sfn.IChainable,
    comment: str,
    timeout: Duration,
) -> tuple[sfn.StateMachine, logs.LogGroup]:
    """``(state machine, its log group)``, as ``<scope>/StateMachine`` and ``<scope>/Logs``."""
    log_group = logs.LogGroup(
        scope,
        "Logs",
        retention=retention(config.log_retention_days),
        removal_policy=RemovalPolicy.RETAIN if config.is_production else RemovalPolicy.DESTROY,
    )
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        comment=comment,
        definition_body=sfn.DefinitionBody.from_chainable(start),
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        tracing_enabled=True,
        timeout=timeout,
    )
    return machine, log_group
