"""The prediction API in front of the SageMaker endpoint."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from constructs import Construct

from stacks.components.inference_api import InferenceApi
from stacks.components.log_retention import retention
from stacks.config import EnvironmentConfig
from stacks.storage_stack import StorageStack


class InferenceStack(Stack):
    """Composes the inference API; its alarms publish to the storage stack's topic."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, storage: StorageStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.api = InferenceApi(
            self,
            "Predictions",
            config=config,
            alarm_topic=storage.topic,
            log_retention=retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.is_production else RemovalPolicy.DESTROY,
        )
        CfnOutput(self, "PredictUrl", value=self.api.api.url_for_path("/predict"), description="POST predictions here")
        CfnOutput(self, "EndpointName", value=config.endpoint_name)
