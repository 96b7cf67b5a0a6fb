"""The drift job: a SageMaker Processing job (``createProcessingJob.sync``) running ``python3 -m training.monitor``.

SageMaker Model Monitor is closed to new customers, so the comparison is our own Processing job on
the training image, under the Processing container contract (SageMaker Developer Guide, "How Amazon
SageMaker Processing Runs Your Processing Container Image"; API Reference, CreateProcessingJob):

* ``input/capture``: every capture file of the endpoint (``data-capture/<endpoint>/``); the monitor
  keeps the records whose ``inferenceTime`` is inside ``WINDOW_START`` .. ``WINDOW_END``;
* ``input/model``: the live version's ``model.tar.gz``, which holds the training baseline;
* ``input/labels``: the label CSVs, only when there are some: an input whose prefix holds no object
  fails the job ("No S3 objects found under S3 URL"), so a Choice picks one of two input lists, as
  the evaluation does with and without a champion;
* ``output``: ``drift_report.json`` and ``drift_report.html``, uploaded to ``drift-reports/<job>/``
  under the environment's key.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.workflows.shared.sagemaker_task import sagemaker_task

RUN = "$.run"
INPUTS = "$.drift_inputs"
PROCESSING = "/opt/ml/processing"
#: How the training image runs the monitor (its ENTRYPOINT is empty, its PYTHONPATH holds training/).
MONITOR_ENTRYPOINT = ["python3", "-m", "training.monitor"]
VOLUME_GB = 30


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


def choose_inputs(scope: Construct, then: sfn.IChainable) -> sfn.Choice:
    """``DriftLabelsPresent``: capture and model, plus the labels when ``prepare_drift`` found some."""
    capture, model = _input("capture", f"{RUN}.capture_uri"), _input("model", f"{RUN}.model_data_url")
    with_labels = sfn.Pass(
        scope,
        "DriftInputsWithLabels",
        parameters={"inputs": [capture, model, _input("labels", f"{RUN}.labels_uri")]},
        result_path=INPUTS,
    )
    without_labels = sfn.Pass(
        scope, "DriftInputsWithoutLabels", parameters={"inputs": [capture, model]}, result_path=INPUTS
    )
    with_labels.next(then)
    without_labels.next(then)
    return (
        sfn.Choice(scope, "DriftLabelsPresent")
        .when(sfn.Condition.boolean_equals(f"{RUN}.labels_found", True), with_labels)
        .otherwise(without_labels)
    )


def monitor_environment(config: EnvironmentConfig) -> dict[str, str]:
    """The monitor's environment (the contract in its module docstring): the run's window and version,
    the environment's tolerance and quality floors, and the namespace of its CloudWatch metrics."""
    tolerance = config.drift.tolerance
    return {
        "WINDOW_START.$": f"{RUN}.window.start",
        "WINDOW_END.$": f"{RUN}.window.end",
        "MODEL_VERSION.$": f"{RUN}.model_version",
        "MIN_RECORDS": str(config.drift.min_records),
        "PSI_THRESHOLD": str(tolerance.psi),
        "P_VALUE": str(tolerance.p_value),
        "MIN_DRIFTED_FEATURES": str(tolerance.min_drifted_features),
        "ENVIRONMENT": config.name,
        "ENDPOINT_NAME": config.endpoint_name,
        "MIN_PR_AUC": str(config.quality_gate.min_pr_auc),
        "MIN_ROC_AUC": str(config.quality_gate.min_roc_auc),
        "METRICS_NAMESPACE": config.drift_metrics_namespace,
        # boto3 in the container needs a region for PutMetricData; the job's own region, said explicitly.
        "AWS_DEFAULT_REGION": Aws.REGION,
    }


def drift_job(scope: Construct, *, config: EnvironmentConfig, role: iam.IRole, key: kms.IKey) -> sfn.CustomState:
    """``DriftJob``: the Processing job; its name, image, window and inputs come from ``$.run``."""
    return sagemaker_task(
        scope,
        "DriftJob",
        "createProcessingJob.sync",
        {
            "Parameters": {
                "ProcessingJobName.$": f"{RUN}.job_name",
                "RoleArn": role.role_arn,
                "AppSpecification": {"ImageUri.$": f"{RUN}.image_uri", "ContainerEntrypoint": MONITOR_ENTRYPOINT},
                "ProcessingInputs.$": f"{INPUTS}.inputs",
                "ProcessingOutputConfig": {
                    "Outputs": [
                        {
                            "OutputName": "report",
                            "S3Output": {
                                "S3Uri.$": f"{RUN}.report_uri",
                                "LocalPath": f"{PROCESSING}/output",
                                "S3UploadMode": "EndOfJob",
                            },
                        }
                    ],
                    "KmsKeyId": key.key_arn,
                },
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": config.drift.instance_type,
                        "VolumeSizeInGB": VOLUME_GB,
                    }
                },
                "StoppingCondition": {"MaxRuntimeInSeconds": config.drift.max_runtime_seconds},
                "Environment": monitor_environment(config),
            },
            # Only fields every finished job has (a path to an absent one is an uncatchable States.Runtime error).
            "ResultSelector": {"job_name.$": "$.ProcessingJobName", "status.$": "$.ProcessingJobStatus"},
            "ResultPath": "$.drift_job",
        },
    )
