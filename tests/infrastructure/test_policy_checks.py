"""cdk-nag AwsSolutions and cfn-lint over the synthesized app of every environment."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app import add_policy_checks
from stacks.api_gateway_account_stack import STACK_NAME as API_GATEWAY_ACCOUNT
from stacks.reviewed_wildcards import findings, reason_for
from tests.infrastructure.conftest import make_app


@pytest.mark.parametrize("env_name", ["dev", "stage", "prod"])
def test_synth_passes_cdk_nag_and_cfn_lint(env_name: str, tmp_path: Path) -> None:
    # Given the environment's app with cdk-nag's AwsSolutions pack
    app, _, _ = make_app(env_name, tmp_path)
    add_policy_checks(app)
    # When it synthesizes (cdk-nag findings raise ValidationFailed)
    app.synth()
    # Then no plugin reported a violation
    report = tmp_path / "validation-report.json"
    if report.exists():
        plugins = json.loads(report.read_text())["pluginReports"]
        nag = [p for p in plugins if p["pluginName"] == "AwsSolutions"]
        assert all(p["conclusion"] == "success" for p in nag), nag
    # And cfn-lint finds no errors in any template: the environment's three and the account-wide one
    templates = sorted(str(p) for p in tmp_path.glob("*.template.json"))
    assert sorted(Path(t).name.removesuffix(".template.json") for t in templates) == sorted(
        [f"FraudPipeline-{env_name}-{part}" for part in ("Inference", "Pipeline", "Storage")] + [API_GATEWAY_ACCOUNT]
    )
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", *templates],
        capture_output=True,
        text=True,
        check=False,
    )
    # Exit status bits: 2 errors, 4 warnings, 8 informational; anything else means cfn-lint did not run.
    assert lint.returncode & ~(2 | 4 | 8) == 0, lint.stderr
    errors = [line for line in lint.stdout.splitlines() if re.search(r":E\d{4}:", line)]
    assert errors == [], lint.stdout
    assert lint.returncode & 2 == 0, lint.stdout


def test_an_unreviewed_wildcard_is_not_acknowledged() -> None:
    document = {
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Allow", "Action": ["xray:PutTraceSegments"], "Resource": "*"},
        ]
    }
    reasons = {finding: reason_for(finding, actions) for finding, actions in findings(document)}
    assert reasons["Action::s3:*"] is None
    # Resource '*' is only accepted when every action in the statement requires it
    assert list(reasons) == ["Action::s3:*", "Resource::*"]
    assert reason_for("Resource::*", ["s3:*"]) is None
    assert reason_for("Resource::*", ["xray:PutTraceSegments"]) is not None


def test_findings_flatten_references_like_cdk_nag() -> None:
    document = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["NotifyFunction", "Arn"]}, ":*"]]},
            }
        ]
    }
    ((finding, _),) = list(findings(document))
    assert finding == "Resource::<NotifyFunction.Arn>:*"
    assert reason_for(finding, ["lambda:InvokeFunction"]) is not None


def test_a_reviewed_wildcard_is_recognised_in_a_stack_with_a_literal_account_and_region() -> None:
    # A stack deployed to a named account and region (every delivery stage) writes ARNs literally.
    finding = "Resource::arn:aws:logs:eu-west-1:111111111111:log-group:/aws/sagemaker/*"
    assert reason_for(finding, ["logs:CreateLogStream"]) is not None
