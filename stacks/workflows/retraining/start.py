"""Start stage: Initiate (run id, dataset, code versions, settings), waiting in line behind a running run."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.task_retries import retry_transient

RUN = "$.run"


def initiate_step(scope: Construct, initiate: lambda_.IFunction) -> tasks.LambdaInvoke:
    """Invoke ``initiate`` with the execution input and context; its result is ``$.run``."""
    step = tasks.LambdaInvoke(
        scope,
        "Initiate",
        lambda_function=initiate,
        payload=sfn.TaskInput.from_object(
            {
                "input": sfn.JsonPath.entire_payload,
                "execution": {
                    "id": sfn.JsonPath.string_at("$$.Execution.Id"),
                    "name": sfn.JsonPath.string_at("$$.Execution.Name"),
                    "start_time": sfn.JsonPath.string_at("$$.Execution.StartTime"),
                    "state_machine_arn": sfn.JsonPath.string_at("$$.StateMachine.Id"),
                },
            }
        ),
        payload_response_only=True,
        result_path=RUN,
        retry_on_service_exceptions=False,
    )
    retry_transient(step, "lambda")
    return step


def wait_in_line(scope: Construct, initiate: tasks.LambdaInvoke, *, poll_seconds: int, then: sfn.IChainable) -> None:
    """One run at a time: Initiate answers ``queued`` while an earlier run is in progress, and is
    asked again after a wait (``lambdas/initiate_pipeline/queue.py``); otherwise go on to ``then``."""
    wait = sfn.Wait(scope, "WaitInLine", time=sfn.WaitTime.duration(Duration.seconds(poll_seconds)))
    initiate.next(
        sfn.Choice(scope, "WaitIfRunInProgress")
        .when(sfn.Condition.boolean_equals(f"{RUN}.queued", True), wait.next(initiate))
        .otherwise(then)
    )
