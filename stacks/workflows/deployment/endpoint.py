"""The endpoint stage of a deployment: put the new endpoint config live, whatever state the endpoint is in.

SageMaker allows only some calls in each endpoint status (SageMaker API Reference,
DescribeEndpoint ``EndpointStatus``, UpdateEndpoint and DeleteEndpoint): an update needs
an endpoint that is InService (or UpdateRollbackFailed, which still serves); a Failed or
OutOfService endpoint can only be deleted; Creating, Updating, SystemUpdating, RollingBack
and Deleting must be waited out. So the stage looks the endpoint up and branches:

* missing → CreateEndpoint (a first deployment: no traffic to shift, so no canary);
* InService / UpdateRollbackFailed → UpdateEndpoint, blue/green with the environment's
  traffic shifting and alarm rollback (``update``);
* Failed / OutOfService → DeleteEndpoint, wait until it is gone, then CreateEndpoint;
* any status in progress → wait, then look again.

The lookup is ListEndpoints (by name) rather than DescribeEndpoint, because a missing
endpoint is then an empty answer instead of an error: every error of an aws-sdk SageMaker
task is ``SageMaker.SageMakerException``, so "not found" and "throttled" could not be told
apart by a Retry or a Catch. After the create or update, a bounded loop waits, handling every
status DescribeEndpoint documents: Creating, Updating, SystemUpdating and RollingBack are waited
out; Failed, UpdateRollbackFailed, OutOfService and Deleting end the run with the reason. At
InService the live config must be this run's: if it is not, SageMaker rolled the update back
(an alarm fired during a bake, or the new fleet never became healthy), a distinct outcome
(``rollback``). A verified deployment registers autoscaling (``scaling``), cleans up old models
and endpoint configs (``cleanup_step``) and notifies. Every loop is bounded by the same budget
of polls.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.task_retries import retry_transient
from stacks.config import EnvironmentConfig
from stacks.workflows.deployment.cleanup import clean_up_step
from stacks.workflows.deployment.rollback import rolled_back_chain
from stacks.workflows.deployment.scaling import register_chain
from stacks.workflows.deployment.sdk import sdk_task
from stacks.workflows.deployment.update import first_deployment, update_chain
from stacks.workflows.shared.failure_route import FailureRoute, notify_step
from stacks.workflows.shared.sagemaker_task import sagemaker_task

RUN = "$.run"
ENDPOINT = f"{RUN}.names.endpoint"
UPDATABLE = ("InService", "UpdateRollbackFailed")
REPLACEABLE = ("Failed", "OutOfService")
#: Statuses that end a deployment in progress, and what each means.
ENDED = {
    "UpdateRollbackFailed": "the update failed and so did SageMaker's rollback; the endpoint still serves",
    "OutOfService": "the endpoint went out of service during the deployment",
    "Deleting": "the endpoint is being deleted: something else deleted it during the deployment",
}


class EndpointDeployment(Construct):
    """The chain from "find the endpoint" to "clean up, notify success"; ``start`` is its first state."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        failure: FailureRoute,
        notify: lambda_.IFunction,
        clean_up: lambda_.IFunction,
        explain_rollback: lambda_.IFunction,
        endpoint_arn: str,
        configs_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._failure = failure
        self._endpoint_arn = endpoint_arn
        self._poll = Duration.seconds(config.endpoint_poll_seconds)
        self._max_polls = config.endpoint_max_polls
        endpoint_parameters = {"EndpointName.$": ENDPOINT, "EndpointConfigName.$": f"{RUN}.names.endpoint_config"}
        create = sagemaker_task(
            self,
            "CreateEndpoint",
            "createEndpoint",
            {"Parameters": endpoint_parameters, "ResultPath": sfn.JsonPath.DISCARD},
        )
        self.create = first_deployment(self)
        self.create.next(create)
        wait_for_live = self._wait_until_live(notify, clean_up, explain_rollback)
        create.next(wait_for_live)
        self.update = update_chain(self, config, endpoint_arn=endpoint_arn, configs_arn=configs_arn, then=wait_for_live)
        self.start = self._look_up_and_branch()

    # --- before: find the endpoint and decide -----------------------------------------------

    def _look_up_and_branch(self) -> sfn.IChainable:
        start = sfn.Pass(self, "StartDeploy", result=sfn.Result.from_object({"count": 0}), result_path="$.lookups")
        find = self._sdk(
            "FindEndpoint",
            "listEndpoints",
            {"NameContains": sfn.JsonPath.string_at(ENDPOINT), "MaxResults": 100},
            {"names": sfn.JsonPath.list_at("$.Endpoints[*].EndpointName")},
            "$.existing",
            iam_resources=["*"],  # ListEndpoints authorizes on "*" only (Service Authorization Reference)
        )
        exists = sfn.Pass(
            self,
            "EndpointExists",
            parameters={
                "found": sfn.JsonPath.array_contains(
                    sfn.JsonPath.list_at("$.existing.names"), sfn.JsonPath.string_at(ENDPOINT)
                )
            },
            result_path="$.existing",
        )
        describe = self._sdk(
            "DescribeExistingEndpoint",
            "describeEndpoint",
            {"EndpointName": sfn.JsonPath.string_at(ENDPOINT)},
            {
                "status": sfn.JsonPath.string_at("$.EndpointStatus"),
                "config": sfn.JsonPath.string_at("$.EndpointConfigName"),
            },
            "$.existing",
        )
        delete = self._sdk(
            "DeleteFailedEndpoint", "deleteEndpoint", {"EndpointName": sfn.JsonPath.string_at(ENDPOINT)}, None, None
        )
        look_again = self._counted(
            "CountLookup",
            "$.lookups",
            budget="LookupBudgetLeft",
            timed_out=("EndpointNeverSettled", "FindEndpoint"),
            then=self._pause("WaitBeforeLookingAgain", find),
        )
        status = (
            sfn.Choice(self, "ExistingEndpointStatus")
            .when(_status_in("$.existing.status", UPDATABLE), self.update)
            .when(_status_in("$.existing.status", REPLACEABLE), delete)
            .otherwise(look_again)
        )
        delete.next(look_again)
        start.next(find)
        find.next(exists)
        exists.next(
            sfn.Choice(self, "EndpointMissing")
            .when(sfn.Condition.boolean_equals("$.existing.found", False), self.create)
            .otherwise(describe)
        )
        describe.next(status)
        return start

    # --- after: wait for InService and check the live config --------------------------------

    def _wait_until_live(
        self, notify: lambda_.IFunction, clean_up: lambda_.IFunction, explain_rollback: lambda_.IFunction
    ) -> sfn.IChainable:
        start_waiting = sfn.Pass(
            self, "StartWaiting", result=sfn.Result.from_object({"count": 0}), result_path="$.polls"
        )
        wait = sfn.Wait(self, "WaitForEndpoint", time=sfn.WaitTime.duration(self._poll))
        check = self._sdk(
            "CheckEndpoint", "describeEndpoint", {"EndpointName": sfn.JsonPath.string_at(ENDPOINT)}, None, "$.endpoint"
        )
        notify_success = notify_step(self, "NotifyDeployed", notify=notify, kind="deployed")
        retry_transient(notify_success, "lambda")
        notify_success.next(sfn.Succeed(self, "Deployed"))
        clean_up_old = clean_up_step(self, "CleanUpOldVersions", function=clean_up, then=notify_success)
        scaling = self._config.autoscaling
        live = register_chain(self, self._config, scaling, clean_up_old) if scaling else clean_up_old
        verify = (
            sfn.Choice(self, "VerifyLiveConfig")
            .when(
                sfn.Condition.string_equals_json_path("$.endpoint.EndpointConfigName", f"{RUN}.names.endpoint_config"),
                live,
            )
            .otherwise(rolled_back_chain(self, explain=explain_rollback, notify=notify))
        )
        poll_again = self._counted(
            "CountPoll",
            "$.polls",
            budget="PollBudgetLeft",
            timed_out=("EndpointTimedOut", "WaitForEndpoint"),
            then=wait,
        )
        status = (
            sfn.Choice(self, "EndpointStatus")
            .when(sfn.Condition.string_equals("$.endpoint.EndpointStatus", "InService"), verify)
            .when(
                sfn.Condition.string_equals("$.endpoint.EndpointStatus", "Failed"),
                self._failure.fail_with(
                    "EndpointFailed",
                    failed_state="CheckEndpoint",
                    error="EndpointFailed",
                    cause=sfn.JsonPath.string_at("$.endpoint.FailureReason"),
                ),
            )
        )
        for ended, meaning in ENDED.items():
            status.when(
                sfn.Condition.string_equals("$.endpoint.EndpointStatus", ended),
                self._failure.fail_with(
                    f"Endpoint{ended}",
                    failed_state="CheckEndpoint",
                    error=f"Endpoint{ended}",
                    cause=f"{meaning} (status {ended}); DescribeEndpoint's FailureReason says why",
                ),
            )
        status.otherwise(poll_again)
        start_waiting.next(wait)
        wait.next(check)
        check.next(status)
        return start_waiting

    # --- helpers -------------------------------------------------------------------------------

    def _sdk(
        self,
        construct_id: str,
        action: str,
        parameters: dict[str, object],
        selector: dict[str, object] | None,
        result_path: str | None,
        *,
        iam_resources: list[str] | None = None,
    ) -> tasks.CallAwsService:
        return sdk_task(
            self,
            construct_id,
            service="sagemaker",
            action=action,
            parameters=parameters,
            iam_resources=iam_resources or [self._endpoint_arn],
            selector=selector,
            result_path=result_path,
        )

    def _pause(self, construct_id: str, then: sfn.IChainable) -> sfn.Wait:
        pause = sfn.Wait(self, construct_id, time=sfn.WaitTime.duration(self._poll))
        pause.next(then)
        return pause

    def _counted(
        self,
        construct_id: str,
        counter: str,
        *,
        budget: str,
        timed_out: tuple[str, str],
        then: sfn.IChainable,
    ) -> sfn.IChainable:
        """Count one poll against the budget, then go on to ``then``, or fail once the budget is spent."""
        count = sfn.Pass(
            self,
            construct_id,
            parameters={"count": sfn.JsonPath.math_add(sfn.JsonPath.number_at(f"{counter}.count"), 1)},
            result_path=counter,
        )
        failure_id, failed_state = timed_out
        out_of_polls = self._failure.fail_with(
            failure_id,
            failed_state=failed_state,
            error="EndpointTimeout",
            cause=f"The endpoint did not reach the expected status within {self._max_polls} checks "
            f"{int(self._poll.to_seconds())} s apart",
        )
        count.next(
            sfn.Choice(self, budget)
            .when(sfn.Condition.number_greater_than_equals(f"{counter}.count", self._max_polls), out_of_polls)
            .otherwise(then)
        )
        return count


def _status_in(path: str, statuses: tuple[str, ...]) -> sfn.Condition:
    return sfn.Condition.or_(*(sfn.Condition.string_equals(path, status) for status in statuses))
