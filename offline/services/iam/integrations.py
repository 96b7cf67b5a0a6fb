"""What Step Functions calls, as the state machine's role, for each service integration.

One table, integration by integration, from the Step Functions Developer Guide's IAM pages
("IAM policies for integrated services" and the per-service pages named on each row). It
lists the calls the integration itself makes *and* the ones Step Functions makes on the
role's behalf: the managed EventBridge rule a ``.sync`` integration needs (created when the
state machine is created or updated: a role without it fails the deploy with "is not
authorized to create managed-rule"), the tag Step Functions puts on the jobs it starts
(``MANAGED_BY_AWS``: hence ``sagemaker:AddTags``, aws-cdk issue 32294), the polls and the
stops. Where offline mode evaluates each row:

* ``moto``: a real request to the local AWS, signed as the role (``offline.services.iam.enforcement``);
* ``in process``: no request moto could see; the integration or the deploy step calls
  ``Iam.require`` at that moment.

``calls(integration, when)`` gives the rows of one phase with their resources filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

_GUIDE = "https://docs.aws.amazon.com/step-functions/latest/dg/"
LAMBDA = _GUIDE + "lambda-iam.html"
SNS = _GUIDE + "sns-iam.html"
CODEBUILD = _GUIDE + "codebuild-iam.html"
SAGEMAKER = _GUIDE + "sagemaker-iam.html"
AWS_SDK = _GUIDE + "supported-services-awssdk.html#use-awssdk-integ"
LOGGING = _GUIDE + "cw-logs.html#cloudwatch-iam-policy"
TAGGED_JOBS = "https://github.com/aws/aws-cdk/issues/32294 (Step Functions tags the jobs of .sync integrations)"
SAGEMAKER_API = "https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html"

When = Literal["deploy", "start", "poll", "stop"]
Where = Literal["moto", "in process"]


@dataclass(frozen=True)
class Call:
    """One call made as the state machine's role."""

    action: str
    resource: str  # a template: {partition} {region} {account} and the task's parameters
    when: When
    where: Where
    source: str
    context: tuple[tuple[str, str], ...] = ()


def _rule(name: str) -> str:
    return "arn:{partition}:events:{region}:{account}:rule/" + name


def _managed_rule(name: str, source: str) -> tuple[Call, ...]:
    return tuple(Call(action, _rule(name), "deploy", "in process", source) for action in _RULE_ACTIONS)


_RULE_ACTIONS = ("events:PutTargets", "events:PutRule", "events:DescribeRule")
_SM = "arn:{partition}:sagemaker:{region}:{account}:"
_PASSED_TO_SAGEMAKER = (("iam:PassedToService", "sagemaker.amazonaws.com"),)


def _sagemaker_create(action: str, resources: tuple[str, ...], role_param: str | None = None) -> tuple[Call, ...]:
    rows = [Call(f"sagemaker:{action}", resource, "start", "moto", SAGEMAKER_API) for resource in resources]
    if role_param:
        rows.append(Call("iam:PassRole", "{" + role_param + "}", "start", "moto", SAGEMAKER, _PASSED_TO_SAGEMAKER))
    rows.append(Call("sagemaker:ListTags", resources[0], "start", "moto", SAGEMAKER))
    return tuple(rows)


def _sagemaker_sync_job(job: str, resource_type: str, rule: str, *, passes_role: bool = True) -> tuple[Call, ...]:
    """A ``create<job>.sync`` integration: its managed rule, the job's calls, the tag and the passed role."""
    resource = _SM + resource_type + "/{" + job + "Name}"
    passed = (Call("iam:PassRole", "{RoleArn}", "start", "moto", SAGEMAKER, _PASSED_TO_SAGEMAKER),)
    return (
        *_managed_rule(rule, SAGEMAKER),
        Call(f"sagemaker:Create{job}", resource, "start", "moto", SAGEMAKER),
        *(passed if passes_role else ()),
        Call("sagemaker:AddTags", resource, "start", "moto", TAGGED_JOBS),
        Call("sagemaker:ListTags", resource, "start", "moto", SAGEMAKER),
        Call(f"sagemaker:Describe{job}", resource, "poll", "moto", SAGEMAKER),
        Call(f"sagemaker:Stop{job}", resource, "stop", "moto", SAGEMAKER),
    )


