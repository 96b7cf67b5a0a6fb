"""API Gateway's account-wide CloudWatch Logs role: one retained owner per account and region, not per environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from stacks.api_gateway_account_stack import STACK_NAME
from tests.infrastructure.conftest import REPO, Synthesized, make_app

PUSH_TO_CLOUDWATCH = "AmazonAPIGatewayPushToCloudWatchLogs"


def _account_template(synthesized: Synthesized) -> Template:
    assert synthesized.api_gateway_account is not None, "the app created no API Gateway account stack"
    return synthesized.api_gateway_account


def test_the_account_stack_name_carries_no_environment(dev: Synthesized) -> None:
    # Given the dev app
    # When its API Gateway account stack is looked up
    stack = dev.stacks.api_gateway_account
    # Then it has one name for every environment, so deploying dev and then prod updates the same stack
    assert stack is not None
    assert stack.stack_name == STACK_NAME == "FraudPipeline-ApiGatewayAccount"
    assert "dev" not in stack.stack_name


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_the_role_and_the_account_setting_are_retained_even_in_a_destroyable_environment(
    env_name: str, request: pytest.FixtureRequest
) -> None:
    # Given an environment's app (dev destroys its own resources, prod retains them)
    synthesized: Synthesized = request.getfixturevalue(env_name)
    template = _account_template(synthesized)
    # When the account stack's role and AWS::ApiGateway::Account are read
    roles = template.find_resources("AWS::IAM::Role")
    accounts = template.find_resources("AWS::ApiGateway::Account")
    # Then there is one of each, the setting points at the role, and deleting the stack leaves both in place
    assert len(roles) == len(accounts) == 1
    ((role_id, role),) = roles.items()
    (account,) = accounts.values()
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    for resource in (role, account):
        assert resource["DeletionPolicy"] == "Retain"
        assert resource["UpdateReplacePolicy"] == "Retain"
    # And the role is API Gateway's, with the AWS-managed policy made for pushing its logs
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}}
    ]
    assert PUSH_TO_CLOUDWATCH in str(role["Properties"]["ManagedPolicyArns"])


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_no_inference_stack_owns_the_account_setting(env_name: str, request: pytest.FixtureRequest) -> None:
    # Given an environment's Inference stack
    synthesized: Synthesized = request.getfixturevalue(env_name)
    # When its resources are read
    # Then it neither sets API Gateway's account settings nor creates the CloudWatch role (destroying it is safe)
    synthesized.inference.resource_count_is("AWS::ApiGateway::Account", 0)
    assert PUSH_TO_CLOUDWATCH not in str(synthesized.inference.find_resources("AWS::IAM::Role"))


def test_inference_deploys_after_the_account_setting_exists(dev: Synthesized) -> None:
    # Given the dev app
    # When the Inference stack's dependencies are read
    dependencies = {stack.stack_name for stack in dev.stacks.inference.dependencies}
    # Then it waits for the account stack: API Gateway refuses stage logging until the role is set
    assert STACK_NAME in dependencies


def test_every_environment_synthesizes_the_same_account_stack(dev: Synthesized, prod: Synthesized) -> None:
    # Given dev and prod apps
    # When their account stacks' templates are compared
    # Then they are identical, so deploying one environment after another changes nothing there
    assert _account_template(dev).to_json() == _account_template(prod).to_json()


def test_config_can_leave_the_role_to_another_team(tmp_path: Path) -> None:
    # Given an account where another team already manages API Gateway's CloudWatch role
    app, stacks, _ = make_app("dev", tmp_path, api_gateway_cloudwatch_role="external")
    # When the app is built
    inference = Template.from_stack(stacks.inference)
    # Then it creates no account stack and no account setting anywhere
    assert stacks.api_gateway_account is None
    assert app.node.try_find_child(STACK_NAME) is None
    inference.resource_count_is("AWS::ApiGateway::Account", 0)
    assert STACK_NAME not in {stack.stack_name for stack in stacks.inference.dependencies}


def test_readme_documents_the_account_stack_and_its_switch() -> None:
    # Given the README
    readme = (REPO / "README.md").read_text()
    # Then it names the shared stack and the config key that turns it off
    assert f"`{STACK_NAME}`" in readme
    assert "`api_gateway_cloudwatch_role`" in readme
