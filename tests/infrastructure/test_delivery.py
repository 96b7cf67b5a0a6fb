"""The optional delivery pipeline (``-c env=delivery``): its shape, its config, cdk-nag, and that it changes
nothing for a plain synth. The whole delivery app is synthesized once per module."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from constructs import Construct

from app import add_policy_checks, build_delivery, build_selected
from offline.deploy.assembly import load
from stacks.api_gateway_account_stack import STACK_NAME as API_GATEWAY_ACCOUNT
from stacks.config import ConfigError
from stacks.delivery_config import DELIVERY, load_delivery, pinned_cli_version, stage_environments
from stacks.delivery_stack import STACK_NAME, DeliveryStack
from tests.infrastructure.conftest import CDK_CONTEXT, REPO

PIPELINE_ACCOUNT = "111111111111"
ACCOUNTS = {"dev": "222222222222", "stage": "333333333333", "prod": "444444444444"}
CONNECTION = "arn:aws:codeconnections:eu-west-1:111111111111:connection/0a1b2c3d-1111-2222-3333-444455556666"
DELIVERY_CONTEXT: dict[str, Any] = {
    "account": PIPELINE_ACCOUNT,
    "region": "eu-west-1",
    "source": {"connection_arn": CONNECTION, "repository": "example/fraud-pipeline", "branch": "main"},
    "accounts": ACCOUNTS,
}


def _context(env: str = DELIVERY, **delivery: Any) -> dict[str, Any]:
    """cdk.json's environments with this module's own ``delivery`` object (updated by ``delivery``)."""
    context = json.loads(json.dumps(CDK_CONTEXT))
    context["env"] = env
    context[DELIVERY] = {**json.loads(json.dumps(DELIVERY_CONTEXT)), **delivery}
    return context


@dataclass
class Delivered:
    """The synthesized delivery app: its directory, the Delivery template and pipeline, and how cdk-nag ended."""

    outdir: Path
    template: dict[str, Any]
    failure: str | None

    @property
    def pipeline(self) -> dict[str, Any]:
        (pipeline,) = [r for r in self.template["Resources"].values() if r["Type"] == "AWS::CodePipeline::Pipeline"]
        return dict(pipeline["Properties"])

    def stage(self, name: str) -> list[dict[str, Any]]:
        (stage,) = [s for s in self.pipeline["Stages"] if s["Name"] == name]
        return list(stage["Actions"])

    def buildspec(self, action: dict[str, Any]) -> dict[str, Any]:
        """The buildspec of the CodeBuild project a CodeBuild action runs."""
        project = self.template["Resources"][action["Configuration"]["ProjectName"]["Ref"]]
        return dict(json.loads(project["Properties"]["Source"]["BuildSpec"]))

    def violations(self) -> list[tuple[str, str]]:
        """(rule, construct path) of every cdk-nag finding left unacknowledged."""
        report = self.outdir / "validation-report.json"
        if not report.exists():
            return []
        return [
            (violation["ruleName"], construct["constructPath"])
            for plugin in json.loads(report.read_text())["pluginReports"]
            for violation in plugin.get("violations", [])
            for construct in violation.get("violatingConstructs", [])
        ]


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> Delivered:
    outdir = tmp_path_factory.mktemp("cdk-delivery")
    context = _context()
    app = cdk.App(outdir=str(outdir), context=context)
    build_delivery(app, context)
    add_policy_checks(app)
    failure = None
    try:
        app.synth()
    except RuntimeError as err:  # cdk-nag findings; the templates are written before validation runs
        failure = str(err)
    template = json.loads((outdir / f"{STACK_NAME}.template.json").read_text())
    return Delivered(outdir, template, failure)


def _deploys(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in actions if a["ActionTypeId"]["Provider"] == "CloudFormation"]


def test_the_source_is_the_configured_codeconnections_repository(delivered: Delivered) -> None:
    (source,) = delivered.stage("Source")
    assert source["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert source["Configuration"]["ConnectionArn"] == CONNECTION
    assert source["Configuration"]["FullRepositoryId"] == "example/fraud-pipeline"
    assert source["Configuration"]["BranchName"] == "main"


def test_the_synth_step_tests_then_synthesizes_the_assembly_the_pipeline_deploys(delivered: Delivered) -> None:
    (synth,) = delivered.stage("Build")
    spec = delivered.buildspec(synth)
    assert spec["phases"]["build"]["commands"] == ["make test", "make synth ENV=delivery CDK_OUT=cdk.out"]
    assert spec["phases"]["install"]["runtime-versions"] == {"python": "3.11", "nodejs": "20"}
    # Its primary output, the whole cdk.out, is what self-mutation and every stage deploy from
    assert spec["artifacts"]["base-directory"] == "cdk.out"


def test_the_stages_run_dev_then_stage_then_prod_after_self_mutation(delivered: Delivered) -> None:
    names = [stage["Name"] for stage in delivered.pipeline["Stages"]]
    assert names == ["Source", "Build", "UpdatePipeline", "Assets", "dev", "stage", "prod"]
    assert delivered.pipeline["PipelineType"] == "V2"


def test_each_stage_deploys_its_environments_stacks_into_its_account(delivered: Delivered) -> None:
    for env_name, account in ACCOUNTS.items():
        stacks = {a["Configuration"]["StackName"]: a for a in _deploys(delivered.stage(env_name))}
        parts = ("Storage", "Pipeline", "Inference")
        assert set(stacks) == {f"FraudPipeline-{env_name}-{part}" for part in parts} | {API_GATEWAY_ACCOUNT}
        # Through the account's CDK bootstrap deploy role, which `cdk bootstrap --trust` lets the pipeline assume
        role = json.dumps(stacks[f"FraudPipeline-{env_name}-Storage"]["RoleArn"])
        assert f"cdk-hnb659fds-deploy-role-{account}-eu-west-1" in role


def test_stage_is_checked_by_an_offline_run_of_its_own_assembly_after_it_deploys(delivered: Delivered) -> None:
    actions = delivered.stage("stage")
    (check,) = [a for a in actions if a["ActionTypeId"]["Provider"] == "CodeBuild"]
    assert check["RunOrder"] > max(a["RunOrder"] for a in _deploys(actions))
    commands = delivered.buildspec(check)["phases"]["build"]["commands"]
    directory = "assembly-FraudPipeline-Delivery-stage"
    assert commands[-1] == f".venv/bin/python -m offline run --assembly cdk.out/{directory}"
    # That directory is stage's assembly, and offline mode reads it: stage's stacks in stage's account
    assembly = load(delivered.outdir / directory)
    assert sorted(s.name for s in assembly.stacks) == sorted(
        [f"FraudPipeline-stage-{part}" for part in ("Inference", "Pipeline", "Storage")] + [API_GATEWAY_ACCOUNT]
    )
    assert {s.account for s in assembly.stacks} == {ACCOUNTS["stage"]}
    assert assembly.assets, "the Lambda code and build sources the offline run deploys"


def test_prod_deploys_only_after_a_manual_approval(delivered: Delivered) -> None:
    actions = delivered.stage("prod")
    (approval,) = [a for a in actions if a["ActionTypeId"]["Category"] == "Approval"]
    assert approval["ActionTypeId"]["Provider"] == "Manual"
    assert approval["RunOrder"] < min(a["RunOrder"] for a in _deploys(actions))
    assert not [a for a in delivered.stage("stage") if a["ActionTypeId"]["Category"] == "Approval"]


def test_self_mutation_uses_the_cli_version_package_json_pins(delivered: Delivered) -> None:
    (mutate,) = delivered.stage("UpdatePipeline")
    install = delivered.buildspec(mutate)["phases"]["install"]["commands"]
    assert f"npm install -g aws-cdk@{pinned_cli_version(REPO)}" in install


def test_artifacts_are_kms_encrypted_and_access_logged(delivered: Delivered) -> None:
    template = Template.from_json(delivered.template)
    store = delivered.pipeline["ArtifactStore"]
    assert store["EncryptionKey"]["Type"] == "KMS"
    bucket = delivered.template["Resources"][store["Location"]["Ref"]]["Properties"]
    assert bucket["LoggingConfiguration"]["DestinationBucketName"]["Ref"]
    encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert encryption["SSEAlgorithm"] == "aws:kms"
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    # Other accounts' deploy roles read the artifacts through the key's policy
    (key,) = template.find_resources("AWS::KMS::Key").values()
    policy = json.dumps(key["Properties"]["KeyPolicy"])
    for account in ACCOUNTS.values():
        assert f"cdk-hnb659fds-deploy-role-{account}-eu-west-1" in policy
    # Every CodeBuild project logs into one log group with a retention
    template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})
    for project in template.find_resources("AWS::CodeBuild::Project").values():
        assert project["Properties"]["LogsConfig"]["CloudWatchLogs"]["Status"] == "ENABLED"
        assert "EncryptionKey" in project["Properties"]


def test_the_delivery_stack_has_no_cdk_nag_finding(delivered: Delivered) -> None:
    stages = tuple(f"{STACK_NAME}/{env_name}/" for env_name in ACCOUNTS)
    own = [(rule, path) for rule, path in delivered.violations() if not path.startswith(stages)]
    assert own == []


def test_the_whole_delivery_assembly_passes_cdk_nag(delivered: Delivered) -> None:
    assert delivered.violations() == []
    assert delivered.failure is None


def test_the_delivery_template_passes_cfn_lint(delivered: Delivered) -> None:
    lint = subprocess.run(
        [
            sys.executable,
            "-m",
            "cfnlint",
            "--format",
            "parseable",
            str(delivered.outdir / f"{STACK_NAME}.template.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert [line for line in lint.stdout.splitlines() if ":E" in line] == [], lint.stdout


def _tiny(scope: Construct, config: Any) -> object:
    """A stand-in for app.py's build: one small stack, so a pipeline variant synthesizes in a second."""
    stack = cdk.Stack(scope, config.stack_name("Storage"), stack_name=config.stack_name("Storage"))
    cdk.CfnResource(stack, "Nothing", type="AWS::CloudFormation::WaitConditionHandle")
    return stack


