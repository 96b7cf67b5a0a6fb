"""Offline IAM on a live local AWS: what a role session may call, and how a refusal looks.

The expected messages and error codes are AWS's (IAM User Guide, "Access denied error
messages"; the SDK error shapes of each service).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from botocore.exceptions import ClientError

from offline.services.iam.sessions import RoleNotAssumableError
from tests.offline.services.iam.conftest import ACCOUNT, REGION, LocalIam, allow

pytestmark = pytest.mark.slow

TABLE = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/settings"


def test_an_allowed_call_goes_through(local_iam: LocalIam) -> None:
    # Given a parameter and a Lambda role allowed to read it
    local_iam.aws.client("ssm").put_parameter(Name="settings", Value="{}", Type="String")
    role = local_iam.role("reader", policy=allow(["ssm:GetParameter"], TABLE))
    ssm = local_iam.client_as("ssm", local_iam.session(role))
    # When the role reads it, Then it gets the value
    assert ssm.get_parameter(Name="settings")["Parameter"]["Value"] == "{}"


def test_a_refusal_is_the_services_access_denied_naming_action_resource_and_reason(local_iam: LocalIam) -> None:
    local_iam.aws.client("ssm").put_parameter(Name="settings", Value="{}", Type="String")
    role = local_iam.role("nothing", policy=allow(["ssm:PutParameter"], TABLE))
    ssm = local_iam.client_as("ssm", local_iam.session(role))
    with pytest.raises(ClientError) as refused:
        ssm.get_parameter(Name="settings")
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"].startswith(f"User: arn:aws:sts::{ACCOUNT}:assumed-role/nothing/")
    assert error["Message"].endswith(
        f"is not authorized to perform: ssm:GetParameter on resource: {TABLE} "
        "because no identity-based policy allows the ssm:GetParameter action"
    )


def test_the_operator_who_deployed_the_app_is_not_restricted(local_iam: LocalIam) -> None:
    local_iam.aws.client("ssm").put_parameter(Name="settings", Value="{}", Type="String")
    assert local_iam.aws.client("ssm").get_parameter(Name="settings")["Parameter"]["Value"] == "{}"


def test_a_service_cannot_assume_a_role_that_does_not_trust_it(local_iam: LocalIam) -> None:
    role = local_iam.role("for-lambda-only", service="lambda.amazonaws.com")
    with pytest.raises(RoleNotAssumableError, match="not authorized to perform: sts:AssumeRole"):
        local_iam.session(role, service="sagemaker.amazonaws.com")


def test_s3_refuses_with_its_own_code(local_iam: LocalIam) -> None:
    local_iam.aws.client("s3").create_bucket(Bucket="data-bucket")
    role = local_iam.role("no-s3", policy=allow(["ssm:GetParameter"], TABLE))
    s3 = local_iam.client_as("s3", local_iam.session(role))
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket="data-bucket", Key="a.csv", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert "s3:PutObject on resource: arn:aws:s3:::data-bucket/a.csv" in refused.value.response["Error"]["Message"]


def test_sns_refuses_with_authorization_error(local_iam: LocalIam) -> None:
    topic = local_iam.aws.client("sns").create_topic(Name="alerts")["TopicArn"]
    role = local_iam.role("no-sns", policy=allow(["ssm:GetParameter"], TABLE))
    sns = local_iam.client_as("sns", local_iam.session(role))
    with pytest.raises(ClientError) as refused:
        sns.publish(TopicArn=topic, Message="hello")
    assert refused.value.response["Error"]["Code"] == "AuthorizationError"
    assert f"sns:Publish on resource: {topic}" in refused.value.response["Error"]["Message"]


def test_an_explicit_deny_in_a_bucket_policy_beats_an_identity_allow(local_iam: LocalIam) -> None:
    s3_admin = local_iam.aws.client("s3")
    s3_admin.create_bucket(Bucket="locked-bucket")
    role = local_iam.role("writer", policy=allow(["s3:PutObject"], "arn:aws:s3:::locked-bucket/*"))
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": role},
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::locked-bucket/*",
            }
        ],
    }
    s3_admin.put_bucket_policy(Bucket="locked-bucket", Policy=json.dumps(deny))
    s3 = local_iam.client_as("s3", local_iam.session(role))
    with pytest.raises(ClientError, match="with an explicit deny in a resource-based policy"):
        s3.put_object(Bucket="locked-bucket", Key="a.csv", Body=b"x")


def test_a_tls_only_bucket_policy_does_not_refuse_sdk_requests(local_iam: LocalIam) -> None:
    # Given CDK's enforce_ssl Deny (aws:SecureTransport false): SDKs talk HTTPS to AWS
    s3_admin = local_iam.aws.client("s3")
    s3_admin.create_bucket(Bucket="tls-bucket")
    tls_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::tls-bucket", "arn:aws:s3:::tls-bucket/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    s3_admin.put_bucket_policy(Bucket="tls-bucket", Policy=json.dumps(tls_only))
    role = local_iam.role("tls-writer", policy=allow(["s3:PutObject"], "arn:aws:s3:::tls-bucket/*"))
    s3 = local_iam.client_as("s3", local_iam.session(role))
    s3.put_object(Bucket="tls-bucket", Key="a.csv", Body=b"x")


def _kms_bucket(local_iam: LocalIam, key_policy: Mapping[str, object]) -> str:
    key = local_iam.aws.client("kms").create_key(Policy=json.dumps(key_policy))["KeyMetadata"]["Arn"]
    s3 = local_iam.aws.client("s3")
    s3.create_bucket(Bucket="sealed-bucket")
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}
    s3.put_bucket_encryption(Bucket="sealed-bucket", ServerSideEncryptionConfiguration={"Rules": [rule]})
    return str(key)


ROOT_KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
    ],
}


def test_writing_to_a_kms_bucket_also_needs_the_key(local_iam: LocalIam) -> None:
    # Given a bucket encrypted with a key whose policy delegates to IAM (the default key policy)
    key = _kms_bucket(local_iam, ROOT_KEY_POLICY)
    role = local_iam.role("no-key", policy=allow(["s3:PutObject"], "arn:aws:s3:::sealed-bucket/*"))
    s3 = local_iam.client_as("s3", local_iam.session(role))
    # When the role may write objects but not use the key, Then S3 refuses, naming the KMS action
    with pytest.raises(ClientError, match=f"kms:GenerateDataKey on resource: {key}"):
        s3.put_object(Bucket="sealed-bucket", Key="a.csv", Body=b"x")


def test_with_the_key_granted_the_write_goes_through(local_iam: LocalIam) -> None:
    key = _kms_bucket(local_iam, ROOT_KEY_POLICY)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::sealed-bucket/*"},
            {"Effect": "Allow", "Action": "kms:GenerateDataKey*", "Resource": key},
        ],
    }
    s3 = local_iam.client_as("s3", local_iam.session(local_iam.role("with-key", policy=policy)))
    s3.put_object(Bucket="sealed-bucket", Key="a.csv", Body=b"x")


def test_an_identity_policy_alone_cannot_open_a_key_whose_policy_does_not_delegate(local_iam: LocalIam) -> None:
    # Given a key policy that names only the account's admin role, not the account
    admin_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/admin"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    key = _kms_bucket(local_iam, admin_only)
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::sealed-bucket/*"},
            {"Effect": "Allow", "Action": "kms:*", "Resource": key},
        ],
    }
    s3 = local_iam.client_as("s3", local_iam.session(local_iam.role("iam-only", policy=policy)))
    with pytest.raises(ClientError, match="because no resource-based policy allows the kms:GenerateDataKey action"):
        s3.put_object(Bucket="sealed-bucket", Key="a.csv", Body=b"x")


def test_passing_a_role_to_sagemaker_needs_pass_role_for_sagemaker(local_iam: LocalIam) -> None:
    execution = local_iam.role("execution", service="sagemaker.amazonaws.com")
    caller_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sagemaker:CreateModel", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": execution,
                "Condition": {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}},
            },
        ],
    }
    sagemaker = local_iam.client_as("sagemaker", local_iam.session(local_iam.role("caller", policy=caller_policy)))
    with pytest.raises(ClientError, match=f"iam:PassRole on resource: {execution}"):
        sagemaker.create_model(
            ModelName="m", ExecutionRoleArn=execution, PrimaryContainer={"Image": "i", "ModelDataUrl": "s3://b/m"}
        )
