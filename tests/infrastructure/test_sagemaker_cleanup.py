"""What the pipeline creates in SageMaker is cleaned up: old versions after a deploy, everything at teardown."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Template

from stacks.components.task_retries import LAMBDA_SERVICE_ERRORS
from tests.infrastructure.conftest import Synthesized

PRUNE = "lambdas.sagemaker_cleanup.app.handler"
TEARDOWN = "lambdas.sagemaker_cleanup.app.teardown_handler"


def _function(template: Template, handler: str) -> tuple[str, dict[str, Any]]:
    ((logical_id, function),) = template.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": handler}}
    ).items()
    return logical_id, dict(function)


def _role_statements(template: Template, handler: str) -> list[dict[str, Any]]:
    """Every statement of the policies attached to the role of the function with ``handler``."""
    _, function = _function(template, handler)
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = template.find_resources("AWS::IAM::Policy")
    return [
        statement
        for policy in policies.values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _grants(statements: list[dict[str, Any]]) -> dict[str, list[str]]:
    """action → the resources it is allowed on, rendered as text."""
    granted: dict[str, list[str]] = {}
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            granted.setdefault(action, []).extend(json.dumps(r) for r in resources)
    return granted


# -- teardown: the custom resource ------------------------------------------------------------


def test_a_custom_resource_backed_by_the_teardown_function_deletes_on_stack_deletion(dev: Synthesized) -> None:
    # Given the Pipeline stack's custom resource
    (resource,) = dev.pipeline.find_resources("Custom::SageMakerTeardown").values()
    teardown_id, teardown = _function(dev.pipeline, TEARDOWN)
    # Then its Delete goes to the teardown function, which CloudFormation waits on for a bounded time
    assert resource["Properties"]["ServiceToken"] == {"Fn::GetAtt": [teardown_id, "Arn"]}
    assert resource["Properties"]["ServiceTimeout"] == "900"
    assert resource["DeletionPolicy"] == "Delete"
    # And the function knows only this environment's names, with time to wait out an endpoint update
    variables = teardown["Properties"]["Environment"]["Variables"]
    assert variables["NAME_PREFIX"] == "fraud-dev-"
    assert variables["ENDPOINT_NAME"] == "fraud-detector-dev"
    assert teardown["Properties"]["Timeout"] == 600


def test_prod_still_tears_the_endpoint_down_although_it_retains_its_data(prod: Synthesized) -> None:
    # A RETAIN policy would make CloudFormation skip the Delete, and the endpoint would bill on.
    (resource,) = prod.pipeline.find_resources("Custom::SageMakerTeardown").values()
    assert resource["DeletionPolicy"] == "Delete"
    (bucket, *_) = prod.storage.find_resources("AWS::S3::Bucket").values()
    assert bucket["DeletionPolicy"] == "Retain"


def test_the_state_machines_are_deleted_before_the_teardown_runs(dev: Synthesized) -> None:
    # CloudFormation deletes dependents first: the state machines (whose executions then stop) go
    # before the custom resource, so no run creates an endpoint after the teardown.
    (resource_id,) = dev.pipeline.find_resources("Custom::SageMakerTeardown")
    machines = dev.pipeline.find_resources("AWS::StepFunctions::StateMachine").values()
    assert len(machines) == 4  # retraining, deployment, drift and batch
    for machine in machines:
        assert resource_id in machine["DependsOn"]


def test_teardown_may_delete_only_this_environments_endpoint_configs_and_models(dev: Synthesized) -> None:
    granted = _grants(_role_statements(dev.pipeline, TEARDOWN))
    assert {"sagemaker:DeleteEndpoint", "sagemaker:DescribeEndpoint"} <= set(granted)
    for action in ("sagemaker:DeleteEndpoint", "sagemaker:DescribeEndpoint"):
        assert all(r.endswith(':endpoint/fraud-detector-dev"]]}') for r in granted[action]), granted[action]
    assert all(r.endswith(':endpoint-config/fraud-dev-*"]]}') for r in granted["sagemaker:DeleteEndpointConfig"])
    assert all(r.endswith(':model/fraud-dev-*"]]}') for r in granted["sagemaker:DeleteModel"])
    # The listings authorize on "*" only; nothing else does
    assert granted["sagemaker:ListModels"] == granted["sagemaker:ListEndpointConfigs"] == ['"*"']
    # It reads only its own stack's status, to tell the stack's deletion from an update that removes it
    assert granted["cloudformation:DescribeStacks"] == [json.dumps({"Ref": "AWS::StackId"})]


# -- clean-up: the state machine's step ---------------------------------------------------------


def test_the_clean_up_keeps_the_configured_number_of_versions(dev: Synthesized, prod: Synthesized) -> None:
    for synthesized in (dev, prod):
        _, prune = _function(synthesized.pipeline, PRUNE)
        variables = prune["Properties"]["Environment"]["Variables"]
        assert variables["KEEP_LAST_VERSIONS"] == str(synthesized.config.keep_last_versions)
        assert variables["NAME_PREFIX"] == f"fraud-{synthesized.config.name}-"
        assert variables["ENDPOINT_NAME"] == f"fraud-detector-{synthesized.config.name}"
    assert (dev.config.keep_last_versions, prod.config.keep_last_versions) == (3, 5)


def test_the_clean_up_may_read_the_endpoint_but_never_delete_it(dev: Synthesized) -> None:
    granted = _grants(_role_statements(dev.pipeline, PRUNE))
    assert "sagemaker:DeleteEndpoint" not in granted
    assert "sagemaker:UpdateEndpoint" not in granted
    assert all(r.endswith(':endpoint/fraud-detector-dev"]]}') for r in granted["sagemaker:DescribeEndpoint"])
    for action in ("sagemaker:DescribeEndpointConfig", "sagemaker:DeleteEndpointConfig"):
        assert all(r.endswith(':endpoint-config/fraud-dev-*"]]}') for r in granted[action]), granted[action]
    assert all(r.endswith(':model/fraud-dev-*"]]}') for r in granted["sagemaker:DeleteModel"])


def test_the_clean_up_step_gets_the_live_config_and_its_failure_never_fails_the_run(
    dev: Synthesized, definition: dict[str, Any]
) -> None:
    step = definition["States"]["CleanUpOldVersions"]
    prune_id, _ = _function(dev.pipeline, PRUNE)
    # Given the step invokes the clean-up function with the config the run just verified
    assert step["Type"] == "Task"
    assert step["Resource"] == f"${{{prune_id}.Arn}}"
    assert step["Parameters"] == {
        "execution_arn.$": "$$.Execution.Id",
        "live_endpoint_config.$": "$.endpoint.EndpointConfigName",
    }
    assert step["ResultPath"] == "$.cleanup"
    # Then transient Lambda errors are retried like every Lambda task's
    assert [e for r in step["Retry"] for e in r["ErrorEquals"]] == LAMBDA_SERVICE_ERRORS
    # And any failure of its own is caught first and carried to the success notification
    first, last = step["Catch"]
    assert first == {
        "ErrorEquals": ["States.TaskFailed", "States.Timeout"],
        "ResultPath": "$.cleanup_error",
        "Next": "NotifyDeployed",
    }
    # While the state machine's catch-all still stands behind it, as on every Task
    assert last["ErrorEquals"] == ["States.ALL"]
    assert definition["States"][last["Next"]]["Next"] == "NotifyFailure"
    assert step["Next"] == "NotifyDeployed"
