"""The optional ``Delivery`` stack: a CDK Pipelines pipeline that deploys this app from its repository.

Source (CodeConnections or CodeCommit) → synth (``make test``, then ``make synth ENV=delivery``,
whose cloud assembly holds the pipeline and one nested assembly per environment) → self-mutation
(the pipeline updates itself from the repository) → dev → stage, then an offline run of exactly the
assembly stage got → a manual approval → prod. Each environment may live in its own account; the
pipeline deploys through the CDK bootstrap roles those accounts trust it with (``cdk bootstrap
--trust``). AWS CDK Developer Guide, "Continuous integration and delivery (CI/CD) using CDK Pipelines"
and "Bootstrap your environment for use with the AWS CDK".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import RemovalPolicy, Stack, pipelines
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codecommit as codecommit
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.components.delivery_nag import acknowledge_generated_wildcards
from stacks.components.log_retention import retention
from stacks.components.secure_bucket import SecureBucket
from stacks.config import EnvironmentConfig
from stacks.delivery_config import DELIVERY, DeliveryConfig, DeliverySource

#: The stack's name; one pipeline per account and region.
STACK_NAME = "FraudPipeline-Delivery"
#: Where the synth step writes the cloud assembly the pipeline deploys.
ASSEMBLY_DIR = "cdk.out"
#: Adds one environment's stacks to a scope: app.py's ``build``.
BuildEnvironment = Callable[[Construct, EnvironmentConfig], object]

# The build image's Python and Node.js, the versions `make` needs (README, "The two commands").
_RUNTIMES = codebuild.BuildSpec.from_object(
    {"phases": {"install": {"runtime-versions": {"python": "3.11", "nodejs": "20"}}}}
)
# make test and the offline run are CPU-bound; the default (small, 2 vCPUs) would double their time.
_BUILD = codebuild.BuildEnvironment(
    build_image=codebuild.LinuxBuildImage.STANDARD_7_0, compute_type=codebuild.ComputeType.MEDIUM
)


class EnvironmentStage(cdk.Stage):
    """One environment's stacks (Storage, Pipeline, Inference and the account-wide API Gateway one), in its
    account and region, as the pipeline deploys them."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, build: BuildEnvironment):
        super().__init__(scope, construct_id, env=cdk.Environment(account=config.account, region=config.region))
        build(self, config)

    @property
    def assembly_dir(self) -> str:
        """This stage's directory inside the pipeline's cloud assembly (what ``--assembly`` runs)."""
        return f"{ASSEMBLY_DIR}/{self.artifact_id}"


class DeliveryStack(Stack):
    """The pipeline: synth, self-mutation, dev, stage (+ offline run), approval, prod."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        delivery: DeliveryConfig,
        environments: Sequence[EnvironmentConfig],
        build: BuildEnvironment,
        cli_version: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        source = self._source(delivery.source)
        synth = pipelines.CodeBuildStep(
            "Synth",
            input=source,
            commands=["make test", f"make synth ENV={DELIVERY} CDK_OUT={ASSEMBLY_DIR}"],
            primary_output_directory=ASSEMBLY_DIR,
            build_environment=_BUILD,
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name="fraud-pipeline-delivery",
            pipeline_type=codepipeline.PipelineType.V2,
            synth=synth,
            self_mutation=True,
            cross_account_keys=delivery.cross_account,
            artifact_bucket=self._artifact_bucket(),
            cli_version=cli_version,
            # One asset project instead of one per asset: the same uploads, fewer projects and action runs.
            publish_assets_in_parallel=False,
            code_build_defaults=pipelines.CodeBuildOptions(
                partial_build_spec=_RUNTIMES,
                logging=codebuild.LoggingOptions(
                    cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self._build_logs(delivery))
                ),
            ),
        )
        self._promote(
            [EnvironmentStage(self, config.name, config=config, build=build) for config in environments],
            source=source,
            synth=synth,
        )
        self.pipeline.build_pipeline()
        acknowledge_generated_wildcards(self.pipeline)

    def _promote(
        self, stages: list[EnvironmentStage], *, source: pipelines.IFileSetProducer, synth: pipelines.CodeBuildStep
    ) -> None:
        """dev, then stage with an offline run of the very assembly stage got, then an approval before prod."""
        by_name = {stage.node.id: stage for stage in stages}
        offline_run = pipelines.CodeBuildStep(
            "OfflineRun",
            input=source,
            additional_inputs={ASSEMBLY_DIR: synth},
            commands=["make install", f".venv/bin/python -m offline run --assembly {by_name['stage'].assembly_dir}"],
            build_environment=_BUILD,
        )
        approval = pipelines.ManualApprovalStep(
            "PromoteToProd",
            comment="stage is deployed and its cloud assembly ran offline; approve to deploy it to prod",
        )
        self.pipeline.add_stage(by_name["dev"])
        self.pipeline.add_stage(by_name["stage"], post=[offline_run])
        self.pipeline.add_stage(by_name["prod"], pre=[approval])

    def _source(self, source: DeliverySource) -> pipelines.CodePipelineSource:
        if source.connection_arn is not None:
            assert source.repository is not None  # the config requires it beside connection_arn
            return pipelines.CodePipelineSource.connection(
                source.repository, source.branch, connection_arn=source.connection_arn
            )
        assert source.codecommit_repository is not None
        repository = codecommit.Repository.from_repository_name(self, "Repository", source.codecommit_repository)
        return pipelines.CodePipelineSource.code_commit(repository, source.branch)

    def _artifact_bucket(self) -> s3.IBucket:
        """The pipeline's artifacts, KMS-encrypted (other accounts' deploy roles get the key through CDK
        Pipelines' grants), with server access logs."""
        key = kms.Key(
            self, "ArtifactsKey", description="Encrypts the delivery pipeline's artifacts", enable_key_rotation=True
        )
        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # log delivery cannot write with a KMS key
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[s3.LifecycleRule(id="ExpireAccessLogs", expiration=cdk.Duration.days(365))],
        )
        return SecureBucket(
            self, "Artifacts", key=key, access_logs=access_logs, removal_policy=RemovalPolicy.RETAIN
        ).bucket

    def _build_logs(self, delivery: DeliveryConfig) -> logs.ILogGroup:
        return logs.LogGroup(
            self, "BuildLogs", retention=retention(delivery.log_retention_days), removal_policy=RemovalPolicy.DESTROY
        )