def test_a_codecommit_source_in_a_single_account_setup(tmp_path: Path) -> None:
    # Given a delivery config naming a CodeCommit repository, with every environment in the pipeline's account
    same = {name: PIPELINE_ACCOUNT for name in ACCOUNTS}
    context = _context(source={"codecommit_repository": "fraud-pipeline", "branch": "release"}, accounts=same)
    delivery = load_delivery(context)
    app = cdk.App(outdir=str(tmp_path), context=context)
    # When the pipeline is built
    stack = DeliveryStack(
        app,
        STACK_NAME,
        delivery=delivery,
        environments=stage_environments(context, delivery),
        build=_tiny,
        cli_version="2.0.0",
        env=cdk.Environment(account=delivery.account, region=delivery.region),
    )
    # Then its source action pulls that repository's branch
    pipeline = next(iter(Template.from_stack(stack).find_resources("AWS::CodePipeline::Pipeline").values()))
    (source,) = pipeline["Properties"]["Stages"][0]["Actions"]
    assert source["ActionTypeId"]["Provider"] == "CodeCommit"
    assert source["Configuration"]["RepositoryName"] == "fraud-pipeline"
    assert source["Configuration"]["BranchName"] == "release"
    # And every stage deploys through the pipeline account's own bootstrap role
    actions = [action for stage in pipeline["Properties"]["Stages"] for action in stage["Actions"]]
    roles = json.dumps([action["RoleArn"] for action in _deploys(actions)])
    assert f"deploy-role-{PIPELINE_ACCOUNT}-eu-west-1" in roles
    assert not [account for account in ACCOUNTS.values() if account in roles]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"account": "1234"}, r"delivery\.account: String should match pattern"),
        ({"region": "xx-nowhere-1"}, r"delivery\.region: .*'xx-nowhere-1' is not a supported region"),
        (
            {"source": {"connection_arn": "arn:aws:s3:::bucket", "repository": "a/b"}},
            r"delivery\.source\.connection_arn",
        ),
        ({"source": {"connection_arn": CONNECTION}}, r"delivery\.source: .*needs repository"),
        ({"source": {"connection_arn": CONNECTION, "repository": "no-owner"}}, r"delivery\.source\.repository"),
        ({"source": {"branch": "main"}}, r"delivery\.source: .*either connection_arn and repository"),
        (
            {"source": {"connection_arn": CONNECTION, "repository": "a/b", "codecommit_repository": "r"}},
            r"delivery\.source: .*either",
        ),
        ({"source": {"codecommit_repository": "r", "repository": "a/b"}}, r"delivery\.source: .*CodeCommit source"),
        ({"accounts": {"dev": "222222222222", "stage": "333333333333"}}, r"delivery\.accounts\.prod: Field required"),
        ({"log_retention_days": 2}, r"delivery\.log_retention_days: .*not a CloudWatch Logs retention"),
        ({"pipeline": "x"}, r"delivery\.pipeline: Extra inputs are not permitted"),
    ],
)
def test_a_bad_delivery_value_names_its_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_delivery(_context(**change))


