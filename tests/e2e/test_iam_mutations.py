"""Offline IAM is not a no-op: without any one needed statement, the run fails where AWS would.

Every statement of the state machine role's policies is deleted in turn (a statement without
an expectation below fails the test: decide where it is needed, or remove it from the app),
and a sample of every other principal's: the Lambda roles, a CodeBuild role, the SageMaker
execution role, the EventBridge role, and the CloudWatch statements of the alert topic's and
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
BUILD = "Build(Training|Inference)Image"

#: (principal, actions, where the run first needs them, scenario, sampled unless the statement has).
#: Principals are matched as a regex on the role's logical id (or "state machine role", "topic
#: policy", "key policy"); actions as a case-insensitive regex on the statement's action.
EXPECTATIONS: tuple[tuple[str, str, str, str, str | None], ...] = (
    (MACHINE, r"lambda:InvokeFunction", "Initiate", "run", None),
    (MACHINE, r"logs:\w+|xray:\w+|sagemaker:listEndpoints", "deploy", "run", None),
    (MACHINE, r"events:(PutTargets|PutRule|DescribeRule)", "deploy", "run", None),
    (MACHINE, r"codebuild:\w+", BUILD, "run", None),
    (
        MACHINE,
        r"sagemaker:(CreateTrainingJob|DescribeTrainingJob|StopTrainingJob|AddTags|ListTags)",
        "Train",
        "run",
        None,
    ),
    (MACHINE, r"iam:PassRole", "Train", "run", None),
    (MACHINE, r"sagemaker:CreateModel", "CreateModel", "run", None),
    (MACHINE, r"sagemaker:CreateEndpointConfig", "CreateEndpointConfig", "run", None),
    (MACHINE, r"sagemaker:(CreateEndpoint|UpdateEndpoint)", "CreateEndpoint", "run", None),
    (MACHINE, r"sagemaker:(describeEndpoint|deleteEndpoint)", "CheckEndpoint", "run", None),
    # The fallback of a failing notifier publishes to the encrypted topic itself.
    (MACHINE, r"sns:Publish|kms:[\w*]+", "NotifyFailureFallback", "notify-failure", None),
    ("^InitiateRole", r"s3:[\w*]+|ssm:\w+|ecr:DescribeImages|sns:Publish|kms:[\w*]+", "Initiate", "run", None),
    ("^InitiateRole", r"states:ListExecutions", "Initiate", "run", None),
    (
        "^SageMakerCleanupPruneRole",
        r"sagemaker:(ListEndpointConfigs|ListModels|DescribeEndpoint|DescribeEndpointConfig)",
        "CleanUpOldVersions",
        "run",
        None,
    ),
    ("^NotifyRole", r"sns:Publish|kms:[\w*]+", "NotifySuccess", "run", None),
    ("^NotifyRole", r"sagemaker:DescribeTrainingJob", "notification", "run", None),
    ("^PredictionsProxyRole", r"sagemaker:InvokeEndpoint", "predict", "run", None),
    ("^TrainingImageBuildProjectRole", r"ecr:[\w*]+|s3:[\w*]+", BUILD, "run", None),
    # The project logs to its own group; CDK's default /aws/codebuild/<project> statement is unused.
    ("^TrainingImageBuildProjectRole", r"logs:CreateLogStream", BUILD, "run", "logs:CreateLogGroup"),
    ("^SageMakerExecutionRole", r"s3:[\w*]+|kms:[\w*]+|ecr:\w+", "Train", "run", None),
    ("^WorkflowStateMachineEventsRole", r"states:StartExecution", "trigger", "run", None),
    ("topic policy", r"sns:Publish", "alarm", "alarm", None),
    ("key policy", r"kms:[\w*]+", "alarm", "alarm", None),
)

#: The order in which a run meets the failure points: a statement is needed first at the earliest.
ORDER = (
    "deploy",
    "trigger",
    "Initiate",
    BUILD,
    "Train",
    "CreateModel",
    "CreateEndpointConfig",
    "CreateEndpoint",
    "CheckEndpoint",
    "CleanUpOldVersions",
    "NotifySuccess",
    "notification",
    "predict",
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


def cases() -> list[Case]:
    found: list[Case] = []
    for statement in statements(synthesized_app()):
        expected = [e for e in (_expectation(statement, a) for a in statement.actions) if e is not None]
        if statement.principal == MACHINE and len(expected) < len(statement.actions):
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
    for expected in (MACHINE, "InitiateRole", "NotifyRole", "PredictionsProxyRole", "TrainingImageBuildProjectRole"):
        assert any(p.startswith(expected) for p in principals), expected
    for expected in ("SageMakerCleanupPruneRole",):
        assert any(p.startswith(expected) for p in principals), expected
    for expected in ("SageMakerExecutionRole", "WorkflowStateMachineEventsRole", "topic policy", "key policy"):
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
