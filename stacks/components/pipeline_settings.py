"""SSM parameters an operator can change between runs without a deploy."""

from __future__ import annotations

import json

from aws_cdk import aws_ssm as ssm
from constructs import Construct

from stacks.config import EnvironmentConfig
from training.hyperparameters import DEFAULT_HYPERPARAMETERS


class PipelineSettings(Construct):
    """The training hyperparameters and the run settings, as two JSON String parameters.

    The initiate Lambda reads both at the start of every run, so a change takes
    effect on the next run. The hyperparameters start from the training code's
    own defaults, overridden by the environment's ``hyperparameters``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        hyperparameters = {**DEFAULT_HYPERPARAMETERS, **{k: str(v) for k, v in config.hyperparameters.items()}}
        self.hyperparameters = ssm.StringParameter(
            self,
            "Hyperparameters",
            description="Training hyperparameters (JSON object; values are passed to SageMaker as strings)",
            string_value=json.dumps(hyperparameters, sort_keys=True),
        )
        self.settings = ssm.StringParameter(
            self,
            "RunSettings",
            description="Per-run settings of the retraining pipeline (JSON object)",
            string_value=json.dumps(
                {
                    "training_instance_type": config.training_instance_type,
                    "training_instance_count": config.training_instance_count,
                    "training_volume_gb": config.training_volume_gb,
                    "max_runtime_seconds": config.training_max_runtime_seconds,
                    "endpoint_instance_type": config.endpoint_instance_type,
                    "endpoint_initial_instance_count": config.endpoint_initial_instance_count,
                    "processing_instance_type": config.processing_instance_type,
                    "evaluation_max_runtime_seconds": config.evaluation_max_runtime_seconds,
                    "gate": {**config.quality_gate.model_dump(), "approval": config.approval},
                },
                sort_keys=True,
            ),
        )
