"""The IAM wildcards we have reviewed, and why each is acceptable (cdk-nag AwsSolutions-IAM5).

cdk-nag 3 wants every wildcard acknowledged one finding at a time, by its
exact text, e.g. ``AwsSolutions-IAM5[Resource::<NotifyFunction3392CA4F.Arn>:*]``.
Those texts contain logical IDs and cross-stack export names that only exist
once CDK has prepared the app. So instead of pasting generated IDs into the
stacks, this validation plugin runs just before cdk-nag, computes the findings
of every IAM policy the way cdk-nag does, and acknowledges the ones that match
the table below, with the table's reason. A wildcard that matches no row stays
unacknowledged, and cdk-nag fails the synth: new wildcards always get a review.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import jsii
from aws_cdk import (
    Acknowledgment,
    CfnResource,
    IPolicyValidationContext,
    IPolicyValidationPlugin,
    PolicyValidationPluginReport,
    Stack,
    Validations,
)
from constructs import IConstruct

#: Actions that AWS only authorizes on Resource "*".
ACTIONS_REQUIRING_STAR = frozenset(
    {
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "ecr:GetAuthorizationToken",
        "cloudwatch:PutMetricData",
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
        "sagemaker:ListEndpoints",
        "sagemaker:ListEndpointConfigs",
        "sagemaker:ListModels",
        "sagemaker:ListModelPackages",
        "cloudwatch:GetMetricStatistics",
        "application-autoscaling:DescribeScalableTargets",
    }
)
#: Actions on a resource whose ARN ends in an ID the service assigns: no policy can name it in advance.
ACTIONS_ON_ASSIGNED_IDS = frozenset(
    {
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:DeregisterScalableTarget",
        "application-autoscaling:PutScalingPolicy",
    }
)
_STAR_ONLY = frozenset(action.lower() for action in ACTIONS_REQUIRING_STAR)
_ASSIGNED_IDS = frozenset(action.lower() for action in ACTIONS_ON_ASSIGNED_IDS)

#: (finding pattern, reason). Patterns match cdk-nag's finding text after ``AwsSolutions-IAM5[``.
REVIEWED: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), reason)
    for pattern, reason in (
        (
            r"^Action::s3:(GetObject|GetBucket|List|Abort|DeleteObject)\*$",
            "CDK's S3 grant action groups (grant_read / grant_read_write), each limited by the statement's "
            "resources to one bucket of this environment",
        ),
        (
            r"^Action::kms:(GenerateDataKey|ReEncrypt)\*$",
            "CDK's KMS grant action groups for the environment's one key; S3, SNS and CodeBuild encrypt "
            "with data keys from it",
        ),
        (
            r"^Resource::<[A-Za-z0-9]+\.Arn>/\*$|^Resource::[A-Za-z0-9-]+:ExportsOutputFnGetAtt[A-Za-z0-9]+Arn[A-Za-z0-9]*/",
            "Objects inside one bucket of this environment (bucket ARN + '/*' or a key prefix)",
        ),
        (
            r"^Resource::<[A-Za-z0-9]+\.Arn>:\*$",
            "Versions and aliases of one Lambda function, as the Step Functions Lambda integration invokes them",
        ),
        (
            r"^Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/codebuild/<[A-Za-z0-9]+>:\*$",
            "Log streams that CodeBuild creates per build inside the project's own log group",
        ),
        (
            r"^Resource::arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:report-group/<[A-Za-z0-9]+>-\*$",
            "Report groups CodeBuild names after the project",
        ),
        (
            r"^Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/sagemaker/\*$",
            "SageMaker names its training-job and endpoint log groups and streams per job under /aws/sagemaker/",
        ),
        (
            r"^Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:"
            r"(training-job|processing-job|model|endpoint-config)/fraud-[a-z0-9]+-\*$",
            "SageMaker job, model and endpoint-config names are unique per run, so access is scoped to this "
            "environment's name prefix",
        ),
        (
            r"^Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:"
            r"alarm:TargetTracking-endpoint/fraud-detector-[a-z0-9]+/variant/AllTraffic-\*$",
            "The alarms target tracking creates for this endpoint's variant (TargetTracking-<resource id>-"
            "AlarmHigh|AlarmLow-<uuid>): Application Auto Scaling checks its caller may manage them",
        ),
        (
            r"^Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:"
            r"model-package/fraud-[a-z0-9]+-models/\*$",
            "The versions of this environment's model package group: a version's number is only known once "
            "it is registered",
        ),
        (
            r"^Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:"
            r"processing-job/fraud-[a-z0-9]+-drift-\*$",
            "The drift jobs, one per drift run, named fraud-<env>-drift-<start time>: access is scoped to this "
            "environment's drift-job prefix",
        ),
        (
            r"^Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:"
            r"(model|transform-job)/fraud-[a-z0-9]+-batch-\*$",
            "The batch state machine's model and transform job, named fraud-<env>-batch-<batch>-<start time>-<id> "
            "per run: access is scoped to this environment's batch prefix",
        ),
    )
)


#: The start of an ARN a stack with a concrete account and region writes literally (``arn:aws:logs:eu-west-1:
#: 111111111111:``, as every stage of the delivery pipeline has); the table above uses the pseudo parameters of an
#: environment-agnostic stack, so findings are compared in that form.
_LITERAL_ARN = re.compile(r"^Resource::arn:aws[a-z-]*:([a-z0-9-]+):[a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d:\d{12}:")


def agnostic(finding: str) -> str:
    """``finding`` with a literal partition, region and account written as ``<AWS::Partition>`` etc."""
    return _LITERAL_ARN.sub(r"Resource::arn:<AWS::Partition>:\1:<AWS::Region>:<AWS::AccountId>:", finding)


def _flatten(node: Any) -> str:
    """cdk-nag's flattenCfnReference: a CloudFormation value as the text its findings use."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.replace("${", "<").replace("}", ">")
    if isinstance(node, dict):
        if "Fn::Join" in node:
            delimiter, items = node["Fn::Join"]
            return str(delimiter).join(_flatten(item) for item in items)
        if "Fn::Sub" in node:
            return _flatten(node["Fn::Sub"])
        if "Fn::GetAtt" in node:
            resource, attribute = node["Fn::GetAtt"]
            return f"<{_flatten(resource)}.{_flatten(attribute)}>"
        if "Fn::ImportValue" in node:
            return _flatten(node["Fn::ImportValue"])
        if "Ref" in node:
            return f"<{_flatten(node['Ref'])}>"
    return json.dumps(node, separators=(",", ":"))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def findings(document: dict[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """Yield (finding, the statement's actions) for every wildcard cdk-nag reports in ``document``."""
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        actions = [str(a) for a in _as_list(statement.get("Action", []))]
        for action in actions:
            if "*" in action:
                yield f"Action::{action}", actions
        for resource in _as_list(statement.get("Resource", [])):
            text = _flatten(resource)
            if "*" in text:
                yield f"Resource::{text}", actions


def reason_for(finding: str, actions: list[str]) -> str | None:
    """The reviewed reason for ``finding``, or None when it has not been reviewed."""
    if finding == "Resource::*":
        # IAM action names are case-insensitive (CDK writes aws-sdk actions as "sagemaker:listEndpoints").
        # minimizePolicies merges statements, so one statement may hold actions of both kinds.
        lowered = {action.lower() for action in actions}
        if not lowered <= _STAR_ONLY | _ASSIGNED_IDS:
            return None
        star_only = sorted(a for a in set(actions) if a.lower() in _STAR_ONLY)
        assigned = sorted(a for a in set(actions) if a.lower() in _ASSIGNED_IDS)
        reasons = []
        if star_only:
            reasons.append(f"AWS authorizes {', '.join(star_only)} only on Resource '*'")
        if assigned:
            reasons.append(
                f"{', '.join(assigned)} act on a scalable target, whose ARN ends in an ID Application Auto Scaling "
                "assigns when it is registered, so no policy can name this endpoint's target in advance; the calls "
                "name it by ResourceId"
            )
        return "; ".join(reasons)
    for pattern, reason in REVIEWED:
        if pattern.search(agnostic(finding)):
            return reason
    return None


@jsii.implements(IPolicyValidationPlugin)
class ReviewedWildcards:
    """A validation plugin, registered before cdk-nag, that acknowledges reviewed IAM5 findings."""

    def __init__(self, scope: IConstruct) -> None:
        self._scope = scope

    @property
    def name(self) -> str:
        return "ReviewedIamWildcards"

    @property
    def version(self) -> str:
        return "1.0.0"

    @property
    def rule_ids(self) -> list[str] | None:
        return None

    def validate(self, context: IPolicyValidationContext) -> PolicyValidationPluginReport:
        acknowledge_reviewed(self._scope, reason_for)
        return PolicyValidationPluginReport(success=True, violations=[])


def acknowledge_reviewed(scope: IConstruct, reason: Callable[[str, list[str]], str | None]) -> None:
    """Acknowledge every IAM5 finding under ``scope`` for which ``reason(finding, actions)`` gives a reason."""
    for construct in scope.node.find_all():
        if not CfnResource.is_cfn_resource(construct):
            continue
        resource = construct
        assert isinstance(resource, CfnResource)
        if resource.cfn_resource_type != "AWS::IAM::Policy":
            continue
        document = Stack.of(resource).resolve(resource.policy_document)  # type: ignore[attr-defined]
        for finding, actions in findings(document):
            why = reason(finding, actions)
            if why is not None:
                Validations.of(resource).acknowledge(Acknowledgment(id=f"AwsSolutions-IAM5[{finding}]", reason=why))
