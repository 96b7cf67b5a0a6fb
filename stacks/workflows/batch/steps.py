"""The batch state machine's steps: find the version, make a model of it, transform, count, notify, delete.

* ``FindBatchVersion``/``DescribeBatchVersion``: the newest Approved version of the group
  (ListModelPackages sorted by CreationTime, descending, one result; then DescribeModelPackage),
  as the retraining's champion lookup does. None approved ends the run through the failure
  route with "no Approved version to score with".
* ``CreateBatchModel``: CreateModel from the package (SageMaker API Reference,
  ContainerDefinition ``ModelPackageName``), as the deployment does, named for this run.
* ``Transform``: ``createTransformJob.sync`` (SageMaker API Reference, CreateTransformJob).
  ``SplitType: Line`` with ``BatchStrategy: MultiRecord`` sends whole lines, as many as fit in
  ``MaxPayloadInMB``; ``AssembleWith: Line`` and ``JoinSource: Input`` write each input line
  followed by its answer, in order. SageMaker itself tells the container it runs a batch
  (``SAGEMAKER_BATCH``, ``SAGEMAKER_MAX_PAYLOAD_IN_MB``, ``SAGEMAKER_BATCH_STRATEGY``,
  ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS``: SageMaker Developer Guide, "Use your own inference
  code with batch transform"), so the job sets no ``Environment``. The marker ``_SUCCESS`` is
  in the input prefix: it is empty, and an empty object yields no records.
* ``SummarizeBatch`` (Lambda) → ``NotifyBatch`` (kind ``batch_scored``) → ``DeleteBatchModel``.

Once the model exists, a failure of the transform, the summary or the notification deletes
it on the way to the failure route (``DeleteBatchModelAfterFailure``), so a failed batch
leaves nothing behind; the failure route still names the state that failed and its error.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.task_retries import retry_transient
from stacks.monitoring_config import Batch
from stacks.workflows.deployment.sdk import sdk_task
from stacks.workflows.shared.failure_route import FailureRoute, notify_step
from stacks.workflows.shared.registry_lookup import newest_approved
from stacks.workflows.shared.sagemaker_task import sagemaker_task

RUN = "$.run"
#: What a step catches to delete the batch's model before the failure route reports the error:
#: every error a task reports (``States.TaskFailed``) and its timeout (Step Functions Developer
#: Guide, "Error names"). The failure route's ``States.ALL`` catch stays last on every task.
AFTER_MODEL_ERRORS = [sfn.Errors.TASKS_FAILED, sfn.Errors.TIMEOUT]
NO_APPROVED_VERSION = "no Approved version to score with"


def find_version(
    scope: Construct,
    *,
    environment: str,
    group_name: str,
    group_packages_arn: str,
    failure: FailureRoute,
    then: sfn.IChainable,
) -> sfn.IChainable:
    """The newest Approved version at ``$.version`` (``arn``, ``version``), or a failure saying there is none."""
    find = sdk_task(
        scope,
        "FindBatchVersion",
        service="sagemaker",
        action="listModelPackages",
        parameters=newest_approved(group_name),
        # ListModelPackages authorizes on "*" only (Service Authorization Reference, Amazon SageMaker).
        iam_resources=["*"],
        selector={"arns": sfn.JsonPath.list_at("$.ModelPackageSummaryList[*].ModelPackageArn")},
        result_path="$.version",
    )
    describe = sdk_task(
        scope,
        "DescribeBatchVersion",
        service="sagemaker",
        action="describeModelPackage",
        parameters={"ModelPackageName": sfn.JsonPath.string_at("$.version.arns[0]")},
        iam_resources=[group_packages_arn],
        selector={
            "arn": sfn.JsonPath.string_at("$.ModelPackageArn"),
            "version": sfn.JsonPath.format("{}", sfn.JsonPath.string_at("$.ModelPackageVersion")),
        },
        result_path="$.version",
    )
    none_approved = failure.fail_with(
        "NoApprovedVersion",
        failed_state="FindBatchVersion",
        error="NoApprovedVersion",
        cause=f"{NO_APPROVED_VERSION}: model package group {group_name} has no Approved version. Approve one "
        f"(make approve ENV={environment} VERSION=<n>), then upload the batch's _SUCCESS marker again",
    )
    find.next(
        sfn.Choice(scope, "BatchVersionFound")
        .when(sfn.Condition.is_present("$.version.arns[0]"), describe)
        .otherwise(none_approved)
    )
    describe.next(then)
    return find


def create_model(scope: Construct, role: iam.IRole) -> sfn.CustomState:
    """CreateModel ``$.run.names.model`` from the version found; the container reports that version."""
    return sagemaker_task(
        scope,
        "CreateBatchModel",
        "createModel",
        {
            "Parameters": {
                "ModelName.$": f"{RUN}.names.model",
                "ExecutionRoleArn": role.role_arn,
                "PrimaryContainer": {
                    "ModelPackageName.$": "$.version.arn",
                    "Environment": {"MODEL_VERSION.$": "$.version.version"},
                },
            },
            "ResultSelector": {"model_arn.$": "$.ModelArn"},
            "ResultPath": "$.model",
        },
    )


def transform_parameters(batch: Batch, key: kms.IKey) -> dict[str, Any]:
    """CreateTransformJob's parameters: the batch's input, line by line, to its output, input joined."""
    return {
        "TransformJobName.$": f"{RUN}.names.transform_job",
        "ModelName.$": f"{RUN}.names.model",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": f"{RUN}.input_uri"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "BatchStrategy": "MultiRecord",
        "MaxPayloadInMB": batch.max_payload_mb,
        "MaxConcurrentTransforms": batch.max_concurrent_transforms,
        "TransformOutput": {
            "S3OutputPath.$": f"{RUN}.output_uri",
            "Accept": "text/csv",
            "AssembleWith": "Line",
            "KmsKeyId": key.key_arn,
        },
        "DataProcessing": {"JoinSource": "Input"},
        "TransformResources": {"InstanceType": batch.instance_type, "InstanceCount": batch.instance_count},
    }


def transform(scope: Construct, batch: Batch, key: kms.IKey) -> sfn.CustomState:
    """The transform job, waited for; it has no run-time limit of its own, so the task's timeout is the bound."""
    return sagemaker_task(
        scope,
        "Transform",
        "createTransformJob.sync",
        {
            "Parameters": transform_parameters(batch, key),
            "TimeoutSeconds": batch.max_runtime_seconds,
            "ResultSelector": {"job_name.$": "$.TransformJobName", "status.$": "$.TransformJobStatus"},
            "ResultPath": "$.transform",
        },
    )


