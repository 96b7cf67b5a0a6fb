"""The drift workflow's two Lambdas, built the way every function in this app is built."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.components.log_retention import retention
from stacks.components.python_function import PythonFunction
from stacks.config import EnvironmentConfig
from stacks.workflows.drift.grants import CAPTURE_PREFIX, LABELS_PREFIX, REPORTS_PREFIX

TIMEOUT = Duration.seconds(60)


def drift_functions(
    scope: Construct,
    *,
    config: EnvironmentConfig,
    retraining: sfn.IStateMachine,
    artifacts_bucket: s3.IBucket,
    data_bucket: s3.IBucket,
    training_repository: ecr.IRepository,
    training_source_hash: str,
    name_prefix: str,
) -> tuple[PythonFunction, PythonFunction]:
    """``(Prepare, Decide)``: ``lambdas.prepare_drift`` and ``lambdas.drift_decision`` with their settings."""

    def function(construct_id: str, name: str, description: str, environment: dict[str, str]) -> PythonFunction:
        return PythonFunction(
            scope,
            construct_id,
            name=name,
            description=description,
            environment={"ENVIRONMENT": config.name, **environment},
            log_retention=retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.is_production else RemovalPolicy.DESTROY,
            powertools_layer_version=config.powertools_layer_version,
            timeout=TIMEOUT,
        )

    prepare = function(
        "Prepare",
        "prepare_drift",
        "Finds the live model version and the drift window; says whether there is anything to examine",
        {
            "ENDPOINT_NAME": config.endpoint_name,
            "ARTIFACTS_BUCKET": artifacts_bucket.bucket_name,
            "DATA_BUCKET": data_bucket.bucket_name,
            "NAME_PREFIX": name_prefix,
            "WINDOW_HOURS": str(config.drift.window_hours),
            "TRAINING_REPOSITORY_URI": training_repository.repository_uri,
            "TRAINING_SOURCE_HASH": training_source_hash,
            "CAPTURE_PREFIX": CAPTURE_PREFIX,
            "LABELS_PREFIX": LABELS_PREFIX,
            "REPORTS_PREFIX": REPORTS_PREFIX,
        },
    )
    decide = function(
        "Decide",
        "drift_decision",
        "Reads the drift report and starts a rate-limited retraining run when drift is beyond tolerance",
        {
            "RETRAINING_STATE_MACHINE_ARN": retraining.state_machine_arn,
            "RETRAIN_COOLDOWN_HOURS": str(config.drift.retrain_cooldown_hours),
            "MIN_DRIFTED_FEATURES": str(config.drift.tolerance.min_drifted_features),
        },
    )
    return prepare, decide
