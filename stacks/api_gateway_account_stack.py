"""API Gateway's account-wide settings, shared by every environment deployed to an account and region."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from constructs import Construct

from stacks.components.api_gateway_cloudwatch_role import ApiGatewayCloudWatchRole

#: One name for all environments, so that deploying dev and then prod updates the same stack
#: instead of two stacks fighting over one account setting.
STACK_NAME = "FraudPipeline-ApiGatewayAccount"


class ApiGatewayAccountStack(Stack):
    """Holds the CloudWatch Logs role API Gateway needs before any stage may log; every resource is retained."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.cloudwatch_role = ApiGatewayCloudWatchRole(self, "CloudWatchRole")
