"""An optional SageMaker managed MLflow tracking server for one environment.

``AWS::SageMaker::MlflowTrackingServer`` bills by the hour while it exists, so the stacks add
it only when the environment's config asks for it. What it gets:

- artifact store ``s3://<artifacts bucket>/mlflow/``, beside the pipeline's other artifacts;
- its own service role (``sagemaker.amazonaws.com``) that reads and writes that prefix only,
  and uses the environment's key for it (the bucket is SSE-KMS);
- MLflow 3.0, the newest server version SageMaker documents; clients pin ``mlflow==3.0.0``
  to match, as AWS advises, plus the ``sagemaker-mlflow`` plugin;
- automatic registration into the SageMaker Model Registry off: the pipeline registers
  versions itself, after the quality gate;
- a weekly maintenance window away from the scheduled retraining (Monday 03:00 UTC in prod).

Jobs log to it with ``MLFLOW_TRACKING_URI`` = :attr:`MlflowTracking.tracking_server_arn`; the
``sagemaker-mlflow`` plugin turns the ARN into the server's endpoint
(``https://<region>.experiments.sagemaker.aws``) without calling the SageMaker API, and signs
each request with SigV4 as ``sagemaker-mlflow:<Operation>``. Artifacts do not pass through
the server: the client writes them to the artifact store with its own credentials, so
:meth:`MlflowTracking.grant_tracking` also grants the ``mlflow/`` prefix and the key.

AWS pages this follows:

- SageMaker Developer Guide, "MLflow Tracking Servers" (mlflow-create-tracking-server) and
  "Set up IAM permissions for MLflow" (mlflow-create-tracking-server-iam);
- SageMaker Developer Guide, "Integrate MLflow with your environment" (mlflow-track-experiments):
  tracking server 3.0.x → ``mlflow==3.0.0``, 2.16.x → ``mlflow==2.16.2``, 2.13.x → ``mlflow==2.13.2``;
- SageMaker API Reference, "CreateMlflowTrackingServer";
- CloudFormation User Guide, "AWS::SageMaker::MlflowTrackingServer";
- Service Authorization Reference, "Actions, resources, and condition keys for Amazon SageMaker
  with MLflow" (list_amazonsagemakerwithmlflow): every action is authorized on the
  ``mlflow-tracking-server`` resource, so the grant names this server's ARN, no wildcard.
"""

from __future__ import annotations

from typing import Final, Literal

from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

#: The MLflow version of the server (the newest SageMaker documents); keep it in step with the
#: ``mlflow`` pin of the training image (``3.0.0`` for a 3.0 server).
MLFLOW_VERSION: Final = "3.0"
#: Where the server keeps artifacts inside the artifacts bucket.
ARTIFACT_PREFIX: Final = "mlflow"
#: Weekly maintenance (UTC), clear of the scheduled retraining on Monday at 03:00.
MAINTENANCE_WINDOW: Final = "Sun:02:00"

#: What a training or evaluation job calls: find or create the experiment, create and end its run,
#: log params, metrics and tags (one at a time or batched), log a model (MLflow 3 creates a logged
#: model, links it to the run and finalizes it; an older client records it with LogModel), read the
#: run and its metric history back. No UI, delete, restore or model-registry actions.
TRACKING_ACTIONS: Final = (
    "sagemaker-mlflow:GetExperimentByName",
    "sagemaker-mlflow:GetExperiment",
    "sagemaker-mlflow:CreateExperiment",
    "sagemaker-mlflow:CreateRun",
    "sagemaker-mlflow:GetRun",
    "sagemaker-mlflow:UpdateRun",
    "sagemaker-mlflow:LogBatch",
    "sagemaker-mlflow:LogParam",
    "sagemaker-mlflow:LogMetric",
    "sagemaker-mlflow:SetTag",
    "sagemaker-mlflow:GetMetricHistory",
    "sagemaker-mlflow:LogModel",
    "sagemaker-mlflow:LogOutputs",
    "sagemaker-mlflow:GetLoggedModel",
    "sagemaker-mlflow:LogLoggedModelParams",
    "sagemaker-mlflow:SetLoggedModelTags",
    "sagemaker-mlflow:FinalizeLoggedModel",
)

TrackingServerSize = Literal["Small", "Medium", "Large"]


class MlflowTracking(Construct):
    """A SageMaker managed MLflow tracking server named ``fraud-<environment>-mlflow``; see the module docstring."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: str,
        artifacts_bucket: s3.IBucket,
        key: kms.IKey,
        size: TrackingServerSize = "Small",
    ) -> None:
        super().__init__(scope, construct_id)
        self._artifacts_bucket = artifacts_bucket
        self._key = key
        self.tracking_server_name = f"fraud-{environment}-mlflow"
        self.role = iam.Role(
            self,
            "ServiceRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Lets the {self.tracking_server_name} tracking server use its artifact store",
        )
        # The server owns its store: read, write and delete under the prefix, nothing else in the bucket.
        artifacts_bucket.grant_read_write(self.role, f"{ARTIFACT_PREFIX}/*")
        key.grant_encrypt_decrypt(self.role)
        self.server = sagemaker.CfnMlflowTrackingServer(
            self,
            "Server",
            tracking_server_name=self.tracking_server_name,
            artifact_store_uri=f"s3://{artifacts_bucket.bucket_name}/{ARTIFACT_PREFIX}/",
            role_arn=self.role.role_arn,
            tracking_server_size=size,
            mlflow_version=MLFLOW_VERSION,
            automatic_model_registration=False,
            weekly_maintenance_window_start=MAINTENANCE_WINDOW,
        )
        # SageMaker assumes the role while it creates the server: its policy must exist first.
        self.server.node.add_dependency(self.role)

    @property
    def tracking_server_arn(self) -> str:
        """The server's ARN: the ``MLFLOW_TRACKING_URI`` of the jobs that log to it."""
        return self.server.attr_tracking_server_arn

    def grant_tracking(self, role: iam.IRole) -> None:
        """Let ``role`` (a training or processing job's) log runs, metrics and models to this server."""
        iam.Grant.add_to_principal(
            grantee=role,
            actions=list(TRACKING_ACTIONS),
            resource_arns=[self.tracking_server_arn],
        )
        # The MLflow client reads and uploads artifacts itself, with the job's credentials; it never deletes.
        self._artifacts_bucket.grant_read(role, f"{ARTIFACT_PREFIX}/*")
        self._artifacts_bucket.grant_put(role, f"{ARTIFACT_PREFIX}/*")
        self._key.grant_encrypt_decrypt(role)
