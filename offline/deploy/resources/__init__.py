"""One creator per CloudFormation resource type offline mode really creates.

A creator takes the provisioner, the stack, the logical id and the resolved properties and
returns the :class:`~offline.deploy.deployment.Deployed` resource. Types missing here get a
placeholder (``offline.deploy.provision``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from offline.deploy.resources import compute, identity, orchestration, storage

if TYPE_CHECKING:
    from offline.deploy.assembly import StackArtifact
    from offline.deploy.deployment import Deployed
    from offline.deploy.provision import Provisioner

Creator = Callable[["Provisioner", "StackArtifact", str, dict[str, Any]], "Deployed"]

CREATORS: dict[str, Creator] = {
    "AWS::S3::Bucket": storage.bucket,
    "AWS::S3::BucketPolicy": storage.bucket_policy,
    "Custom::S3BucketNotifications": storage.bucket_notifications,
    "AWS::KMS::Key": storage.key,
    "AWS::SNS::Topic": storage.topic,
    "AWS::SNS::TopicPolicy": storage.topic_policy,
    "AWS::SQS::Queue": storage.queue,
    "AWS::SSM::Parameter": storage.parameter,
    "AWS::ECR::Repository": storage.repository,
    "AWS::SageMaker::ModelPackageGroup": storage.model_package_group,
    "AWS::Logs::LogGroup": storage.log_group,
    "AWS::IAM::Role": identity.role,
    "AWS::IAM::Policy": identity.policy,
    "AWS::IAM::ManagedPolicy": identity.managed_policy,
    "AWS::Lambda::Function": compute.function,
    "AWS::CodeBuild::Project": compute.project,
    "AWS::StepFunctions::StateMachine": orchestration.state_machine,
    "AWS::Events::Rule": orchestration.rule,
    "AWS::CloudWatch::Alarm": orchestration.alarm,
}
