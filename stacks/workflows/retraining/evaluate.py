"""Evaluate stage: find the champion, then score it and the new model (the challenger) on the same test data.

The champion is the newest Approved version of the environment's model package group, if
any (ListModelPackages, then DescribeModelPackage for its artifact). The evaluation is a
SageMaker Processing job (``createProcessingJob.sync``) running the training image's
``python -m training.evaluate`` under the Processing container contract: the test channel,
the challenger's ``model.tar.gz`` and the champion's are downloaded to
``/opt/ml/processing/input/{test,challenger,champion}``, and ``evaluation.json`` is uploaded
from ``/opt/ml/processing/evaluation`` to the run's ``evaluation_uri`` (SageMaker API
Reference, CreateProcessingJob; SageMaker Developer Guide, "How Amazon SageMaker Processing
Runs Your Processing Container Image"). Without a champion the job gets one input fewer.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.task_retries import retry_transient
from stacks.workflows.shared.registry_lookup import newest_approved
from stacks.workflows.shared.sagemaker_task import sagemaker_task

RUN = "$.run"
PROCESSING = "/opt/ml/processing"
#: How the training image runs the evaluation (its ENTRYPOINT is empty, its PYTHONPATH holds training/).
EVALUATE_ENTRYPOINT = ["python3", "-m", "training.evaluate"]


def _input(name: str, uri_path: str) -> dict[str, Any]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri.$": uri_path,
            "LocalPath": f"{PROCESSING}/input/{name}",
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def evaluation_chain(
    scope: Construct,
    *,
    group_name: str,
    group_packages_arn: str,
    role: iam.IRole,
    key: kms.IKey,
    environment: dict[str, str] | None = None,
) -> tuple[sfn.IChainable, sfn.CustomState]:
    """``(first state, Evaluate)``: the champion lookup, then the evaluation job."""
    find = tasks.CallAwsService(
        scope,
        "FindChampion",
        service="sagemaker",
        action="listModelPackages",
        parameters=newest_approved(group_name),
        # ListModelPackages authorizes on "*" only (Service Authorization Reference, Amazon SageMaker).
        iam_resources=["*"],
        result_selector={"arns": sfn.JsonPath.list_at("$.ModelPackageSummaryList[*].ModelPackageArn")},
        result_path="$.champion",
    )
    retry_transient(find, "sagemaker-sdk")
    describe = tasks.CallAwsService(
        scope,
        "DescribeChampion",
        service="sagemaker",
        action="describeModelPackage",
        parameters={"ModelPackageName": sfn.JsonPath.string_at("$.champion.arns[0]")},
        iam_resources=[group_packages_arn],
        result_selector={
            "found": True,
            "arn": sfn.JsonPath.string_at("$.ModelPackageArn"),
            "version": sfn.JsonPath.number_at("$.ModelPackageVersion"),
            "model_data_url": sfn.JsonPath.string_at("$.InferenceSpecification.Containers[0].ModelDataUrl"),
        },
        result_path="$.champion",
    )
    retry_transient(describe, "sagemaker-sdk")
    test, challenger = _input("test", f"{RUN}.data.test_uri"), _input("challenger", "$.training.model_artifacts")
    with_champion = sfn.Pass(
        scope,
        "EvaluateAgainstChampion",
        parameters={
            "inputs": [test, challenger, _input("champion", "$.champion.model_data_url")],
            "champion_version": sfn.JsonPath.format("{}", sfn.JsonPath.string_at("$.champion.version")),
        },
        result_path="$.evaluation",
    )
    no_champion = sfn.Pass(
        scope, "NoChampion", result=sfn.Result.from_object({"found": False}), result_path="$.champion"
    )
    alone = sfn.Pass(
        scope,
        "EvaluateAlone",
        parameters={"inputs": [test, challenger], "champion_version": ""},
        result_path="$.evaluation",
    )
    evaluate = sagemaker_task(
        scope,
        "Evaluate",
        "createProcessingJob.sync",
        {
            "Parameters": {
                "ProcessingJobName.$": f"{RUN}.names.evaluation_job",
                "RoleArn": role.role_arn,
                "AppSpecification": {
                    "ImageUri.$": f"{RUN}.code.training.image_uri",
                    "ContainerEntrypoint": EVALUATE_ENTRYPOINT,
                },
                "ProcessingInputs.$": "$.evaluation.inputs",
                "ProcessingOutputConfig": {
                    "Outputs": [
                        {
                            "OutputName": "evaluation",
                            "S3Output": {
                                "S3Uri.$": f"{RUN}.evaluation_uri",
                                "LocalPath": f"{PROCESSING}/evaluation",
                                "S3UploadMode": "EndOfJob",
                            },
                        }
                    ],
                    "KmsKeyId": key.key_arn,
                },
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType.$": f"{RUN}.settings.processing_instance_type",
                        "VolumeSizeInGB": 30,
                    }
                },
                "StoppingCondition": {"MaxRuntimeInSeconds.$": f"{RUN}.settings.evaluation_max_runtime_seconds"},
                "Environment": {
                    "RUN_ID.$": f"{RUN}.run_id",
                    "CHAMPION_VERSION.$": "$.evaluation.champion_version",
                    **(environment or {}),
                },
            },
            "ResultSelector": {"job_name.$": "$.ProcessingJobName"},
            "ResultPath": "$.evaluation.job",
        },
    )
    find.next(
        sfn.Choice(scope, "ChampionExists")
        .when(sfn.Condition.is_present("$.champion.arns[0]"), describe.next(with_champion).next(evaluate))
        .otherwise(no_champion.next(alone).next(evaluate))
    )
    return find, evaluate
