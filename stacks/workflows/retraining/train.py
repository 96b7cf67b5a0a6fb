"""Train stage: one SageMaker training job (``createTrainingJob.sync``) on the run's dataset."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.workflows.shared.sagemaker_task import sagemaker_task
from training.metrics_contract import METRIC_DEFINITIONS

RUN = "$.run"


def train_step(
    scope: Construct, *, role: iam.IRole, key: kms.IKey, environment: dict[str, str] | None = None
) -> sfn.CustomState:
    """The training job; ``environment`` adds fixed variables (such as MLflow's tracking URI)."""

    def channel(name: str) -> dict[str, Any]:
        return {
            "ChannelName": name,
            "ContentType": "text/csv",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri.$": f"{RUN}.data.{name}_uri",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }

    return sagemaker_task(
        scope,
        "Train",
        "createTrainingJob.sync",
        {
            "Parameters": {
                "TrainingJobName.$": f"{RUN}.names.training_job",
                "RoleArn": role.role_arn,
                "AlgorithmSpecification": {
                    "TrainingImage.$": f"{RUN}.code.training.image_uri",
                    "TrainingInputMode": "File",
                    "MetricDefinitions": [dict(d) for d in METRIC_DEFINITIONS],
                },
                "HyperParameters.$": f"{RUN}.hyperparameters",
                "InputDataConfig": [channel("train"), channel("validation")],
                "OutputDataConfig": {"S3OutputPath.$": f"{RUN}.output_uri", "KmsKeyId": key.key_arn},
                "ResourceConfig": {
                    "InstanceType.$": f"{RUN}.settings.training_instance_type",
                    "InstanceCount.$": f"{RUN}.settings.training_instance_count",
                    "VolumeSizeInGB.$": f"{RUN}.settings.training_volume_gb",
                },
                "StoppingCondition": {"MaxRuntimeInSeconds.$": f"{RUN}.settings.max_runtime_seconds"},
                "Environment": {
                    "DATA_VERSION.$": f"{RUN}.data.version",
                    "CODE_VERSION.$": f"{RUN}.code.version",
                    "RUN_ID.$": f"{RUN}.run_id",
                    **(environment or {}),
                },
            },
            # Only fields a Completed job always has: a path to an absent field (such as
            # FinalMetricDataList when the job emitted no metric) is a States.Runtime error,
            # which no Catch can handle. The notify Lambda reads the metrics itself.
            "ResultSelector": {
                "job_name.$": "$.TrainingJobName",
                "model_artifacts.$": "$.ModelArtifacts.S3ModelArtifacts",
            },
            "ResultPath": "$.training",
        },
    )
