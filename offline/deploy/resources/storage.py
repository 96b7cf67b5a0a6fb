"""Where data and messages live: buckets, keys, topics, queues, parameters, repositories, log groups.

Each resource is created with the settings IAM evaluation depends on: a bucket's default
encryption key, a topic's key, bucket and topic policies (a TopicPolicy *replaces* the
topic's default policy, as in AWS: AWS::SNS::TopicPolicy), KMS key policies, ECR
repository policies and tag immutability.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from offline.deploy.assembly import StackArtifact
from offline.deploy.deployment import Deployed

if TYPE_CHECKING:
    from offline.deploy.provision import Provisioner


def bucket(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    name = props.get("BucketName") or p.name(stack, logical_id, limit=63, lower=True)
    p.create_bucket(name)
    s3 = p.aws.client("s3")
    if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    rules = _encryption_rules(props.get("BucketEncryption") or {})
    if rules:
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    event_bridge = (props.get("NotificationConfiguration") or {}).get("EventBridgeConfiguration")
    if event_bridge is not None and event_bridge.get("EventBridgeEnabled", True):
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    p.deployment.buckets[logical_id] = name
    return Deployed(
        ref=name,
        attributes={
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{p.aws.region}.amazonaws.com",
        },
    )


def _encryption_rules(encryption: dict[str, Any]) -> list[dict[str, Any]]:
    """CloudFormation's BucketEncryption → the PutBucketEncryption API's rules."""
    rules = []
    for rule in encryption.get("ServerSideEncryptionConfiguration", []):
        default = rule.get("ServerSideEncryptionByDefault") or {}
        api_rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": dict(default)}
        if "BucketKeyEnabled" in rule:
            api_rule["BucketKeyEnabled"] = bool(rule["BucketKeyEnabled"])
        rules.append(api_rule)
    return rules


def bucket_policy(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    p.aws.client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))
    return Deployed(ref=p.name(stack, logical_id))


def bucket_notifications(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    if "EventBridgeConfiguration" in (props.get("NotificationConfiguration") or {}):
        p.aws.client("s3").put_bucket_notification_configuration(
            Bucket=props["BucketName"], NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    return Deployed(ref=p.name(stack, logical_id))


def key(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    arguments: dict[str, Any] = {"Description": str(props.get("Description", ""))}
    if props.get("KeyPolicy"):
        arguments["Policy"] = json.dumps(props["KeyPolicy"])
    metadata = p.aws.client("kms").create_key(**arguments)["KeyMetadata"]
    return Deployed(ref=metadata["KeyId"], attributes={"Arn": metadata["Arn"], "KeyId": metadata["KeyId"]})


def topic(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    name = props.get("TopicName") or p.name(stack, logical_id, limit=256)
    attributes = {"KmsMasterKeyId": str(props["KmsMasterKeyId"])} if props.get("KmsMasterKeyId") else {}
    arn = p.aws.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
    p.deployment.topics.append(arn)
    return Deployed(ref=arn, attributes={"TopicArn": arn, "TopicName": name})


def topic_policy(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    sns = p.aws.client("sns")
    for topic_arn in props.get("Topics", []):
        sns.set_topic_attributes(
            TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json.dumps(props["PolicyDocument"])
        )
    return Deployed(ref=p.name(stack, logical_id))


def queue(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    name = props.get("QueueName") or p.name(stack, logical_id, limit=80)
    url = p.aws.client("sqs").create_queue(QueueName=name)["QueueUrl"]
    return Deployed(ref=url, attributes={"Arn": p.arn("sqs", name), "QueueName": name, "QueueUrl": url})


def parameter(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    name = props.get("Name") or f"CFN-{p.name(stack, logical_id)}"
    p.aws.client("ssm").put_parameter(
        Name=name, Value=str(props["Value"]), Type=props.get("Type", "String"), Overwrite=True
    )
    return Deployed(ref=name, attributes={"Type": props.get("Type", "String"), "Value": props["Value"]})


def repository(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    name = props.get("RepositoryName") or p.name(stack, logical_id, limit=256, lower=True)
    ecr = p.aws.client("ecr")
    ecr.create_repository(repositoryName=name, imageTagMutability=props.get("ImageTagMutability", "MUTABLE"))
    if props.get("RepositoryPolicyText"):
        ecr.set_repository_policy(repositoryName=name, policyText=json.dumps(props["RepositoryPolicyText"]))
    uri = f"{p.aws.account}.dkr.ecr.{p.aws.region}.amazonaws.com/{name}"
    return Deployed(ref=name, attributes={"Arn": p.arn("ecr", f"repository/{name}"), "RepositoryUri": uri})


def log_group(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    name = props.get("LogGroupName") or p.name(stack, logical_id, limit=512)
    p.aws.client("logs").create_log_group(logGroupName=name)
    # CloudFormation's Arn of a log group ends in ":*" (AWS::Logs::LogGroup return values).
    return Deployed(ref=name, attributes={"Arn": p.arn("logs", f"log-group:{name}:*")})


def model_package_group(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    """AWS::SageMaker::ModelPackageGroup: ``Ref`` is the group's ARN (CloudFormation's return values)."""
    name = props.get("ModelPackageGroupName") or p.name(stack, logical_id, limit=63)
    description = props.get("ModelPackageGroupDescription")
    created = p.aws.client("sagemaker").create_model_package_group(
        ModelPackageGroupName=name, **({"ModelPackageGroupDescription": description} if description else {})
    )
    arn = created["ModelPackageGroupArn"]
    return Deployed(ref=arn, attributes={"ModelPackageGroupArn": arn, "ModelPackageGroupStatus": "Completed"})
