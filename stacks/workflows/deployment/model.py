"""Model stage: a SageMaker model from the registered version, and an endpoint config serving it.

CreateModel names the model package instead of an image and artifact (SageMaker API
Reference, ContainerDefinition ``ModelPackageName``), so what serves is exactly what the
registry approved; ``MODEL_VERSION`` makes the container report the package version.
The endpoint config captures requests and answers (``DataCaptureConfig``, built by
:func:`stacks.components.data_capture.data_capture_config`) for the drift job.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.workflows.shared.sagemaker_task import sagemaker_task

RUN = "$.run"


def create_model(scope: Construct, role: iam.IRole) -> sfn.CustomState:
    return sagemaker_task(
        scope,
        "CreateModel",
        "createModel",
        {
            "Parameters": {
                "ModelName.$": f"{RUN}.names.model",
                "ExecutionRoleArn": role.role_arn,
                "PrimaryContainer": {
                    "ModelPackageName.$": f"{RUN}.package.arn",
                    "Environment": {"MODEL_VERSION.$": f"{RUN}.package.version"},
                },
            },
            "ResultSelector": {"model_arn.$": "$.ModelArn"},
            "ResultPath": "$.model",
        },
    )


def create_endpoint_config(scope: Construct, *, data_capture: dict[str, Any]) -> sfn.CustomState:
    """CreateEndpointConfig for the run's model, with ``data_capture`` as its ``DataCaptureConfig``."""
    return sagemaker_task(
        scope,
        "CreateEndpointConfig",
        "createEndpointConfig",
        {
            "Parameters": {
                "EndpointConfigName.$": f"{RUN}.names.endpoint_config",
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName.$": f"{RUN}.names.model",
                        "InstanceType.$": f"{RUN}.settings.endpoint_instance_type",
                        "InitialInstanceCount.$": f"{RUN}.settings.endpoint_initial_instance_count",
                    }
                ],
                "DataCaptureConfig": data_capture,
            },
            "ResultPath": sfn.JsonPath.DISCARD,
        },
    )