_ENDPOINT = _SM + "endpoint/{EndpointName}"
_ENDPOINT_CONFIG = _SM + "endpoint-config/{EndpointConfigName}"
_PROJECT = "arn:{partition}:codebuild:{region}:{account}:project/{ProjectName}"

INTEGRATIONS: Mapping[str, tuple[Call, ...]] = {
    "lambda:invoke": (Call("lambda:InvokeFunction", "{FunctionName}", "start", "moto", LAMBDA),),
    "sns:publish": (Call("sns:Publish", "{TopicArn}", "start", "moto", SNS),),
    "codebuild:startBuild.sync": (
        *_managed_rule("StepFunctionsGetEventForCodeBuildStartBuildRule", CODEBUILD),
        Call("codebuild:StartBuild", _PROJECT, "start", "in process", CODEBUILD),
        Call("codebuild:BatchGetBuilds", _PROJECT, "poll", "in process", CODEBUILD),
        Call("codebuild:StopBuild", _PROJECT, "stop", "in process", CODEBUILD),
    ),
    "sagemaker:createTrainingJob.sync": _sagemaker_sync_job(
        "TrainingJob", "training-job", "StepFunctionsGetEventsForSageMakerTrainingJobsRule"
    ),
    "sagemaker:createProcessingJob.sync": _sagemaker_sync_job(
        "ProcessingJob", "processing-job", "StepFunctionsGetEventsForSageMakerProcessingJobsRule"
    ),
    # The guide's policy also grants iam:PassRole, but CreateTransformJob has no role parameter: the
    # job runs as the model's ExecutionRoleArn, passed (and checked) when CreateModel ran.
    "sagemaker:createTransformJob.sync": _sagemaker_sync_job(
        "TransformJob", "transform-job", "StepFunctionsGetEventsForSageMakerTransformJobsRule", passes_role=False
    ),
    "sagemaker:createModel": _sagemaker_create("CreateModel", (_SM + "model/{ModelName}",), "ExecutionRoleArn"),
    "sagemaker:createEndpointConfig": _sagemaker_create("CreateEndpointConfig", (_ENDPOINT_CONFIG,)),
    "sagemaker:createEndpoint": _sagemaker_create("CreateEndpoint", (_ENDPOINT, _ENDPOINT_CONFIG)),
    "sagemaker:updateEndpoint": _sagemaker_create("UpdateEndpoint", (_ENDPOINT, _ENDPOINT_CONFIG)),
    # Every aws-sdk task calls one API; the role needs that API's own action (and, like any
    # caller, its dependent actions, e.g. iam:PassRole), on the resources the API names.
    "aws-sdk:*": (Call("{service}:{Action}", "(the API's resources)", "start", "moto", AWS_SDK),),
}

#: What creating a state machine with logging to CloudWatch Logs needs of its role
#: (checked when the state machine is created or updated).
LOG_DELIVERY = tuple(
    Call(action, "*", "deploy", "in process", LOGGING)
    for action in (
        "logs:CreateLogDelivery",
        "logs:GetLogDelivery",
        "logs:UpdateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:DescribeResourcePolicies",
        "logs:DescribeLogGroups",
    )
)


def integration_of(resource: str) -> str | None:
    """``arn:aws:states:::sagemaker:createTrainingJob.sync`` → ``sagemaker:createTrainingJob.sync``."""
    if ":states:::" not in resource:
        return None
    name = resource.split(":states:::", 1)[1]
    if name.startswith("aws-sdk:"):
        return "aws-sdk:*"
    return name


def calls(integration: str, when: When, *, where: Where | None = None) -> tuple[Call, ...]:
    """The rows of ``integration`` made at ``when`` (optionally only those evaluated ``where``)."""
    return tuple(
        row for row in INTEGRATIONS.get(integration, ()) if row.when == when and (where is None or row.where == where)
    )


def resource_of(row: Call, parameters: Mapping[str, Any], *, partition: str, region: str, account: str) -> str:
    """The row's resource ARN for one task (SageMaker names lower-cased, as its ARNs are)."""
    values: dict[str, Any] = {"partition": partition, "region": region, "account": account}
    for key, value in parameters.items():
        values[key] = str(value).lower() if row.action.startswith("sagemaker:") and key.endswith("Name") else value
    return row.resource.format_map(values)
