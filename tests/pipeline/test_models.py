"""``python -m pipeline models`` (``make approve`` / ``make reject``): the registry's versions and decisions on them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws

from offline.services.cloudformation import StackOutput, register_stacks
from pipeline import cli, models
from pipeline.environments import environment

ACCOUNT = "123456789012"
REGION = "us-east-1"
GROUP = "fraud-dev-models"
ENDPOINT = "fraud-detector-dev"
DEPLOYMENT = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:FraudPipeline-dev-deployment"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/fraud-inference:abc"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker"
#: Who moto says the caller is (sts get-caller-identity).
CALLER = f"arn:aws:sts::{ACCOUNT}:user/moto"


@dataclass
class Account:
    sagemaker: Any
    cloudformation: Any
    #: Each UpdateModelPackage request the command sent.
    updates: list[dict[str, Any]] = field(default_factory=list)

    def register(self, status: str, *, pr_auc: str = "0.41", dataset: str = "2026-11-08") -> str:
        arn: str = self.sagemaker.create_model_package(
            ModelPackageGroupName=GROUP,
            ModelApprovalStatus=status,
            ModelPackageDescription=f"gate: {status}",
            InferenceSpecification={
                "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://artifacts/job/output/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            ModelMetrics={
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": "s3://artifacts/evaluations/r/e.json"}
                }
            },
            CustomerMetadataProperties={
                "run_id": "run-1",
                "dataset": dataset,
                "data_version": "3f2a9c1b0d4e5f60718293a4b5c6d7e8",
                "pr_auc": pr_auc,
                "roc_auc": "0.931",
            },
        )["ModelPackageArn"]
        return arn

    def serve(self, package_arn: str) -> None:
        """Put ``package_arn`` live on the endpoint, as the deployment state machine does."""
        name = f"fraud-dev-v{package_arn.rsplit('/', 1)[-1]}-0123abcd"
        self.sagemaker.create_model(
            ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": package_arn}
        )
        self.sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": name,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
        self.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=name)

    def registry(self) -> models.Registry:
        return models.Registry(self.sagemaker, models.locate(self.cloudformation, environment("dev")))


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_model_package_group(ModelPackageGroupName=GROUP)
        register_stacks(
            account=ACCOUNT,
            region=REGION,
            stacks={
                "FraudPipeline-dev-Pipeline": [
                    StackOutput("ModelPackageGroupName", GROUP),
                    StackOutput("EndpointName", ENDPOINT),
                    StackOutput("DeploymentStateMachineArn", DEPLOYMENT),
                ]
            },
        )
        account = Account(sagemaker, boto3.client("cloudformation", region_name=REGION))
        yield account


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch, account: Account) -> list[dict[str, Any]]:
    """The UpdateModelPackage requests the command sends (its own clients are made by the CLI)."""
    original = boto3.session.Session.client

    def client(self: Any, service: str, *args: Any, **kwargs: Any) -> Any:
        made = original(self, service, *args, **kwargs)
        if service == "sagemaker":
            made.meta.events.register(
                "provide-client-params.sagemaker.UpdateModelPackage",
                lambda params, **_: account.updates.append(dict(params)),
            )
        return made

    monkeypatch.setattr(boto3.session.Session, "client", client)
    return account.updates


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(["models", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# --- list ------------------------------------------------------------------------------------------


def test_list_shows_versions_newest_first_with_metrics_data_and_the_live_one(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given three versions, the second live
    account.register("Approved", pr_auc="0.38")
    live = account.register("Approved", pr_auc="0.41")
    account.register("Rejected", pr_auc="0.012", dataset="shuffled")
    account.serve(live)
    # When the versions are listed
    status, out, _ = run(capsys, "list", "--env", "dev")
    # Then newest comes first, each with its status, metrics and data, and the live one is marked
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"{GROUP}, newest first (* = live on {ENDPOINT}):"
    assert lines[1].split() == [
        "VERSION",
        "STATUS",
        "PR-AUC",
        "ROC-AUC",
        "DATASET",
        "DATA",
        "VERSION",
        "CREATED",
        "(UTC)",
    ]
    rows = [line.split() for line in lines[2:]]
    assert [row[:6] for row in rows] == [
        ["3", "Rejected", "0.0120", "0.9310", "shuffled", "3f2a9c1b0d4e"],
        ["*", "2", "Approved", "0.4100", "0.9310", "2026-11-08"],
        ["1", "Approved", "0.3800", "0.9310", "2026-11-08", "3f2a9c1b0d4e"],
    ]


def test_without_an_endpoint_no_version_is_live_and_the_list_says_so(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    account.register("PendingManualApproval")
    status, out, _ = run(capsys, "list", "--env", "dev")
    assert status == 0
    assert "*" not in "".join(line[:2] for line in out.splitlines()[2:])
    assert out.splitlines()[-1] == f"no endpoint {ENDPOINT} serves a model: no version is live"


def test_an_endpoint_serving_a_model_not_from_the_registry_is_named(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    account.register("Approved")
    account.sagemaker.create_model(
        ModelName="old", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://a/m.tar.gz"}
    )
    account.sagemaker.create_endpoint_config(
        EndpointConfigName="old",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "old", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    account.sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="old")
    _, out, _ = run(capsys, "list", "--env", "dev")
    assert out.splitlines()[-1] == f"endpoint {ENDPOINT} serves a model that was not created from the registry"


def test_an_empty_registry_says_how_versions_arrive(account: Account, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "list", "--env", "dev")
    assert status == 0
    assert out.splitlines()[0] == f"{GROUP} has no versions yet: a retraining run registers one (make retrain ENV=...)"


def test_the_list_is_limited_and_says_how_many_it_left_out(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    for _ in range(3):
        account.register("Approved")
    _, out, _ = run(capsys, "list", "--env", "dev", "--limit", "2")
    assert [line.split()[0] for line in out.splitlines()[2:4]] == ["3", "2"]
    assert "(1 older versions not shown; --limit 0 shows all)" in out


def test_without_stack_outputs_the_naming_rules_find_the_registry(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an environment whose stacks are not deployed under their names (stage), but whose group exists
    account.sagemaker.create_model_package_group(ModelPackageGroupName="fraud-stage-models")
    place = models.locate(account.cloudformation, environment("stage"))
    assert place == models.Place(group="fraud-stage-models", endpoint="fraud-detector-stage")


def test_a_registry_that_does_not_exist_is_an_error_saying_to_deploy(
    account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "list", "--env", "prod")
    assert status == 1
    assert err == (
        f"error: model package group fraud-prod-models does not exist in {REGION}; deploy the environment first "
        "(make deploy ENV=...), or set AWS_REGION to where it is\n"
    )


# --- show ------------------------------------------------------------------------------------------


def test_show_tells_everything_about_one_version(account: Account, capsys: pytest.CaptureFixture[str]) -> None:
    live = account.register("Approved")
    account.serve(live)
    status, out, _ = run(capsys, "show", "--env", "dev", "1")
    assert status == 0
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert lines[0] == f"version 1 of {GROUP}: Approved, live on {ENDPOINT}"
    for expected in (
        "gate gate: Approved",
        "metrics pr_auc 0.4100, roc_auc 0.9310",
        "evaluation report s3://artifacts/evaluations/r/e.json",
        "model artifact s3://artifacts/job/output/model.tar.gz",
        f"arn {live}",
        "run_id run-1",
        "data_version 3f2a9c1b0d4e5f60718293a4b5c6d7e8",
    ):
        assert expected in lines


def test_show_says_when_a_version_is_not_live(account: Account, capsys: pytest.CaptureFixture[str]) -> None:
    account.register("PendingManualApproval")
    _, out, _ = run(capsys, "show", "--env", "dev", "1")
    assert out.splitlines()[0] == (
        f"version 1 of {GROUP}: PendingManualApproval, not live (no endpoint {ENDPOINT} serves a model: "
        "no version is live)"
    )


# --- approve / reject ------------------------------------------------------------------------------


def test_approve_sends_the_status_and_who_approved_it_and_why(
    account: Account, sent: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a version awaiting approval
    arn = account.register("PendingManualApproval")
    # When it is approved with a reason
    status, out, _ = run(capsys, "approve", "--env", "dev", "1", "--reason", "reviewed  the\nreport")
    # Then one UpdateModelPackage sets only the status and the description: nothing else is overwritten
    assert status == 0
    assert sent == [
        {
            "ModelPackageArn": arn,
            "ModelApprovalStatus": "Approved",
            "ApprovalDescription": f"approved by {CALLER} via pipeline CLI: reviewed the report",
        }
    ]
    assert account.sagemaker.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Approved"
    # And the output says what happens next and where to follow it
    assert f"version 1 of {GROUP}: PendingManualApproval -> Approved" in out
    assert f"next: the deployment state machine deploys version 1 to {ENDPOINT}" in out
    assert f"follow it: aws stepfunctions list-executions --state-machine-arn {DEPLOYMENT}" in out


def test_approving_names_the_version_it_replaces(
    account: Account, sent: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    live = account.register("Approved")
    account.register("PendingManualApproval")
    account.serve(live)
    _, out, _ = run(capsys, "approve", "--env", "dev", "2")
    assert f"deploys version 2 to {ENDPOINT}, replacing {live}" in out
    assert sent[0]["ApprovalDescription"] == f"approved by {CALLER} via pipeline CLI"


def test_approving_an_approved_version_changes_nothing(
    account: Account, sent: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    account.register("Approved")
    status, out, _ = run(capsys, "approve", "--env", "dev", "1")
    assert status == 0
    assert sent == []
    assert out.startswith(f"version 1 of {GROUP} is already Approved")
    assert out.rstrip().endswith("nothing changed")


def test_rejecting_the_live_version_announces_the_rollback_to_the_newest_other_approved(
    account: Account, sent: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given versions 1 and 2 Approved, 3 Rejected, and 2 live
    account.register("Approved")
    live = account.register("Approved")
    account.register("Rejected")
    account.serve(live)
    # When the live version is rejected
    status, out, _ = run(capsys, "reject", "--env", "dev", "2", "--reason", "fraud team saw false positives")
    # Then it is Rejected and the rollback to version 1 is announced
    assert status == 0
    assert [(u["ModelPackageArn"], u["ModelApprovalStatus"]) for u in sent] == [(live, "Rejected")]
    assert sent[0]["ApprovalDescription"].endswith("via pipeline CLI: fraud team saw false positives")
    assert f"next: it is live on {ENDPOINT}, so the deployment state machine rolls back to version 1" in out


def test_rejecting_the_only_approved_live_version_says_the_endpoint_keeps_it(
    account: Account, sent: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    live = account.register("Approved")
    account.serve(live)
    _, out, _ = run(capsys, "reject", "--env", "dev", "1")
    assert f"it is live on {ENDPOINT} and no other version is Approved: the endpoint keeps serving it" in out


def test_rejecting_a_version_that_is_not_live_changes_nothing_on_the_endpoint(
    account: Account, sent: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    account.register("PendingManualApproval")
    status, out, _ = run(capsys, "reject", "--env", "dev", "1")
    assert status == 0
    assert [u["ModelApprovalStatus"] for u in sent] == ["Rejected"]
    assert f"it is not live on {ENDPOINT}: nothing changes there" in out
    assert "follow it" not in out


def test_an_unknown_version_is_a_usage_error_listing_the_versions(
    account: Account, sent: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    account.register("Approved")
    account.register("Rejected")
    status, out, err = run(capsys, "approve", "--env", "dev", "7")
    assert (status, out, sent) == (2, "", [])
    assert err == f"error: {GROUP} has no version 7; its versions: 1, 2\n"


def test_an_unknown_environment_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "list", "--env", "qa")
    assert status == 2
    assert "unknown environment 'qa'" in err


def test_a_version_that_is_not_a_number_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["models", "approve", "--env", "dev", "latest"])
    assert exit_.value.code == 2
    assert "invalid int value: 'latest'" in capsys.readouterr().err


def test_an_aws_refusal_is_one_line_and_exit_1(
    account: Account, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    account.register("PendingManualApproval")

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "User: x is not authorized\nto perform it"}},
            "UpdateModelPackage",
        )

    monkeypatch.setattr(models.Registry, "set_status", refuse)
    status, _, err = run(capsys, "approve", "--env", "dev", "1")
    assert status == 1
    assert err.count("\n") == 1
    assert err.startswith("error: AWS refused or could not be reached: An error occurred (AccessDeniedException)")
