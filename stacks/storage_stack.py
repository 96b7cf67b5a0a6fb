"""The stateful resources: data, artifacts, images, the key and the alert topic."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks.components.data_capture import expire_captures
from stacks.components.secure_bucket import SecureBucket
from stacks.config import EnvironmentConfig

CLOUDWATCH = "cloudwatch.amazonaws.com"

#: How many images of each kind ECR keeps; older source hashes are expired.
IMAGES_KEPT = 20


class StorageStack(Stack):
    """Everything that holds state, so the other stacks can be replaced freely.

    Logical IDs here are pinned by tests: renaming one would replace a bucket.
    """

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = RemovalPolicy.RETAIN if config.is_production else RemovalPolicy.DESTROY

        self.key = kms.Key(
            self,
            "Key",
            description=f"Encrypts the {config.name} fraud pipeline's data, artifacts and alerts",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        # CloudWatch alarms publish to the encrypted topic, so the service must be able to use the key
        # (SNS Developer Guide, "Configure AWS KMS permissions for AWS services").
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheTopicKey",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
            )
        )

        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,  # log delivery cannot write with a KMS key
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            removal_policy=removal,
            lifecycle_rules=[s3.LifecycleRule(id="ExpireAccessLogs", expiration=Duration.days(365))],
        )

        self.data_bucket = SecureBucket(
            self, "Data", key=self.key, access_logs=self.access_logs, removal_policy=removal, event_bridge=True
        ).bucket
        self.artifacts_bucket = SecureBucket(
            self, "Artifacts", key=self.key, access_logs=self.access_logs, removal_policy=removal
        ).bucket
        # The endpoint's captured requests and answers (production data) are kept only as long as configured.
        expire_captures(self.artifacts_bucket, retention_days=config.data_capture.retention_days)

        self.training_repository = self._repository("TrainingImages", removal)
        self.inference_repository = self._repository("InferenceImages", removal)

        self.topic = sns.Topic(
            self,
            "Alerts",
            display_name=f"Fraud pipeline ({config.name})",
            master_key=self.key,
            enforce_ssl=True,
        )
        # The topic policy otherwise holds only the TLS-only Deny, and a service principal has
        # no identity policy: without this, CloudWatch drops every alarm notification.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {"aws:SourceArn": self.format_arn(service="cloudwatch", resource="alarm:*")},
                },
            )
        )
        for email in config.notification_emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
        # The model registry: every retrained model becomes a version here, Approved, PendingManualApproval or
        # Rejected, and approvals drive deployment. It is history worth keeping, so prod retains it.
        self.model_package_group = sagemaker.CfnModelPackageGroup(
            self,
            "ModelPackageGroup",
            model_package_group_name=config.model_package_group_name,
            model_package_group_description=f"Fraud-detection model versions ({config.name})",
        )
        self.model_package_group.apply_removal_policy(removal)
        self.model_package_group_name = config.model_package_group_name
        self._outputs()

    def _outputs(self) -> None:
        """The names of what this stack holds: what to empty or delete by hand where it is retained."""
        for key, value in (
            ("DataBucket", self.data_bucket.bucket_name),
            ("ArtifactsBucket", self.artifacts_bucket.bucket_name),
            ("AccessLogsBucket", self.access_logs.bucket_name),
            ("TrainingRepositoryName", self.training_repository.repository_name),
            ("InferenceRepositoryName", self.inference_repository.repository_name),
            ("KeyArn", self.key.key_arn),
            ("AlertTopicArn", self.topic.topic_arn),
            ("ModelPackageGroupName", self.model_package_group_name),
        ):
            CfnOutput(self, key, value=value)

    def _repository(self, construct_id: str, removal: RemovalPolicy) -> ecr.Repository:
        return ecr.Repository(
            self,
            construct_id,
            image_scan_on_push=True,
            # Tags are source hashes: a tag must always mean the same image.
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            encryption=ecr.RepositoryEncryption.AES_256,
            removal_policy=removal,
            empty_on_delete=removal == RemovalPolicy.DESTROY,
            lifecycle_rules=[ecr.LifecycleRule(description="Keep recent builds", max_image_count=IMAGES_KEPT)],
        )
