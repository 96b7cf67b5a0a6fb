#!/usr/bin/env python3
"""The CDK app: one environment's stacks, chosen with ``-c env=NAME`` (default ``dev``).

This is the only place that reads CDK context. It validates the chosen
environment into a frozen :class:`~stacks.config.EnvironmentConfig` and passes
that down; a bad value stops synth with a message naming the key.

``-c env=delivery`` synthesizes only the optional delivery pipeline (``FraudPipeline-Delivery``,
configured by the ``delivery`` context object), which deploys dev, stage and prod from the repository.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NamedTuple

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from stacks.api_gateway_account_stack import STACK_NAME as API_GATEWAY_ACCOUNT_STACK
from stacks.api_gateway_account_stack import ApiGatewayAccountStack
from stacks.components.supported_region import require_supported_region
from stacks.config import ConfigError, EnvironmentConfig, load_environment
from stacks.delivery_config import DELIVERY, load_delivery, pinned_cli_version, stage_environments
from stacks.delivery_stack import STACK_NAME as DELIVERY_STACK
from stacks.delivery_stack import DeliveryStack
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


def build(scope: Construct, config: EnvironmentConfig) -> Stacks:
    """Add the environment's three stacks to ``scope``, plus the account-wide API Gateway stack unless external.

    ``scope`` is the app, or a delivery pipeline's stage (``stacks/delivery_stack.py``); the stack names are
    explicit so that a stage does not prefix them with its own: the same stacks, deployed either way.
    """
    env = cdk.Environment(account=config.account, region=config.region)
    tags = {"project": "fraud-pipeline", "environment": config.name}

    def named(part: str) -> dict[str, Any]:
        return {"stack_name": config.stack_name(part), "env": env, "tags": tags}

    storage = StorageStack(scope, config.stack_name("Storage"), config=config, **named("Storage"))
    pipeline = PipelineStack(scope, config.stack_name("Pipeline"), config=config, storage=storage, **named("Pipeline"))
    inference = InferenceStack(
        scope, config.stack_name("Inference"), config=config, storage=storage, **named("Inference")
    )
    account: ApiGatewayAccountStack | None = None
    if config.api_gateway_cloudwatch_role == "create":
        # No environment tag: every environment deploys this same stack.
        account = ApiGatewayAccountStack(
            scope,
            API_GATEWAY_ACCOUNT_STACK,
            stack_name=API_GATEWAY_ACCOUNT_STACK,
            env=env,
            tags={"project": "fraud-pipeline"},
        )
        # API Gateway refuses a stage with logging until the account's CloudWatch role is set.
        inference.add_stack_dependency(account, "API Gateway needs the account's CloudWatch Logs role first")
    stacks = Stacks(storage, pipeline, inference, account)
    for stack in stacks:
        if stack is not None:
            require_supported_region(stack)
    return stacks


def build_delivery(app: cdk.App, context: dict[str, Any]) -> DeliveryStack:
    """The delivery pipeline alone: it holds dev, stage and prod as its stages, each built by :func:`build`."""
    delivery = load_delivery(context)
    return DeliveryStack(
        app,
        DELIVERY_STACK,
        delivery=delivery,
        environments=stage_environments(context, delivery),
        build=build,
        cli_version=pinned_cli_version(Path(__file__).resolve().parent),
        env=cdk.Environment(account=delivery.account, region=delivery.region),
        tags={"project": "fraud-pipeline"},
    )


def add_policy_checks(app: cdk.App) -> None:
    """cdk-nag's AwsSolutions pack, after the plugin that acknowledges our reviewed IAM wildcards."""
    # Order matters: reviewed IAM wildcards are acknowledged before cdk-nag evaluates them.
    cdk.Validations.of(app).add_plugins(ReviewedWildcards(app), AwsSolutionsChecks(app))


def build_selected(app: cdk.App) -> Stacks | DeliveryStack:
    """What ``-c env=NAME`` selects: that environment's stacks, or with ``delivery`` the pipeline alone."""
    env_name = str(app.node.try_get_context("env") or "dev")
    context = {key: app.node.try_get_context(key) for key in ("environments", DELIVERY)}
    if env_name == DELIVERY:
        return build_delivery(app, context)
    return build(app, load_environment(context, env_name))


def main() -> None:
    app = cdk.App()
    try:
        build_selected(app)
    except ConfigError as err:
        sys.exit(f"error: {err}")
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
