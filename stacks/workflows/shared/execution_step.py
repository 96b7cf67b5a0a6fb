"""The first step of each state machine: a Lambda given the execution's input and its ``$$`` context."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.task_retries import retry_transient


def execution_step(
    scope: Construct, construct_id: str, *, function: lambda_.IFunction, input_key: str
) -> tasks.LambdaInvoke:
    """Invoke ``function`` with ``{input_key: <the whole state>, "execution": {id, name, start_time,
    state_machine_arn}}``; its answer becomes ``$.run``, which the failure route and notify read."""
    step = tasks.LambdaInvoke(
        scope,
        construct_id,
        lambda_function=function,
        payload=sfn.TaskInput.from_object(
            {
                input_key: sfn.JsonPath.entire_payload,
                "execution": {
                    "id": sfn.JsonPath.string_at("$$.Execution.Id"),
                    "name": sfn.JsonPath.string_at("$$.Execution.Name"),
                    "start_time": sfn.JsonPath.string_at("$$.Execution.StartTime"),
                    "state_machine_arn": sfn.JsonPath.string_at("$$.StateMachine.Id"),
                },
            }
        ),
        payload_response_only=True,
        result_path="$.run",
        retry_on_service_exceptions=False,
    )
    retry_transient(step, "lambda")
    return step
