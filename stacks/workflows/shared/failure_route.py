"""The one error path of the state machine: record what failed → notify → Fail.

Every Task, Parallel and Map state reachable from the start gets the same
``States.ALL`` catch from :meth:`FailureRoute.protect_all`, so a new step is
covered without anyone remembering to paste a catch onto it.

The notify Lambda formats the message. If it fails too (after its retries), the
route still tells people: a plain ``sns:publish`` straight from the state machine
names the state that failed first and its error, then the execution fails with
that original error. The fallback leaves the Cause out on purpose: a Lambda's
cause carries its stack trace, which never goes into a notification; the
execution's history has it, and the message links to the execution.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.task_retries import retry_transient

_CATCHABLE = (sfn.TaskStateBase, sfn.Parallel, sfn.Map, sfn.CustomState)


def notify_step(scope: Construct, construct_id: str, *, notify: lambda_.IFunction, kind: str) -> tasks.LambdaInvoke:
    """Invoke the ``notify`` Lambda with the whole state, keeping the state unchanged."""
    return tasks.LambdaInvoke(
        scope,
        construct_id,
        lambda_function=notify,
        payload=sfn.TaskInput.from_object(
            {
                "kind": kind,
                "execution_arn": sfn.JsonPath.string_at("$$.Execution.Id"),
                "state": sfn.JsonPath.entire_payload,
            }
        ),
        result_path=sfn.JsonPath.DISCARD,
        retry_on_service_exceptions=False,
    )


class FailureRoute(Construct):
    """Notify on SNS (through the ``notify`` Lambda) and end the execution as failed."""

    def __init__(
        self, scope: Construct, construct_id: str, *, notify: lambda_.IFunction, topic: sns.ITopic, environment: str
    ) -> None:
        super().__init__(scope, construct_id)
        failed = sfn.Fail(self, "PipelineFailed", error_path="$.error.Error", cause_path="$.error.Cause")
        self.notify = notify_step(self, "NotifyFailure", notify=notify, kind="failure")
        retry_transient(self.notify, "lambda")
        self.notify.next(failed)
        fallback = tasks.SnsPublish(
            self,
            "NotifyFailureFallback",
            topic=topic,
            subject=sfn.JsonPath.format(
                f"[FraudPipeline {environment}] FAILED at {{}}", sfn.JsonPath.string_at("$.failed_state")
            ),
            message=sfn.TaskInput.from_text(
                sfn.JsonPath.format(
                    f"The fraud-detection pipeline ({environment}) failed at {{}} with {{}}. The notify function "
                    "could not format this message ({}), so this is the plain fallback; the cause is in the "
                    "history of execution {}",
                    sfn.JsonPath.string_at("$.failed_state"),
                    sfn.JsonPath.string_at("$.error.Error"),
                    sfn.JsonPath.string_at("$.notify_error.Error"),
                    sfn.JsonPath.string_at("$$.Execution.Id"),
                )
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        fallback.next(failed)
        self.notify.add_catch(fallback, errors=[sfn.Errors.ALL], result_path="$.notify_error")

    def fail_with(self, construct_id: str, *, failed_state: str, error: str, cause: str) -> sfn.Pass:
        """A Pass that turns a condition a Choice detected into a failure of ``failed_state``.

        ``cause`` may be a JsonPath (``sfn.JsonPath.string_at`` / ``format``) or plain text.
        """
        failure = sfn.Pass(
            self,
            construct_id,
            parameters={
                "failed_state": failed_state,
                "error": {"Error": error, "Cause": cause},
                "run": sfn.JsonPath.object_at("$.run"),
            },
        )
        failure.next(self.notify)
        return failure

    def protect_all(self, start: sfn.State) -> None:
        """Catch ``States.ALL`` on every Task/Parallel/Map reachable from ``start``.

        States reached only through another catch (such as creating a missing
        endpoint) are protected too; this route's own states are not.
        """
        own = self.node.path + "/"
        for state in sfn.State.find_reachable_states(start, include_error_handlers=True):
            if isinstance(state, _CATCHABLE) and not state.node.path.startswith(own):
                self._catch(state)

    def _catch(self, state: sfn.TaskStateBase | sfn.Parallel | sfn.Map | sfn.CustomState) -> None:
        record = sfn.Pass(
            self,
            f"{state.state_id}Failed",
            result=sfn.Result.from_string(state.state_id),
            result_path="$.failed_state",
        )
        record.next(self.notify)
        state.add_catch(record, errors=[sfn.Errors.ALL], result_path="$.error")
