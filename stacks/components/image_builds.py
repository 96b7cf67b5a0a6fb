"""CodeBuild projects that turn ``training/`` and ``inference/`` into ECR images."""

from __future__ import annotations

import yaml
from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from stacks.components.base_image import REPOSITORY as BASE_IMAGE_REPOSITORY
from stacks.components.base_image import BaseImage
from stacks.components.nag import acknowledge
from stacks.components.source_bundle import REPO_ROOT, repo_subset_bundling


class ImageBuild(Construct):
    """One image: its source asset (whose hash is the image tag) and the project that builds it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        kind: str,
        source_paths: tuple[str, ...],
        repository: ecr.IRepository,
        base_image: BaseImage,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.source = s3_assets.Asset(self, "Source", **repo_subset_bundling(source_paths))
        #: The image tag: changes exactly when a file the image is built from changes.
        self.source_hash = self.source.asset_hash
        buildspec = yaml.safe_load((REPO_ROOT / "buildspecs" / "image.yml").read_text())
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention, removal_policy=removal_policy)
        self.project = codebuild.Project(
            self,
            "Project",
            description=f"Builds the {kind} image from its source hash and pushes it to ECR",
            source=codebuild.Source.s3(bucket=self.source.bucket, path=self.source.s3_object_key),
            build_spec=codebuild.BuildSpec.from_object_to_yaml(buildspec),
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxBuildImage.STANDARD_7_0,
                compute_type=codebuild.ComputeType.SMALL,
                privileged=True,
            ),
            environment_variables={
                "IMAGE_KIND": codebuild.BuildEnvironmentVariable(value=kind),
                "IMAGE_REPO_URI": codebuild.BuildEnvironmentVariable(value=repository.repository_uri),
                "IMAGE_TAG": codebuild.BuildEnvironmentVariable(value=self.source_hash),
                "BASE_IMAGE": codebuild.BuildEnvironmentVariable(value=base_image.uri),
                "BASE_IMAGE_REGISTRY": codebuild.BuildEnvironmentVariable(value=base_image.registry),
                "DOCKERFILE": codebuild.BuildEnvironmentVariable(value=f"{kind}/Dockerfile"),
            },
            encryption_key=key,
            timeout=Duration.minutes(30),
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.log_group)),
        )
        repository.grant_pull_push(self.project)
        # The buildspec asks ECR whether the tag exists before building (immutable tags).
        repository.grant(self.project, "ecr:DescribeImages")
        # Pull access to the one AWS-owned repository holding the base image.
        stack = Stack.of(self)
        self.project.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                resources=[
                    stack.format_arn(
                        service="ecr",
                        account=base_image.registry_account,
                        resource="repository",
                        resource_name=BASE_IMAGE_REPOSITORY,
                    )
                ],
            )
        )
        acknowledge(
            self.project,
            "AwsSolutions-CB3",
            "Privileged mode is required to run the Docker daemon that builds the image",
        )
