"""The optional SageMaker managed MLflow tracking server: its resource, its role, the grant to jobs, cdk-nag."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match, Template

from app import add_policy_checks
from stacks.components.mlflow_tracking import TRACKING_ACTIONS, MlflowTracking
from stacks.components.secure_bucket import SecureBucket
from tests.infrastructure.conftest import CDK_CONTEXT

ENV = cdk.Environment(account="123456789012", region="us-east-1")


class Built:
    """Storage (key, artifacts bucket) in one stack and the tracking server with a job role in another, as deployed."""

    def __init__(self, outdir: Path) -> None:
        # The real app's feature flags: they decide how buckets, keys and grants synthesize.
        self.app = cdk.App(outdir=str(outdir), context=json.loads(json.dumps(CDK_CONTEXT)))
        storage = cdk.Stack(self.app, "Storage", env=ENV)
        key = kms.Key(storage, "Key", enable_key_rotation=True)
        access_logs = s3.Bucket(
            storage,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        )
        bucket = SecureBucket(
            storage, "Artifacts", key=key, access_logs=access_logs, removal_policy=RemovalPolicy.DESTROY
        ).bucket
        self.stack = cdk.Stack(self.app, "Tracking", env=ENV)
        self.tracking = MlflowTracking(self.stack, "Mlflow", environment="dev", artifacts_bucket=bucket, key=key)
        self.job_role = iam.Role(self.stack, "JobRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
        self.tracking.grant_tracking(self.job_role)

    @property
    def template(self) -> Template:
        # Synthesizes the app once (and caches it): policy checks must be added before the first call.
        return Template.from_stack(self.stack)

    def logical_id(self, construct: Any) -> str:
        resource = construct if isinstance(construct, cdk.CfnResource) else construct.node.default_child
        return str(self.stack.resolve(resource.logical_id))

    def statements(self, role: iam.Role) -> list[dict[str, Any]]:
        """Every statement of the policies attached to ``role``."""
        role_id = self.logical_id(role)
        return [
            statement
            for policy in self.template.find_resources("AWS::IAM::Policy").values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return actions if isinstance(actions, list) else [actions]


def _resources(statement: dict[str, Any]) -> list[str]:
    resources = statement["Resource"]
    return [json.dumps(r) for r in (resources if isinstance(resources, list) else [resources])]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return Built(tmp_path_factory.mktemp("mlflow-cdk"))


def test_the_server_stores_artifacts_under_mlflow_in_the_artifacts_bucket(built: Built) -> None:
    # Given the construct for dev, over the storage stack's bucket and key
    (server,) = built.template.find_resources("AWS::SageMaker::MlflowTrackingServer").values()
    properties = server["Properties"]
    # Then it is named after the environment, with the documented server version and no auto-registration
    assert properties["TrackingServerName"] == "fraud-dev-mlflow"
    assert properties["MlflowVersion"] == "3.0"
    assert properties["TrackingServerSize"] == "Small"
    assert properties["AutomaticModelRegistration"] is False
    assert properties["WeeklyMaintenanceWindowStart"] == "Sun:02:00"
    # And its artifact store is the mlflow/ prefix of the storage stack's artifacts bucket
    (join,) = properties["ArtifactStoreUri"]["Fn::Join"][1:]
    assert join[0] == "s3://"
    assert join[2] == "/mlflow/"
    assert "ArtifactsBucket" in join[1]["Fn::ImportValue"]
    # And it runs as its own role, created (with its policy) before it
    assert properties["RoleArn"] == {"Fn::GetAtt": [built.logical_id(built.tracking.role), "Arn"]}
    assert built.logical_id(built.tracking.role) in server["DependsOn"]
    assert any(dep.startswith("MlflowServiceRoleDefaultPolicy") for dep in server["DependsOn"])


def test_the_size_is_a_choice(tmp_path: Path) -> None:
    # Given a prod server asked to be Medium, Then the template says so
    stack = cdk.Stack(cdk.App(outdir=str(tmp_path)), "Sized", env=ENV)
    key = kms.Key(stack, "Key")
    bucket = s3.Bucket(stack, "Bucket", encryption_key=key)
    MlflowTracking(stack, "Mlflow", environment="prod", artifacts_bucket=bucket, key=key, size="Medium")
    Template.from_stack(stack).has_resource_properties(
        "AWS::SageMaker::MlflowTrackingServer",
        {"TrackingServerName": "fraud-prod-mlflow", "TrackingServerSize": "Medium"},
    )


def test_the_service_role_is_trusted_by_sagemaker_and_limited_to_its_prefix_and_the_key(built: Built) -> None:
    # Given the server's own role: SageMaker may assume it
    built.template.has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}}
                ]
            },
            "Description": Match.string_like_regexp("fraud-dev-mlflow"),
        },
    )
    statements = built.statements(built.tracking.role)
    actions = {action for statement in statements for action in _actions(statement)}
    # Then it reads, writes and deletes objects, and uses the key: nothing of MLflow's API, no other service
    assert {"s3:GetObject*", "s3:PutObject", "s3:DeleteObject*", "kms:Decrypt", "kms:GenerateDataKey*"} <= actions
    assert {action.split(":")[0] for action in actions} == {"s3", "kms"}
    # And its object access stops at the mlflow/ prefix (the bucket ARN itself is for listing)
    object_resources = {r for s in statements if _actions(s)[0].startswith("s3:") for r in _resources(s) if "Join" in r}
    assert object_resources
    assert all('"/mlflow/*"' in r for r in object_resources)
    kms_resources = {r for s in statements if _actions(s)[0].startswith("kms:") for r in _resources(s)}
    (kms_resource,) = kms_resources
    assert "Key" in kms_resource


def test_grant_tracking_lists_the_mlflow_actions_on_this_server_only(built: Built) -> None:
    # Given a job role passed to grant_tracking
    statements = built.statements(built.job_role)
    mlflow = [s for s in statements if any(a.startswith("sagemaker-mlflow:") for a in _actions(s))]
    # Then one statement names each action a job needs, with no wildcard, on this server's ARN
    (statement,) = mlflow
    assert sorted(_actions(statement)) == sorted(TRACKING_ACTIONS)
    assert not any("*" in action for action in _actions(statement))
    server_id = built.logical_id(built.tracking.server)
    assert statement["Resource"] == {"Fn::GetAtt": [server_id, "TrackingServerArn"]}
    assert built.stack.resolve(built.tracking.tracking_server_arn) == statement["Resource"]
    # And nothing a job does not do: the UI, deletes, the model registry, the SageMaker control plane
    assert not {
        "sagemaker-mlflow:AccessUI",
        "sagemaker-mlflow:DeleteRun",
        "sagemaker-mlflow:CreateRegisteredModel",
    } & set(TRACKING_ACTIONS)
    assert not any(a.startswith("sagemaker:") for s in statements for a in _actions(s))


def test_grant_tracking_lets_the_job_upload_artifacts_but_not_delete_them(built: Built) -> None:
    # Given a job role passed to grant_tracking
    statements = built.statements(built.job_role)
    storage = [s for s in statements if not _actions(s)[0].startswith("sagemaker-mlflow:")]
    actions = {action for statement in storage for action in _actions(statement)}
    # Then the client can read and write the store itself (SSE-KMS included)
    assert {"s3:GetObject*", "s3:PutObject", "kms:Decrypt", "kms:GenerateDataKey*"} <= actions
    # But cannot delete, and only reaches the mlflow/ prefix
    assert not any(action.startswith("s3:DeleteObject") for action in actions)
    object_resources = {r for s in storage if _actions(s)[0].startswith("s3:") for r in _resources(s) if "Join" in r}
    assert object_resources
    assert all('"/mlflow/*"' in r for r in object_resources)


def _synth_with_policy_checks(built: Built) -> list[dict[str, Any]]:
    """Synthesize with the app's checks (reviewed wildcards, then cdk-nag AwsSolutions); the failing reports."""
    add_policy_checks(built.app)
    try:
        built.app.synth()
    except RuntimeError as error:
        if "ValidationFailed" not in str(error):
            raise
    report = json.loads((Path(built.app.outdir) / "validation-report.json").read_text())
    return [p for p in report["pluginReports"] if p["conclusion"] != "success"]


