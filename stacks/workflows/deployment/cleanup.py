"""The clean-up step of a deploy: delete old models and endpoint configs, never failing a good deployment.

It runs after the live config is verified and before the success notification, and calls the
``sagemaker_cleanup`` Lambda (``handler``) with the config this run put live. By then the new
model is serving, so a clean-up that fails must not turn the run into a failure (nor undo
anything): its errors are caught here and carried to the success notification at
``$.cleanup_error``, and the run still succeeds; the next successful run deletes what this one
left. ``States.TaskFailed`` matches every error a task reports except ``States.Timeout``
(Step Functions Developer Guide, "Error names"), so the pair catches all of them. The state
machine's catch-all (``FailureRoute.protect_all``) still sits behind, as on every Task, for
whatever those two cannot match; transient Lambda errors are retried first, as on every
Lambda task.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.task_retries import retry_transient

#: What the step catches and reports instead of failing the run.
CLEANUP_ERRORS = [sfn.Errors.TASKS_FAILED, sfn.Errors.TIMEOUT]


def clean_up_step(
    scope: Construct, construct_id: str, *, function: lambda_.IFunction, then: sfn.IChainable
) -> tasks.LambdaInvoke:
    """Invoke ``function`` with the live config; go on to ``then`` whether it succeeded (``$.cleanup``) or not."""
    step = tasks.LambdaInvoke(
        scope,
        construct_id,
        lambda_function=function,
        payload=sfn.TaskInput.from_object(
            {
                "execution_arn": sfn.JsonPath.string_at("$$.Execution.Id"),
                "live_endpoint_config": sfn.JsonPath.string_at("$.endpoint.EndpointConfigName"),
            }
        ),
        payload_response_only=True,
        result_path="$.cleanup",
        retry_on_service_exceptions=False,
    )
    retry_transient(step, "lambda")
    step.add_catch(then, errors=CLEANUP_ERRORS, result_path="$.cleanup_error")
    step.next(then)
    return step
