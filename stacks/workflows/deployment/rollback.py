"""The endpoint serves another config than this run's: rolled back, or superseded.

A blue/green update that SageMaker rolls back ends InService on the old endpoint config
(SageMaker API Reference, DescribeEndpoint: the rollback returns the endpoint to InService).
That is neither a success nor a failure of the state machine's own: ``ExplainRollback`` reads
the alarms and the canary's figures and rejects the version when an alarm fired, then one
notification says so, and the execution ends failed with ``DeploymentRolledBack`` so that it
counts as not deployed. The failure route does not notify a second time: a Fail state is not
caught.

A third config (neither this run's nor the one it replaced) means a later deployment updated
the endpoint between two of this run's polls: two versions approved in quick succession. That
run waited for this one's update to end before it started its own, so this one is
``superseded``: explained and notified the same way, nothing rejected, and the execution
succeeds.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.task_retries import retry_transient
from stacks.workflows.shared.failure_route import notify_step


def rolled_back_chain(scope: Construct, *, explain: lambda_.IFunction, notify: lambda_.IFunction) -> sfn.IChainable:
    """ExplainRollback → NotifyRolledBack → Fail(DeploymentRolledBack), or Succeed(Superseded)."""
    explained = tasks.LambdaInvoke(
        scope,
        "ExplainRollback",
        lambda_function=explain,
        payload=sfn.TaskInput.from_object(
            {
                "run": sfn.JsonPath.object_at("$.run"),
                "update": sfn.JsonPath.object_at("$.update"),
                "endpoint": sfn.JsonPath.object_at("$.endpoint"),
                "existing": sfn.JsonPath.object_at("$.existing"),
            }
        ),
        result_selector={"report": sfn.JsonPath.object_at("$.Payload")},
        result_path="$.rollback",
        retry_on_service_exceptions=False,
    )
    retry_transient(explained, "lambda")
    notified = notify_step(scope, "NotifyRolledBack", notify=notify, kind="rolled_back")
    retry_transient(notified, "lambda")
    failed = sfn.Fail(scope, "RolledBack", error="DeploymentRolledBack", cause_path="$.rollback.report.summary")
    outcome = (
        sfn.Choice(scope, "RolledBackOrSuperseded")
        .when(sfn.Condition.string_equals("$.rollback.report.outcome", "superseded"), sfn.Succeed(scope, "Superseded"))
        .otherwise(failed)
    )
    explained.next(notified).next(outcome)
    return explained
