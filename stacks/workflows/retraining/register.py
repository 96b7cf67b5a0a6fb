"""Gate and register stage: decide on the evaluation, record the version in the registry, tell people.

The ``quality_gate`` Lambda reads the evaluation report and decides: Approved (the environment
approves automatically), PendingManualApproval (someone must approve), or Rejected (kept for
audit). Register is ``aws-sdk:sagemaker:createModelPackage`` into the environment's group with
the inference image and artifact, the report as ``ModelMetrics``, and the run's lineage as
``CustomerMetadataProperties`` (SageMaker API Reference, CreateModelPackage). An Approved
version's state-change event starts the deployment state machine; nothing here deploys.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.task_retries import retry_transient
from stacks.workflows.shared.failure_route import notify_step

RUN = "$.run"
CONTENT_TYPES = ["text/csv", "application/json"]


def _text(path: str) -> str:
    """A JSON value as a string (CustomerMetadataProperties holds strings only)."""
    return sfn.JsonPath.format("{}", sfn.JsonPath.string_at(path))


def gate_and_register(
    scope: Construct,
    *,
    gate: lambda_.IFunction,
    notify: lambda_.IFunction,
    group_name: str,
    group_arn: str,
    group_packages_arn: str,
) -> tuple[sfn.IChainable, sfn.INextable]:
    """``(Gate, NotifyRegistered)``: gate → register → notify."""
    decide = tasks.LambdaInvoke(
        scope,
        "Gate",
        lambda_function=gate,
        payload=sfn.TaskInput.from_object(
            {
                "report_uri": sfn.JsonPath.format("{}evaluation.json", sfn.JsonPath.string_at(f"{RUN}.evaluation_uri")),
                "settings": sfn.JsonPath.object_at(f"{RUN}.settings.gate"),
                "champion": sfn.JsonPath.object_at("$.champion"),
            }
        ),
        payload_response_only=True,
        result_path="$.gate",
        retry_on_service_exceptions=False,
    )
    retry_transient(decide, "lambda")
    register = tasks.CallAwsService(
        scope,
        "Register",
        service="sagemaker",
        action="createModelPackage",
        parameters={
            "ModelPackageGroupName": group_name,
            "ModelPackageDescription": sfn.JsonPath.string_at("$.gate.reason"),
            "ModelApprovalStatus": sfn.JsonPath.string_at("$.gate.approval_status"),
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": sfn.JsonPath.string_at(f"{RUN}.code.inference.image_uri"),
                        "ModelDataUrl": sfn.JsonPath.string_at("$.training.model_artifacts"),
                    }
                ],
                "SupportedContentTypes": CONTENT_TYPES,
                "SupportedResponseMIMETypes": ["application/json"],
            },
            "ModelMetrics": {
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": sfn.JsonPath.string_at("$.gate.report_uri"),
                    }
                }
            },
            "CustomerMetadataProperties": {
                "run_id": sfn.JsonPath.string_at(f"{RUN}.run_id"),
                "dataset": sfn.JsonPath.string_at(f"{RUN}.data.prefix"),
                "data_version": sfn.JsonPath.string_at(f"{RUN}.data.version"),
                "code_version": sfn.JsonPath.string_at(f"{RUN}.code.version"),
                "training_job": sfn.JsonPath.string_at("$.training.job_name"),
                "mlflow_run_id": sfn.JsonPath.string_at("$.gate.mlflow_run_id"),
                "gate_decision": sfn.JsonPath.string_at("$.gate.decision"),
                "pr_auc": _text("$.gate.challenger.pr_auc"),
                "roc_auc": _text("$.gate.challenger.roc_auc"),
            },
        },
        # CreateModelPackage authorizes on the new version's ARN (model-package/<group>/<n>) and the group.
        iam_resources=[group_arn, group_packages_arn],
        result_selector={"arn": sfn.JsonPath.string_at("$.ModelPackageArn")},
        result_path="$.registered",
    )
    retry_transient(register, "sagemaker-sdk")
    notify_registered = notify_step(scope, "NotifyRegistered", notify=notify, kind="registered")
    retry_transient(notify_registered, "lambda")
    decide.next(register).next(notify_registered)
    return decide, notify_registered
