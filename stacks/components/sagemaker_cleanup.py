"""What cleans up after the state machine in SageMaker, where CloudFormation does not look."""

from __future__ import annotations

from aws_cdk import Aws, CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.components.python_function import PythonFunction

#: The teardown function's timeout; it stops deleting (and answers) shortly before.
TEARDOWN_TIMEOUT = Duration.minutes(10)
#: How long CloudFormation waits for an answer, should the function die without one (default: 1 hour).
TEARDOWN_SERVICE_TIMEOUT = Duration.minutes(15)
PRUNE_TIMEOUT = Duration.minutes(2)


class SageMakerCleanup(Construct):
    """Deletes the models, endpoint configs and endpoint the state machine creates.

    They are not CloudFormation resources (each run names its own), so:

    * ``prune`` is the state machine's step after a verified deploy: it deletes the models and
      endpoint configs older than the newest ``keep_last_versions``, never the live ones;
    * ``teardown`` backs the custom resource ``resource``: when the stack is deleted, its Delete
      deletes the endpoint, every endpoint config and every model of this environment. Create
      and Update do nothing. It is DESTROY even in prod: the endpoint serves, it holds no data,
      and the model artifacts stay in the artifacts bucket.

    Both functions see only this environment's names (``name_prefix``, ``endpoint_name``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: str,
        name_prefix: str,
        endpoint_name: str,
        keep_last_versions: int,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
        powertools_layer_version: int,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        variables = {"ENVIRONMENT": environment, "NAME_PREFIX": name_prefix, "ENDPOINT_NAME": endpoint_name}

        def function(construct_id: str, handler: str, description: str, timeout: Duration) -> PythonFunction:
            return PythonFunction(
                self,
                construct_id,
                name="sagemaker_cleanup",
                handler=handler,
                description=description,
                environment={**variables, "KEEP_LAST_VERSIONS": str(keep_last_versions)},
                log_retention=log_retention,
                removal_policy=removal_policy,
                powertools_layer_version=powertools_layer_version,
                timeout=timeout,
            )

        self.prune = function(
            "Prune",
            "handler",
            f"Deletes models and endpoint configs older than the last {keep_last_versions}, never the live ones",
            PRUNE_TIMEOUT,
        )
        self.teardown = function(
            "TeardownHandler",
            "teardown_handler",
            "On stack deletion, deletes the endpoint, endpoint configs and models the pipeline created",
            TEARDOWN_TIMEOUT,
        )

        def arn(resource: str, name: str) -> str:
            return stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

        endpoint, configs, models = (
            arn("endpoint", endpoint_name),
            arn("endpoint-config", f"{name_prefix}*"),
            arn("model", f"{name_prefix}*"),
        )

        def deletions() -> list[iam.PolicyStatement]:
            """What both functions do: list this environment's versions and delete them."""
            return [
                # ListModels and ListEndpointConfigs authorize on "*" only (Service Authorization Reference,
                # Amazon SageMaker AI); the functions keep to this environment's prefix by name.
                iam.PolicyStatement(actions=["sagemaker:ListEndpointConfigs", "sagemaker:ListModels"], resources=["*"]),
                iam.PolicyStatement(actions=["sagemaker:DeleteEndpointConfig"], resources=[configs]),
                iam.PolicyStatement(actions=["sagemaker:DeleteModel"], resources=[models]),
            ]

        prune_statements = [
            *deletions(),
            # The configs the endpoint serves, and the models they use, are never deleted.
            iam.PolicyStatement(actions=["sagemaker:DescribeEndpoint"], resources=[endpoint]),
            iam.PolicyStatement(actions=["sagemaker:DescribeEndpointConfig"], resources=[configs]),
        ]
        teardown_statements = [
            *deletions(),
            iam.PolicyStatement(
                actions=["sagemaker:DescribeEndpoint", "sagemaker:DeleteEndpoint"], resources=[endpoint]
            ),
            # To tell the stack's deletion from an update that removes the resource.
            iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=[Aws.STACK_ID]),
        ]
        for fn, statements in ((self.prune, prune_statements), (self.teardown, teardown_statements)):
            for statement in statements:
                fn.role.add_to_principal_policy(statement)

        # Keep the handler's construct id: CloudFormation cannot change a custom resource's ServiceToken.
        self.resource = CustomResource(
            self,
            "Teardown",
            service_token=self.teardown.function.function_arn,
            resource_type="Custom::SageMakerTeardown",
            properties={"EndpointName": endpoint_name, "NamePrefix": name_prefix},
            service_timeout=TEARDOWN_SERVICE_TIMEOUT,
            # Never RETAIN: CloudFormation would then skip the Delete that tears the endpoint down.
            removal_policy=RemovalPolicy.DESTROY,
        )