def summarize(scope: Construct, function: lambda_.IFunction) -> tasks.LambdaInvoke:
    """Count the output's rows (``$.batch``)."""
    step = tasks.LambdaInvoke(
        scope,
        "SummarizeBatch",
        lambda_function=function,
        payload=sfn.TaskInput.from_object(
            {
                "run": sfn.JsonPath.object_at(RUN),
                "version": sfn.JsonPath.object_at("$.version"),
                "transform": sfn.JsonPath.object_at("$.transform"),
            }
        ),
        payload_response_only=True,
        result_path="$.batch",
        retry_on_service_exceptions=False,
    )
    retry_transient(step, "lambda")
    return step


def notify_scored(scope: Construct, notify: lambda_.IFunction) -> tasks.LambdaInvoke:
    step = notify_step(scope, "NotifyBatch", notify=notify, kind="batch_scored")
    retry_transient(step, "lambda")
    return step


def delete_model(scope: Construct, construct_id: str, models_arn: str) -> tasks.CallAwsService:
    """DeleteModel ``$.run.names.model`` (a repeated delete is harmless, so it is retried)."""
    return sdk_task(
        scope,
        construct_id,
        service="sagemaker",
        action="deleteModel",
        parameters={"ModelName": sfn.JsonPath.string_at(f"{RUN}.names.model")},
        iam_resources=[models_arn],
    )


def delete_model_on_failure(
    scope: Construct, *, steps: list[sfn.TaskStateBase | sfn.CustomState], failure: FailureRoute, models_arn: str
) -> None:
    """Make a failure of any of ``steps`` delete the model, then notify like any failure.

    Each step records its own name at ``$.failed_state`` and its error at ``$.error`` (what the
    failure route reads). Should the delete fail too, its error goes to ``$.cleanup_error`` and
    the original failure is still the one reported.
    """
    delete = delete_model(scope, "DeleteBatchModelAfterFailure", models_arn)
    delete.add_catch(failure.notify, errors=AFTER_MODEL_ERRORS, result_path="$.cleanup_error")
    delete.next(failure.notify)
    for step in steps:
        record = sfn.Pass(
            scope,
            f"{step.state_id}FailedWithModel",
            result=sfn.Result.from_string(step.state_id),
            result_path="$.failed_state",
        )
        record.next(delete)
        step.add_catch(record, errors=AFTER_MODEL_ERRORS, result_path="$.error")


def state_machine_timeout(batch: Batch) -> Duration:
    """The transform's bound plus an hour for everything around it."""
    return Duration.seconds(batch.max_runtime_seconds + 3600)
