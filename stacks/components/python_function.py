"""One Lambda function the way every function in this app is built."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.components.nag import acknowledge
from stacks.components.powertools_layer import powertools_layer_arn
from stacks.components.source_bundle import LAMBDA_SHARED_PATHS, repo_subset_bundling

#: Matches the Powertools layer's build (python3.13, x86_64), which also carries pydantic and the X-Ray SDK.
RUNTIME = lambda_.Runtime.PYTHON_3_13
METRICS_NAMESPACE = "FraudPipeline"
DEFAULT_TIMEOUT = Duration.seconds(30)


class PythonFunction(Construct):
    """A Lambda from ``lambdas/<name>/app.py:<handler>`` with its own role, log group and tracing.

    The role starts empty except for writing to the function's own log group
    (no ``AWSLambdaBasicExecutionRole``); callers add access with ``grant_*``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        description: str,
        environment: Mapping[str, str],
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        powertools_layer_version: int,
        log_key: kms.IKey | None = None,
        timeout: Duration = DEFAULT_TIMEOUT,
        memory_size: int = 256,
        handler: str = "handler",
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention,
            removal_policy=removal_policy,
            encryption_key=log_key,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs the {name} Lambda" + ("" if handler == "handler" else f" ({handler})"),
        )
        self.log_group.grant_write(self.role)
        layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools", powertools_layer_arn(self, version=powertools_layer_version)
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            handler=f"lambdas.{name}.app.{handler}",
            code=lambda_.Code.from_asset(**repo_subset_bundling([f"lambdas/{name}", *LAMBDA_SHARED_PATHS])),
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=timeout,
            memory_size=memory_size,
            layers=[layer],
            environment={
                "POWERTOOLS_SERVICE_NAME": name,
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                **environment,
            },
        )
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "The runtime is pinned to Python 3.13 because the Powertools layer is a python3.13 build; "
            "both move together when the layer version is bumped",
        )
