"""Start stage: Initiate (run id, dataset, code versions, settings), waiting in line behind a running run."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.workflows.shared.execution_step import execution_step

RUN = "$.run"


def initiate_step(scope: Construct, initiate: lambda_.IFunction) -> tasks.LambdaInvoke:
    """Invoke ``initiate`` with the execution input and context; its result is ``$.run``."""
    return execution_step(scope, "Initiate", function=initiate, input_key="input")


def wait_in_line(scope: Construct, initiate: tasks.LambdaInvoke, *, poll_seconds: int, then: sfn.IChainable) -> None:
    """One run at a time: Initiate answers ``queued`` while an earlier run is in progress, and is
    asked again after a wait (``lambdas/initiate_pipeline/queue.py``); otherwise go on to ``then``."""
    wait = sfn.Wait(scope, "WaitInLine", time=sfn.WaitTime.duration(Duration.seconds(poll_seconds)))
    initiate.next(
        sfn.Choice(scope, "WaitIfRunInProgress")
        .when(sfn.Condition.boolean_equals(f"{RUN}.queued", True), wait.next(initiate))
        .otherwise(then)
    )