def test_a_missing_delivery_object_says_what_it_needs() -> None:
    with pytest.raises(ConfigError, match=r"context key 'delivery' is missing"):
        load_delivery({"environments": CDK_CONTEXT["environments"]})


def test_an_environment_account_that_contradicts_the_delivery_one_is_refused() -> None:
    context = _context()
    context["environments"]["stage"]["account"] = "999999999999"
    with pytest.raises(
        ConfigError, match=r"environments\.stage\.account is 999999999999 but delivery\.accounts\.stage"
    ):
        stage_environments(context, load_delivery(context))


def test_each_environment_gets_its_account_and_its_own_region_or_the_pipelines() -> None:
    context = _context()
    context["environments"]["prod"]["region"] = "eu-central-1"
    dev, stage, prod = stage_environments(context, load_delivery(context))
    assert (dev.account, stage.account, prod.account) == tuple(ACCOUNTS.values())
    assert (dev.region, stage.region, prod.region) == ("eu-west-1", "eu-west-1", "eu-central-1")


def test_cross_account_keys_follow_whether_any_environment_is_elsewhere() -> None:
    assert load_delivery(_context()).cross_account
    same = {name: PIPELINE_ACCOUNT for name in ACCOUNTS}
    assert not load_delivery(_context(accounts=same)).cross_account


