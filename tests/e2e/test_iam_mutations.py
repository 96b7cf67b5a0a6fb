"""Offline IAM is not a no-op: without any one needed statement, the run fails where AWS would.

Every statement of both state machine roles' policies (retraining and deployment; NOT_SAMPLED
names the one exception and why) is deleted in turn (a statement without
an expectation below fails the test: decide where it is needed, or remove it from the app),
and a sample of every other principal's: the Lambda roles (Initiate, QualityGate,
ResolveDeployment, Notify, clean-up, proxy), a CodeBuild role, the SageMaker execution role, both
EventBridge roles, and the CloudWatch statements of the alert topic's and
key's policies. Each mutated assembly must fail at the step that needs the statement, with a
message naming one of its actions.

Statements the sample leaves out are those offline mode does not evaluate (offline/README.md):
log writes of Lambda and SageMaker, X-Ray, CloudWatch metrics, CodeBuild reports, the key of
CodeBuild's (absent) artifacts, and the second CodeBuild role (identical to the first); and those
one run never needs: the clean-up's deletions (a first run has nothing old to delete; they are
exercised, IAM enforced, by tests/e2e/test_version_cleanup.py) and the teardown custom resource's
role (offline mode never deletes a stack; tests/unit/lambdas/test_sagemaker_cleanup.py runs it on moto).

A clean-up that IAM refuses does not fail the run (its failure is reported in the success
notification); the mutation still shows as the clean-up step's failed task, naming the action.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from offline.deploy.assembly import SynthError
from offline.services.iam.policy import action_matches
from tests.e2e.conftest import synthesized_app
from tests.e2e.iam_mutations import Statement, observe, statements, without

pytestmark = pytest.mark.slow

MACHINE = "state machine role"
RETRAINING = "retraining state machine role"
DEPLOYMENT = "deployment state machine role"
BATCH = "batch state machine role"
DRIFT = "drift state machine role"
BUILD = "Build(Training|Inference)Image"
#: The job statements' tagging actions are needed by whichever job the statement is for.
JOB = "(Train|Evaluate)"

#: (principal, actions, where the run first needs them, scenario, sampled unless the statement has).
#: Principals are matched as a regex on the role's logical id (or "retraining state machine role",
#: "deployment state machine role", "topic policy", "key policy"); actions as a case-insensitive
#: regex on the statement's action. Scenario "second-run" runs twice: some calls need a champion
#: or a live endpoint, which only a second run has.
EXPECTATIONS: tuple[tuple[str, str, str, str, str | None], ...] = (
    (MACHINE, r"logs:\w+|xray:\w+|sagemaker:(listEndpoints|listModelPackages)", "deploy", "run", None),
    (RETRAINING, r"lambda:InvokeFunction", "Initiate", "run", None),
    (RETRAINING, r"events:(PutTargets|PutRule|DescribeRule)", "deploy", "run", None),
    (RETRAINING, r"codebuild:\w+", BUILD, "run", None),
    (RETRAINING, r"sagemaker:(CreateTrainingJob|DescribeTrainingJob|StopTrainingJob)", "Train", "run", None),
    (RETRAINING, r"sagemaker:(CreateProcessingJob|DescribeProcessingJob|StopProcessingJob)", "Evaluate", "run", None),
    (RETRAINING, r"sagemaker:(AddTags|ListTags)", JOB, "run", None),
    (RETRAINING, r"iam:PassRole", "Train", "run", None),
    (RETRAINING, r"sagemaker:describeModelPackage", "DescribeChampion", "second-run", None),
    (RETRAINING, r"sagemaker:createModelPackage", "Register", "run", None),
    # The fallback of a failing notifier publishes to the encrypted topic itself.
    (RETRAINING, r"sns:Publish|kms:[\w*]+", "NotifyFailureFallback", "notify-failure", None),
    (DEPLOYMENT, r"lambda:InvokeFunction", "ResolveVersion", "run", None),
    (DEPLOYMENT, r"iam:PassRole|sagemaker:(CreateModel|ListTags)", "CreateModel", "run", None),
    (DEPLOYMENT, r"sagemaker:CreateEndpointConfig", "CreateEndpointConfig", "run", None),
    (DEPLOYMENT, r"sagemaker:(CreateEndpoint|UpdateEndpoint)", "CreateEndpoint", "run", None),
    (DEPLOYMENT, r"sagemaker:(describeEndpoint|deleteEndpoint)", "CheckEndpoint", "run", None),
    # Application Auto Scaling checks its caller's rights on the endpoint, the service-linked role (first time
    # in the account) and, for target tracking, the alarms it creates.
    (
        DEPLOYMENT,
        r"application-autoscaling:\w+|sagemaker:UpdateEndpointWeightsAndCapacities|iam:CreateServiceLinkedRole",
        "RegisterScaling",
        "run",
        None,
    ),
    (DEPLOYMENT, r"cloudwatch:(PutMetricAlarm|DescribeAlarms|DeleteAlarms)", "PutScalingPolicy", "run", None),
    (DEPLOYMENT, r"sagemaker:describeEndpointConfig", "DescribeLiveConfig", "second-run", None),
    ("^InitiateRole", r"s3:[\w*]+|ssm:\w+|ecr:DescribeImages|sns:Publish|kms:[\w*]+", "Initiate", "run", None),
    ("^InitiateRole", r"states:ListExecutions", "Initiate", "run", None),
    ("^QualityGateRole", r"s3:[\w*]+|kms:[\w*]+", "Gate", "run", None),
    # DescribeEndpoint too: even a first deploy asks what serves (a missing endpoint is an answer, not a refusal)
    (
        "^ResolveDeploymentRole",
        r"ssm:\w+|sagemaker:(DescribeModelPackage|DescribeEndpoint)",
        "ResolveVersion",
        "run",
        None,
    ),
    (
        "^ResolveDeploymentRole",
        r"sagemaker:(DescribeEndpointConfig|DescribeModel)",
        "ResolveVersion",
        "second-run",
        None,
    ),
    (
        "^SageMakerCleanupPruneRole",
        r"sagemaker:(ListEndpointConfigs|ListModels|DescribeEndpoint|DescribeEndpointConfig)",
        "CleanUpOldVersions",
        "run",
        None,
    ),
    ("^NotifyRole", r"sns:Publish|kms:[\w*]+", "NotifyRegistered", "run", None),
    ("^PredictionsProxyRole", r"sagemaker:InvokeEndpoint", "predict", "run", None),
    ("^TrainingImageBuildProjectRole", r"ecr:[\w*]+|s3:[\w*]+", BUILD, "run", None),
    # The project logs to its own group; CDK's default /aws/codebuild/<project> statement is unused.
    ("^TrainingImageBuildProjectRole", r"logs:CreateLogStream", BUILD, "run", "logs:CreateLogGroup"),
    # Writing the batch output, the only write the role has on the data bucket (a statement that also reads,
    # the artifacts bucket's, is needed first by training).
    ("^SageMakerExecutionRole", r"s3:(Abort\*|PutObject\w*)", "Transform", "batch", None),
    ("^SageMakerExecutionRole", r"s3:[\w*]+|kms:[\w*]+|ecr:\w+", "Train", "run", None),
    # Deployment guardrails read the rollback alarms as the execution role: an update SageMaker cannot watch
    # is rolled back, and the deployment ends rolled back (a Fail state, not a failed task).
    ("^SageMakerExecutionRole", r"cloudwatch:DescribeAlarms", "execution", "second-run", None),
    ("^WorkflowStateMachineEventsRole", r"states:StartExecution", "trigger", "run", None),
    ("^DeploymentStateMachineEventsRole", r"states:StartExecution", "deployment trigger", "run", None),
    # The batch state machine (scenario "batch": a first run deploys, then a batch file and its marker land).
    (BATCH, r"lambda:InvokeFunction", "PrepareBatch", "batch", None),
    (BATCH, r"events:(PutTargets|PutRule|DescribeRule)", "deploy", "batch", None),
    (BATCH, r"sagemaker:describeModelPackage", "DescribeBatchVersion", "batch", None),
    (BATCH, r"iam:PassRole|sagemaker:(CreateModel|deleteModel)", "CreateBatchModel", "batch", None),
    (BATCH, r"sagemaker:(AddTags|ListTags|\w+TransformJob)", "Transform", "batch", None),
    ("^BatchStateMachineEventsRole", r"states:StartExecution", "batch trigger", "batch", None),
    ("^BatchSummarizeRole", r"s3:[\w*]+", "SummarizeBatch", "batch", None),
    # The drift state machine (scenario "drift": shifted requests are captured, then a drift check runs).
    (DRIFT, r"lambda:InvokeFunction", "PrepareDrift", "drift", None),
    (DRIFT, r"events:(PutTargets|PutRule|DescribeRule)", "deploy", "drift", None),
    (DRIFT, r"iam:PassRole|sagemaker:(AddTags|ListTags|\w+ProcessingJob)", "DriftJob", "drift", None),
    ("^DriftPrepareRole", r"sagemaker:DescribeEndpoint", "PrepareDrift", "drift", None),
    ("^DriftDecideRole", r"states:(ListExecutions|StartExecution)", "DecideDrift", "drift", None),
    ("topic policy", r"sns:Publish", "alarm", "alarm", None),
    ("key policy", r"kms:[\w*]+", "alarm", "alarm", None),
)

#: Statements of the state machine roles the sample leaves out, and why.
NOT_SAMPLED: tuple[tuple[str, str, str], ...] = (
    *(
        (
            machine,
            r"sns:Publish|kms:[\w*]+",
            "the fallback publish: offline can fail the notifier only together with the first Task of the app "
            "(Initiate), whose identical statement of the retraining machine is sampled",
        )
        for machine in (BATCH, DRIFT)
    ),
    (
        DEPLOYMENT,
        r"sns:Publish|kms:[\w*]+",
        "the deployment machine's fallback publish: offline can fail the notifier only together with the first "
        "Task of the app (Initiate, in the retraining machine), whose identical statement is sampled",
    ),
)

#: The order in which a run meets the failure points: a statement is needed first at the earliest.
ORDER = (
    "deploy",
    "trigger",
    "Initiate",
    BUILD,
    "Train",
    "DescribeChampion",
    "Evaluate",
    JOB,
    "Gate",
    "Register",
    "NotifyRegistered",
    "deployment trigger",
    "ResolveVersion",
    "CreateModel",
    "CreateEndpointConfig",
    "CreateEndpoint",
    "CheckEndpoint",
    "RegisterScaling",
    "PutScalingPolicy",
    "CleanUpOldVersions",
    "DescribeLiveConfig",
    "execution",
    "notification",
    "predict",
    "batch trigger",
    "PrepareBatch",
    "DescribeBatchVersion",
    "CreateBatchModel",
    "Transform",
    "SummarizeBatch",
    "PrepareDrift",
    "DriftJob",
    "DecideDrift",
    "NotifyFailureFallback",
    "alarm",
)


@dataclass(frozen=True)
class Case:
    statement: Statement
    where: str
    scenario: str


def _expectation(statement: Statement, action: str) -> tuple[str, str] | None:
    for principal, actions, where, scenario, unless in EXPECTATIONS:
        if not re.search(principal, statement.principal):
            continue
        if unless is not None and unless in statement.actions:
            return None
        if re.fullmatch(actions, action, flags=re.IGNORECASE):
            return where, scenario
    return None


def _not_sampled(statement: Statement) -> bool:
    return any(
        re.search(principal, statement.principal)
        and all(re.fullmatch(actions, a, flags=re.IGNORECASE) for a in statement.actions)
        for principal, actions, _reason in NOT_SAMPLED
    )


def cases() -> list[Case]:
    found: list[Case] = []
    for statement in statements(synthesized_app()):
        if _not_sampled(statement):
            continue
        expected = [e for e in (_expectation(statement, a) for a in statement.actions) if e is not None]
        if statement.principal.endswith(MACHINE) and len(expected) < len(statement.actions):
            missing = [a for a in statement.actions if _expectation(statement, a) is None]
            raise AssertionError(f"no expectation for {missing} of the state machine role ({statement.label})")
        if expected:
            where, scenario = min(expected, key=lambda e: ORDER.index(e[0]))
            found.append(Case(statement, where, scenario))
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        try:
            found = cases()
        except SynthError:
            found = []
        metafunc.parametrize("case", found, ids=[c.statement.label for c in found])


def test_the_sample_covers_every_principal() -> None:
    principals = {c.statement.principal for c in cases()}
    for expected in (
        RETRAINING,
        DEPLOYMENT,
        "InitiateRole",
        "NotifyRole",
        "QualityGateRole",
        "ResolveDeploymentRole",
        "PredictionsProxyRole",
        "TrainingImageBuildProjectRole",
        "SageMakerCleanupPruneRole",
        "SageMakerExecutionRole",
        "WorkflowStateMachineEventsRole",
        "DeploymentStateMachineEventsRole",
        BATCH,
        DRIFT,
        "BatchStateMachineEventsRole",
        "BatchSummarizeRole",
        "DriftPrepareRole",
        "DriftDecideRole",
        "topic policy",
        "key policy",
    ):
        assert any(p.startswith(expected) for p in principals), expected


def test_deleting_a_needed_statement_fails_the_run_where_aws_would(case: Case, tmp_path: Path) -> None:
    # Given the app without this one statement
    mutated = without(synthesized_app(), case.statement)
    # When it is deployed and run offline
    outcome = observe(mutated, tmp_path, scenario=case.scenario)
    # Then it fails at the step that needs the statement, naming one of its actions
    assert outcome.where is not None, "nothing failed: the statement is unneeded, or offline IAM has a gap"
    assert re.fullmatch(case.where, outcome.where), f"failed at {outcome.where}: {outcome.message[:600]}"
    named = outcome.named_actions()
    assert any(action_matches(pattern, action) for pattern in case.statement.actions for action in named), (
        f"{named} are not among {case.statement.actions}: {outcome.message[:600]}"
    )
