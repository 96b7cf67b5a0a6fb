"""What a request needs (the Service Authorization Reference) and what Step Functions calls per integration."""

from __future__ import annotations

from typing import Any

import pytest

from offline.services.iam import integrations
from offline.services.iam.requests import ApiCall, RequestCatalog, UnmappedRequestError

CATALOG = RequestCatalog(account="123456789012", region="eu-west-1")
SM = "arn:aws:sagemaker:eu-west-1:123456789012:"


def call(service: str, operation: str, **params: Any) -> ApiCall:
    return ApiCall(service=service, operation=operation, param=params.get)


def checks(service: str, operation: str, **params: Any) -> list[tuple[str, str, bool]]:
    return [(c.action, c.resource, c.dependent) for c in CATALOG.checks(call(service, operation, **params))]


def test_a_training_job_needs_its_own_action_pass_role_for_sagemaker_and_add_tags_when_tagged() -> None:
    found = CATALOG.checks(
        call("sagemaker", "CreateTrainingJob", TrainingJobName="Fraud-Dev-Train-1", RoleArn="arn:role", Tags=[{}])
    )
    assert [(c.action, c.resource, c.dependent) for c in found] == [
        # SageMaker keeps names in its ARNs in lower case
        ("sagemaker:CreateTrainingJob", SM + "training-job/fraud-dev-train-1", False),
        ("iam:PassRole", "arn:role", True),
        ("sagemaker:AddTags", SM + "training-job/fraud-dev-train-1", True),
    ]
    assert found[1].context == {"iam:PassedToService": "sagemaker.amazonaws.com"}


def test_an_untagged_create_needs_no_add_tags() -> None:
    assert [a for a, _, _ in checks("sagemaker", "CreateEndpointConfig", EndpointConfigName="c")] == [
        "sagemaker:CreateEndpointConfig"
    ]


def test_creating_or_updating_an_endpoint_acts_on_the_endpoint_and_its_config() -> None:
    for operation in ("CreateEndpoint", "UpdateEndpoint"):
        assert checks("sagemaker", operation, EndpointName="ep", EndpointConfigName="cfg") == [
            (f"sagemaker:{operation}", SM + "endpoint/ep", False),
            (f"sagemaker:{operation}", SM + "endpoint-config/cfg", False),
        ]


def test_list_endpoints_is_authorized_on_star() -> None:
    assert checks("sagemaker", "ListEndpoints", NameContains="x") == [("sagemaker:ListEndpoints", "*", False)]


def test_lambda_invoke_is_invoke_function_on_the_function_and_its_qualifier() -> None:
    assert checks("lambda", "Invoke", FunctionName="f", Qualifier="live") == [
        ("lambda:InvokeFunction", "arn:aws:lambda:eu-west-1:123456789012:function:f:live", False)
    ]


def test_get_parameters_checks_each_name() -> None:
    assert [r for _, r, _ in checks("ssm", "GetParameters", Names=["/a/b", "c"])] == [
        "arn:aws:ssm:eu-west-1:123456789012:parameter/a/b",
        "arn:aws:ssm:eu-west-1:123456789012:parameter/c",
    ]


def test_event_rules_live_on_the_default_bus_unless_named() -> None:
    assert checks("events", "PutRule", Name="r") == [
        ("events:PutRule", "arn:aws:events:eu-west-1:123456789012:rule/r", False)
    ]
    assert checks("events", "PutTargets", Rule="r", EventBusName="bus")[0][1].endswith(":rule/bus/r")


def test_s3_list_operations_are_list_bucket_actions() -> None:
    no_params: dict[str, Any] = {}
    api = ApiCall(service="s3", operation="ListObjectsV2", param=no_params.get, method="GET", resource="arn:aws:s3:::b")
    assert [(c.action, c.resource) for c in CATALOG.checks(api)] == [("s3:ListBucket", "arn:aws:s3:::b")]


def test_metric_data_carries_its_namespace_as_a_condition_key() -> None:
    (check,) = CATALOG.checks(call("cloudwatch", "PutMetricData", Namespace="FraudPipeline"))
    assert (check.action, check.resource, dict(check.context)) == (
        "cloudwatch:PutMetricData",
        "*",
        {"cloudwatch:namespace": "FraudPipeline"},
    )


def test_an_operation_offline_iam_does_not_know_is_an_error_not_an_allow() -> None:
    with pytest.raises(UnmappedRequestError, match=r"add it to offline/services/iam/requests\.py"):
        CATALOG.checks(call("sagemaker", "CreateHyperParameterTuningJob", HyperParameterTuningJobName="h"))


# --- the Step Functions integration table --------------------------------------------------


@pytest.mark.parametrize("integration", sorted(integrations.INTEGRATIONS))
def test_every_row_names_its_source(integration: str) -> None:
    for row in integrations.INTEGRATIONS[integration]:
        assert row.source.startswith("https://"), row


def test_a_sync_training_job_makes_every_call_the_issue_lists() -> None:
    actions = {row.action for row in integrations.INTEGRATIONS["sagemaker:createTrainingJob.sync"]}
    assert actions == {
        "sagemaker:CreateTrainingJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:AddTags",
        "sagemaker:ListTags",
        "iam:PassRole",
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
    }


@pytest.mark.parametrize(
    ("integration", "rule"),
    [
        ("sagemaker:createTrainingJob.sync", "StepFunctionsGetEventsForSageMakerTrainingJobsRule"),
        ("codebuild:startBuild.sync", "StepFunctionsGetEventForCodeBuildStartBuildRule"),
    ],
)
def test_sync_integrations_need_their_managed_rule_when_the_state_machine_is_created(
    integration: str, rule: str
) -> None:
    deploy = integrations.calls(integration, "deploy")
    assert {row.action for row in deploy} == {"events:PutTargets", "events:PutRule", "events:DescribeRule"}
    resources = {integrations.resource_of(r, {}, partition="aws", region="eu-west-1", account="1") for r in deploy}
    assert resources == {f"arn:aws:events:eu-west-1:1:rule/{rule}"}


def test_request_response_integrations_need_no_managed_rule() -> None:
    assert integrations.calls("sagemaker:createModel", "deploy") == ()
    assert integrations.calls("lambda:invoke", "deploy") == ()


def test_resources_are_filled_from_the_task_parameters() -> None:
    (row,) = [r for r in integrations.calls("sagemaker:createTrainingJob.sync", "poll")]
    resource = integrations.resource_of(row, {"TrainingJobName": "Job-A"}, partition="aws", region="r", account="1")
    assert resource == "arn:aws:sagemaker:r:1:training-job/job-a"


@pytest.mark.parametrize(
    ("resource", "integration"),
    [
        ("arn:aws:states:::sagemaker:createTrainingJob.sync", "sagemaker:createTrainingJob.sync"),
        ("arn:aws:states:::aws-sdk:sagemaker:listEndpoints", "aws-sdk:*"),
        ("arn:aws:lambda:eu-west-1:1:function:f", None),
    ],
)
def test_task_resources_name_their_integration(resource: str, integration: str | None) -> None:
    assert integrations.integration_of(resource) == integration