def test_without_env_delivery_the_app_builds_exactly_the_environments_stacks() -> None:
    # Given cdk.json's context with a delivery object, and the default environment
    app = cdk.App(context=_context(env="dev"))
    # When the app builds what -c env=dev selects
    build_selected(app)
    # Then it holds the same four stacks as before the delivery pipeline existed, under their own names
    stacks = [child for child in app.node.children if isinstance(child, cdk.Stack)]
    names = sorted(stack.stack_name for stack in stacks)
    assert names == sorted(
        [f"FraudPipeline-dev-{p}" for p in ("Inference", "Pipeline", "Storage")] + [API_GATEWAY_ACCOUNT]
    )
    assert all(stack.stack_name == stack.node.id for stack in stacks)
    assert not [c for c in app.node.find_all() if isinstance(c, DeliveryStack)]


def test_with_env_delivery_the_app_builds_only_the_pipeline() -> None:
    app = cdk.App(context=_context())
    build_selected(app)
    assert [child.node.id for child in app.node.children if isinstance(child, cdk.Stack)] == [STACK_NAME]


@pytest.mark.parametrize("verb", ["deploy", "diff"])
def test_make_with_env_delivery_touches_only_the_pipeline_stack(verb: str) -> None:
    # Given the delivery app, whose assembly also holds every environment's stacks (cdk deploy --all takes them all)
    # When make prints the command it would run for ENV=delivery
    completed = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", "install", verb, f"ENV={DELIVERY}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    (command,) = [line.split() for line in completed.stdout.splitlines() if line.split()[1:2] == [verb]]
    # Then it names the pipeline's stack alone: the environments are the pipeline's to deploy, after its approval
    assert command[2:] == [STACK_NAME, "-c", f"env={DELIVERY}"]
