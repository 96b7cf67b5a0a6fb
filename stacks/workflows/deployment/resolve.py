"""Resolve stage: which version to deploy, or why there is nothing to do.

The ``resolve_deployment`` Lambda reads the registry event: an Approved version is deployed
unless it is already live (the events can arrive twice); a Rejected version that is live is
replaced by the newest other Approved one (how the SageMaker Projects templates roll back).
Its answer is ``$.run``, the same place the retraining state machine keeps its run, so the
failure route and the notify Lambda read both alike.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.task_retries import retry_transient
from stacks.workflows.shared.execution_step import execution_step
from stacks.workflows.shared.failure_route import notify_step


def resolve_step(scope: Construct, resolve: lambda_.IFunction) -> tasks.LambdaInvoke:
    """Invoke ``resolve`` with the registry event and the execution context; its result is ``$.run``."""
    return execution_step(scope, "ResolveVersion", function=resolve, input_key="event")


def deploy_or_skip(scope: Construct, *, notify: lambda_.IFunction, deploy: sfn.IChainable) -> sfn.Choice:
    """Go on to ``deploy``, or end: quietly for a duplicate event, with a notification when people should know."""
    skipped = sfn.Succeed(scope, "NothingToDeploy")
    notify_skipped = notify_step(scope, "NotifySkipped", notify=notify, kind="deployment_skipped")
    retry_transient(notify_skipped, "lambda")
    notify_skipped.next(skipped)
    return (
        sfn.Choice(scope, "DeployOrSkip")
        .when(sfn.Condition.string_equals("$.run.action", "deploy"), deploy)
        .when(sfn.Condition.boolean_equals("$.run.notify", True), notify_skipped)
        .otherwise(skipped)
    )