def test_cdk_nag_finds_nothing_unacknowledged(tmp_path: Path) -> None:
    # Given the two stacks, When they synthesize with the app's policy checks
    failures = _synth_with_policy_checks(Built(tmp_path))
    # Then no plugin reported a violation
    assert failures == []


def test_the_policy_checks_are_live_here(tmp_path: Path) -> None:
    # Given the same stacks with an unreviewed wildcard grant added to the job role
    built = Built(tmp_path)
    built.job_role.add_to_principal_policy(iam.PolicyStatement(actions=["sagemaker-mlflow:*"], resources=["*"]))
    # When they synthesize with the app's policy checks
    failures = _synth_with_policy_checks(built)
    # Then cdk-nag reports exactly that grant (so the test above proves something)
    (nag,) = failures
    rules = sorted(v["ruleName"] for v in nag["violations"])
    assert nag["pluginName"] == "AwsSolutions"
    assert rules == ["AwsSolutions-IAM5[Action::sagemaker-mlflow:*]", "AwsSolutions-IAM5[Resource::*]"], nag


def test_the_app_with_mlflow_on_gives_both_jobs_the_servers_arn_and_the_role_its_actions(tmp_path: Path) -> None:
    from tests.infrastructure.conftest import Synthesized

    dev = Synthesized("dev", tmp_path, mlflow_tracking_server=True)
    (server_id,) = dev.pipeline.find_resources("AWS::SageMaker::MlflowTrackingServer")
    definition = dev.state_machine_definition("retraining")
    for state, path in (("Train", ("Parameters", "Environment")), ("Evaluate", ("Parameters", "Environment"))):
        environment = definition["States"][state][path[0]][path[1]]
        assert environment["MLFLOW_TRACKING_URI"] == "${" + server_id + ".TrackingServerArn}"
        assert environment["ENVIRONMENT"] == "dev"
    rendered = json.dumps(dev.pipeline.find_resources("AWS::IAM::Policy"))
    assert "sagemaker-mlflow:CreateRun" in rendered


def test_the_app_without_mlflow_has_no_server_and_no_tracking_uri(dev: Any) -> None:
    # cdk.json as shipped: the tracking server bills by the hour, so it is off
    assert dev.pipeline.find_resources("AWS::SageMaker::MlflowTrackingServer") == {}
    definition = dev.state_machine_definition("retraining")
    assert "MLFLOW_TRACKING_URI" not in definition["States"]["Train"]["Parameters"]["Environment"]
