#!/usr/bin/env python3
"""The CDK app: one environment's stacks, chosen with ``-c env=NAME`` (default ``dev``).

This is the only place that reads CDK context. It validates the chosen
environment into a frozen :class:`~stacks.config.EnvironmentConfig` and passes
that down; a bad value stops synth with a message naming the key.
"""

from __future__ import annotations

import sys
from typing import NamedTuple

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.api_gateway_account_stack import STACK_NAME as API_GATEWAY_ACCOUNT_STACK
from stacks.api_gateway_account_stack import ApiGatewayAccountStack
from stacks.components.supported_region import require_supported_region
from stacks.config import ConfigError, EnvironmentConfig, load_environment
from stacks.inference_stack import InferenceStack
from stacks.pipeline_stack import PipelineStack
from stacks.reviewed_wildcards import ReviewedWildcards
from stacks.storage_stack import StorageStack


class Stacks(NamedTuple):
    storage: StorageStack
    pipeline: PipelineStack
    inference: InferenceStack
    #: Shared by every environment in the account and region; None when config leaves it to another team.
    api_gateway_account: ApiGatewayAccountStack | None = None


def build(app: cdk.App, config: EnvironmentConfig) -> Stacks:
    """Add the environment's three stacks to ``app``, plus the account-wide API Gateway stack unless external."""
    env = cdk.Environment(account=config.account, region=config.region)
    tags = {"project": "fraud-pipeline", "environment": config.name}
    storage = StorageStack(app, config.stack_name("Storage"), config=config, env=env, tags=tags)
    pipeline = PipelineStack(app, config.stack_name("Pipeline"), config=config, storage=storage, env=env, tags=tags)
    inference = InferenceStack(app, config.stack_name("Inference"), config=config, storage=storage, env=env, tags=tags)
    account: ApiGatewayAccountStack | None = None
    if config.api_gateway_cloudwatch_role == "create":
        # No environment tag: every environment deploys this same stack.
        account = ApiGatewayAccountStack(app, API_GATEWAY_ACCOUNT_STACK, env=env, tags={"project": "fraud-pipeline"})
        # API Gateway refuses a stage with logging until the account's CloudWatch role is set.
        inference.add_stack_dependency(account, "API Gateway needs the account's CloudWatch Logs role first")
    stacks = Stacks(storage, pipeline, inference, account)
    for stack in stacks:
        if stack is not None:
            require_supported_region(stack)
    return stacks


def add_policy_checks(app: cdk.App) -> None:
    """cdk-nag's AwsSolutions pack, after the plugin that acknowledges our reviewed IAM wildcards."""
    # Order matters: reviewed IAM wildcards are acknowledged before cdk-nag evaluates them.
    cdk.Validations.of(app).add_plugins(ReviewedWildcards(app), AwsSolutionsChecks(app))


def main() -> None:
    app = cdk.App()
    env_name = str(app.node.try_get_context("env") or "dev")
    try:
        config = load_environment({"environments": app.node.try_get_context("environments")}, env_name)
    except ConfigError as err:
        sys.exit(f"error: {err}")
    build(app, config)
    add_policy_checks(app)
    try:
        app.synth()
    except RuntimeError as err:
        if "ValidationFailed" not in str(err):
            raise
        # The findings are printed above; the traceback through jsii adds nothing.
        sys.exit(f"error: synth stopped by policy validation (cdk-nag); see {app.outdir}/validation-report.json")


if __name__ == "__main__":
    main()
