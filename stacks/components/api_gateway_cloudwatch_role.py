"""API Gateway's account-level CloudWatch Logs role, set once per account and region and kept forever."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.components.nag import acknowledge

#: The AWS-managed policy made for this role.
PUSH_TO_CLOUDWATCH_POLICY = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"


class ApiGatewayCloudWatchRole(Construct):
    """The role API Gateway writes execution and access logs with, and the account setting naming it.

    ``AWS::ApiGateway::Account`` is not a per-API resource: it is the one
    ``cloudwatchRoleArn`` setting of the whole account in this region, which
    every REST API stage that logs depends on. Both it and the role are
    retained, so deleting the stack that created them never breaks logging
    for APIs of other environments or teams in the account.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            description="API Gateway writes REST API execution and access logs to CloudWatch Logs with this role",
            managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(PUSH_TO_CLOUDWATCH_POLICY)],
        )
        self.role.apply_removal_policy(RemovalPolicy.RETAIN)
        self.account = apigw.CfnAccount(self, "Account", cloud_watch_role_arn=self.role.role_arn)
        self.account.apply_removal_policy(RemovalPolicy.RETAIN)
        acknowledge(
            self.role,
            f"AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/{PUSH_TO_CLOUDWATCH_POLICY}]",
            "API Gateway's account-level CloudWatch Logs role uses the AWS-managed "
            "AmazonAPIGatewayPushToCloudWatchLogs policy, which exists for exactly this purpose",
        )
