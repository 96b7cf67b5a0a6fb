"""The IAM wildcards CDK Pipelines generates in the delivery pipeline, reviewed (cdk-nag AwsSolutions-IAM5).

CDK Pipelines writes the roles of its CodeBuild projects, self-mutation and asset publishing itself;
this app adds no statement to them. Like :mod:`stacks.reviewed_wildcards`, each finding is acknowledged
by its exact text, and only when it matches a row below: a wildcard CDK Pipelines starts generating in
a later version matches none, and cdk-nag stops the synth until someone reviews it. The pipeline's
stack has a concrete account and region, so its ARNs carry them literally (``arn:aws:logs:eu-west-1:
111111111111:...``) where the environments' stacks have ``<AWS::Region>`` and ``<AWS::AccountId>``.
"""

from __future__ import annotations

import re

from constructs import IConstruct

from stacks.reviewed_wildcards import acknowledge_reviewed

_ARN = r"arn:[^:]+:{service}:[^:]+:[^:]+:"
_PROJECT = r"<[A-Za-z0-9]+>"

#: (finding pattern, actions the statement must be limited to or None for any, reason).
REVIEWED: tuple[tuple[re.Pattern[str], frozenset[str] | None, str], ...] = tuple(
    (re.compile(pattern), frozenset(actions) if actions else None, reason)
    for pattern, actions, reason in (
        (
            rf"^Resource::{_ARN.format(service='logs')}log-group:/aws/codebuild/{_PROJECT}:\*$",
            None,
            "Log streams CodeBuild creates per build inside the project's own log group",
        ),
        (
            rf"^Resource::{_ARN.format(service='codebuild')}report-group/{_PROJECT}-\*$",
            None,
            "Report groups CodeBuild names after the project",
        ),
        (
            rf"^Resource::{_ARN.format(service='logs')}log-group:/aws/codebuild/\*$",
            None,
            "CDK Pipelines' one asset-publishing role serves every asset project it generates, whose log "
            "groups are named after those projects under /aws/codebuild/",
        ),
        (
            rf"^Resource::{_ARN.format(service='codebuild')}report-group/\*$",
            None,
            "CDK Pipelines' one asset-publishing role serves every asset project it generates, whose report "
            "groups are named after those projects",
        ),
        (
            r"^Resource::arn:\*:iam::\d{12}:role/\*$",
            {"sts:AssumeRole"},
            "Self-mutation and asset publishing assume the CDK bootstrap roles (deploy, file and image "
            "publishing) of an account; the statement's condition on the aws-cdk:bootstrap-role tag limits it "
            "to them",
        ),
        (
            r"^Resource::\*$",
            {"cloudformation:DescribeStacks", "s3:ListBucket"},
            "cdk deploy (self-mutation) reads the pipeline stack's status and finds the bootstrap bucket "
            "before it knows their ARNs",
        ),
        (
            r"^Resource::\*$",
            {"codebuild:BatchGetBuilds", "codebuild:StartBuild", "codebuild:StopBuild"},
            "CDK Pipelines' asset-publishing role also starts and watches the asset builds of the projects "
            "it generates",
        ),
    )
)


def reason_for(finding: str, actions: list[str]) -> str | None:
    """The reviewed reason for ``finding`` in a statement granting ``actions``, or None."""
    granted = {action.lower() for action in actions}
    for pattern, allowed, reason in REVIEWED:
        if pattern.search(finding) and (allowed is None or granted <= {a.lower() for a in allowed}):
            return reason
    return None


def acknowledge_generated_wildcards(scope: IConstruct) -> None:
    """Acknowledge the reviewed wildcards of every IAM policy under ``scope`` (call it after
    ``build_pipeline()``, once CDK Pipelines has generated its roles)."""
    acknowledge_reviewed(scope, reason_for)
