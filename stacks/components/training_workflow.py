"""The retraining state machine, built from small named steps.

Initiate → (skip if a run is in progress) → build both images in parallel
(each skipped when ECR already has its source-hash tag) → train → create the
model and the endpoint config → create or update the endpoint → wait,
bounded, until InService → check that the live config is this run's →
notify. Any failure goes through :class:`FailureRoute`.

The SageMaker steps are ``CustomState``s rather than the CDK task classes so
that their IAM can be scoped to this environment's name prefix and the role
we pass, instead of the task classes' wildcard policies.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.failure_route import FailureRoute, notify_step
from stacks.components.log_retention import retention
from stacks.config import EnvironmentConfig
from training.metrics_contract import METRIC_DEFINITIONS

#: Errors worth retrying: throttling and service limits only. A failed training job is never re-run.
THROTTLING = {
    "lambda": ["Lambda.TooManyRequestsException"],
    "codebuild": ["CodeBuild.AccountLimitExceededException", "CodeBuild.ThrottlingException"],
    "sagemaker": ["SageMaker.ThrottlingException", "SageMaker.ResourceLimitExceededException", "ThrottlingException"],
}
#: How Step Functions reports DescribeEndpoint on a name that does not exist.
ENDPOINT_LOOKUP_ERRORS = ["SageMaker.SageMakerException", "SageMaker.ValidationException"]
RUN = "$.run"


def _retry_throttling(state: sfn.TaskStateBase | sfn.CustomState, service: str) -> None:
    state.add_retry(
        errors=THROTTLING[service], interval=Duration.seconds(5), max_attempts=4, backoff_rate=2, jitter_strategy=None
    )


class TrainingWorkflow(Construct):
    """The Step Functions state machine that retrains and redeploys the model."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        initiate: lambda_.IFunction,
        notify: lambda_.IFunction,
        training_build: codebuild.IProject,
        inference_build: codebuild.IProject,
        sagemaker_role: iam.IRole,
        artifacts_key: kms.IKey,
        name_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._stack = Stack.of(self)
        self._sagemaker_role = sagemaker_role
        self._failure = FailureRoute(self, "OnFailure", notify=notify)

        start = self._initiate(initiate)
        builds = self._build_images(training_build, inference_build)
        start.next(
            sfn.Choice(self, "SkipIfRunInProgress")
            .when(sfn.Condition.boolean_equals(f"{RUN}.skip", True), sfn.Succeed(self, "Skipped"))
            .otherwise(builds)
        )
        (
            builds.next(self._train(artifacts_key))
            .next(self._create_model())
            .next(self._create_endpoint_config())
            .next(self._deploy_endpoint(notify))
        )
        self._failure.protect_all(start)

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=retention(config.log_retention_days),
            removal_policy=RemovalPolicy.RETAIN if config.is_production else RemovalPolicy.DESTROY,
        )
        poll_budget = config.endpoint_poll_seconds * config.endpoint_max_polls
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            comment=f"Retrains and redeploys the fraud model ({config.name})",
            definition_body=sfn.DefinitionBody.from_chainable(start),
            logs=sfn.LogOptions(destination=self.log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
            timeout=Duration.seconds(config.training_max_runtime_seconds + poll_budget + 2 * 3600),
        )
        self._grant_sagemaker(name_prefix)

    # -- steps --------------------------------------------------------------------------------------

    def _initiate(self, initiate: lambda_.IFunction) -> tasks.LambdaInvoke:
        step = tasks.LambdaInvoke(
            self,
            "Initiate",
            lambda_function=initiate,
            payload=sfn.TaskInput.from_object(
                {
                    "input": sfn.JsonPath.entire_payload,
                    "execution": {
                        "id": sfn.JsonPath.string_at("$$.Execution.Id"),
                        "name": sfn.JsonPath.string_at("$$.Execution.Name"),
                        "start_time": sfn.JsonPath.string_at("$$.Execution.StartTime"),
                        "state_machine_arn": sfn.JsonPath.string_at("$$.StateMachine.Id"),
                    },
                }
            ),
            payload_response_only=True,
            result_path=RUN,
            retry_on_service_exceptions=False,
        )
        _retry_throttling(step, "lambda")
        return step

    def _build_images(self, training: codebuild.IProject, inference: codebuild.IProject) -> sfn.Parallel:
        parallel = sfn.Parallel(self, "BuildImages", result_path=sfn.JsonPath.DISCARD)
        parallel.branch(self._build_branch("Training", "training", training))
        parallel.branch(self._build_branch("Inference", "inference", inference))
        return parallel

    def _build_branch(self, label: str, key: str, project: codebuild.IProject) -> sfn.Choice:
        build = tasks.CodeBuildStartBuild(
            self,
            f"Build{label}Image",
            project=project,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            environment_variables_override={
                "IMAGE_TAG": codebuild.BuildEnvironmentVariable(
                    value=sfn.JsonPath.string_at(f"{RUN}.code.{key}.image_tag")
                )
            },
            result_selector={"build_id": sfn.JsonPath.string_at("$.Build.Id")},
        )
        _retry_throttling(build, "codebuild")
        return (
            sfn.Choice(self, f"Check{label}Image")
            .when(sfn.Condition.boolean_equals(f"{RUN}.code.{key}.build_needed", True), build)
            .otherwise(sfn.Pass(self, f"{label}ImageUpToDate"))
        )

    def _sagemaker_task(self, construct_id: str, action: str, state: dict[str, Any]) -> sfn.CustomState:
        step = sfn.CustomState(
            self,
            construct_id,
            state_json={"Type": "Task", "Resource": f"arn:{Aws.PARTITION}:states:::sagemaker:{action}", **state},
        )
        _retry_throttling(step, "sagemaker")
        return step

    def _train(self, artifacts_key: kms.IKey) -> sfn.CustomState:
        def channel(name: str) -> dict[str, Any]:
            return {
                "ChannelName": name,
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri.$": f"{RUN}.data.{name}_uri",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }

        return self._sagemaker_task(
            "Train",
            "createTrainingJob.sync",
            {
                "Parameters": {
                    "TrainingJobName.$": f"{RUN}.names.training_job",
                    "RoleArn": self._sagemaker_role.role_arn,
                    "AlgorithmSpecification": {
                        "TrainingImage.$": f"{RUN}.code.training.image_uri",
                        "TrainingInputMode": "File",
                        "MetricDefinitions": [dict(d) for d in METRIC_DEFINITIONS],
                    },
                    "HyperParameters.$": f"{RUN}.hyperparameters",
                    "InputDataConfig": [channel("train"), channel("validation")],
                    "OutputDataConfig": {"S3OutputPath.$": f"{RUN}.output_uri", "KmsKeyId": artifacts_key.key_arn},
                    "ResourceConfig": {
                        "InstanceType.$": f"{RUN}.settings.training_instance_type",
                        "InstanceCount.$": f"{RUN}.settings.training_instance_count",
                        "VolumeSizeInGB.$": f"{RUN}.settings.training_volume_gb",
                    },
                    "StoppingCondition": {"MaxRuntimeInSeconds.$": f"{RUN}.settings.max_runtime_seconds"},
                    "Environment": {
                        "DATA_VERSION.$": f"{RUN}.data.version",
                        "CODE_VERSION.$": f"{RUN}.code.version",
                        "RUN_ID.$": f"{RUN}.run_id",
                    },
                },
                "ResultSelector": {
                    "job_name.$": "$.TrainingJobName",
                    "model_artifacts.$": "$.ModelArtifacts.S3ModelArtifacts",
                    "metrics.$": "$.FinalMetricDataList",
                },
                "ResultPath": "$.training",
            },
        )

    def _create_model(self) -> sfn.CustomState:
        return self._sagemaker_task(
            "CreateModel",
            "createModel",
            {
                "Parameters": {
                    "ModelName.$": f"{RUN}.names.model",
                    "ExecutionRoleArn": self._sagemaker_role.role_arn,
                    "PrimaryContainer": {
                        "Image.$": f"{RUN}.code.inference.image_uri",
                        "ModelDataUrl.$": "$.training.model_artifacts",
                    },
                },
                "ResultSelector": {"model_arn.$": "$.ModelArn"},
                "ResultPath": "$.model",
            },
        )

    def _create_endpoint_config(self) -> sfn.CustomState:
        return self._sagemaker_task(
            "CreateEndpointConfig",
            "createEndpointConfig",
            {
                "Parameters": {
                    "EndpointConfigName.$": f"{RUN}.names.endpoint_config",
                    "ProductionVariants": [
                        {
                            "VariantName": "AllTraffic",
                            "ModelName.$": f"{RUN}.names.model",
                            "InstanceType.$": f"{RUN}.settings.endpoint_instance_type",
                            "InitialInstanceCount.$": f"{RUN}.settings.endpoint_initial_instance_count",
                        }
                    ],
                },
                "ResultPath": sfn.JsonPath.DISCARD,
            },
        )

    def _deploy_endpoint(self, notify: lambda_.IFunction) -> sfn.IChainable:
        """Create or update the endpoint, wait (bounded) for InService, verify the live config, notify."""
        config = self._config
        endpoint_parameters = {
            "EndpointName.$": f"{RUN}.names.endpoint",
            "EndpointConfigName.$": f"{RUN}.names.endpoint_config",
        }
        find = tasks.CallAwsService(
            self,
            "FindEndpoint",
            service="sagemaker",
            action="describeEndpoint",
            parameters={"EndpointName": sfn.JsonPath.string_at(f"{RUN}.names.endpoint")},
            iam_resources=[self._endpoint_arn()],
            result_selector={"status": sfn.JsonPath.string_at("$.EndpointStatus")},
            result_path="$.existing",
        )
        _retry_throttling(find, "sagemaker")
        create = self._sagemaker_task(
            "CreateEndpoint", "createEndpoint", {"Parameters": endpoint_parameters, "ResultPath": sfn.JsonPath.DISCARD}
        )
        update = self._sagemaker_task(
            "UpdateEndpoint", "updateEndpoint", {"Parameters": endpoint_parameters, "ResultPath": sfn.JsonPath.DISCARD}
        )
        missing = (
            sfn.Choice(self, "EndpointMissing")
            .when(sfn.Condition.string_matches("$.lookup.Cause", "*Could not find endpoint*"), create)
            .otherwise(
                self._failure.fail_with(
                    "FindEndpointError",
                    failed_state="FindEndpoint",
                    error=sfn.JsonPath.string_at("$.lookup.Error"),
                    cause=sfn.JsonPath.string_at("$.lookup.Cause"),
                )
            )
        )
        find.add_catch(missing, errors=ENDPOINT_LOOKUP_ERRORS, result_path="$.lookup")
        find.next(update)

        start_waiting = sfn.Pass(
            self, "StartWaiting", result=sfn.Result.from_object({"count": 0}), result_path="$.polls"
        )
        create.next(start_waiting)
        update.next(start_waiting)

        wait = sfn.Wait(
            self, "WaitForEndpoint", time=sfn.WaitTime.duration(Duration.seconds(config.endpoint_poll_seconds))
        )
        check = tasks.CallAwsService(
            self,
            "CheckEndpoint",
            service="sagemaker",
            action="describeEndpoint",
            parameters={"EndpointName": sfn.JsonPath.string_at(f"{RUN}.names.endpoint")},
            iam_resources=[self._endpoint_arn()],
            result_path="$.endpoint",
        )
        _retry_throttling(check, "sagemaker")
        count = sfn.Pass(
            self,
            "CountPoll",
            parameters={"count": sfn.JsonPath.math_add(sfn.JsonPath.number_at("$.polls.count"), 1)},
            result_path="$.polls",
        )

        notify_success = notify_step(self, "NotifySuccess", notify=notify, kind="success")
        _retry_throttling(notify_success, "lambda")
        notify_success.next(sfn.Succeed(self, "Deployed"))

        verify = (
            sfn.Choice(self, "VerifyLiveConfig")
            .when(
                sfn.Condition.string_equals_json_path("$.endpoint.EndpointConfigName", f"{RUN}.names.endpoint_config"),
                notify_success,
            )
            .otherwise(
                self._failure.fail_with(
                    "EndpointRolledBack",
                    failed_state="VerifyLiveConfig",
                    error="EndpointConfigMismatch",
                    cause=sfn.JsonPath.format(
                        "The endpoint is InService but serves config {} instead of the one this run deployed ({}); "
                        "SageMaker rolled the update back",
                        sfn.JsonPath.string_at("$.endpoint.EndpointConfigName"),
                        sfn.JsonPath.string_at(f"{RUN}.names.endpoint_config"),
                    ),
                )
            )
        )
        out_of_polls = self._failure.fail_with(
            "EndpointTimedOut",
            failed_state="WaitForEndpoint",
            error="EndpointTimeout",
            cause=f"The endpoint did not reach InService within {config.endpoint_max_polls} checks "
            f"{config.endpoint_poll_seconds} s apart",
        )
        budget = (
            sfn.Choice(self, "PollBudgetLeft")
            .when(sfn.Condition.number_greater_than_equals("$.polls.count", config.endpoint_max_polls), out_of_polls)
            .otherwise(wait)
        )
        status = (
            sfn.Choice(self, "EndpointStatus")
            .when(sfn.Condition.string_equals("$.endpoint.EndpointStatus", "InService"), verify)
            .when(
                sfn.Condition.string_equals("$.endpoint.EndpointStatus", "Failed"),
                self._failure.fail_with(
                    "EndpointFailed",
                    failed_state="CheckEndpoint",
                    error="EndpointFailed",
                    cause=sfn.JsonPath.string_at("$.endpoint.FailureReason"),
                ),
            )
            .otherwise(count)
        )
        start_waiting.next(wait)
        wait.next(check)
        check.next(status)
        count.next(budget)
        return find

    # -- IAM ------------------------------------------------------------------------------------------

    def grant_list_executions(self, role: iam.IRole) -> None:
        """Let ``role`` see this state machine's executions (the overlap guard).

        A policy of its own, not the role's default policy: the state machine depends
        on the function, so the function's role policy must not depend on the state machine.
        """
        policy = iam.Policy(
            self,
            "ListExecutions",
            statements=[
                iam.PolicyStatement(actions=["states:ListExecutions"], resources=[self.state_machine.state_machine_arn])
            ],
        )
        policy.attach_to_role(role)

    def _sagemaker_arn(self, resource: str, name: str) -> str:
        return self._stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

    def _endpoint_arn(self) -> str:
        return self._sagemaker_arn("endpoint", self._config.endpoint_name)

    def _grant_sagemaker(self, prefix: str) -> None:
        role = self.state_machine.role
        training_jobs = self._sagemaker_arn("training-job", f"{prefix}*")
        configs = self._sagemaker_arn("endpoint-config", f"{prefix}*")
        statements = [
            (
                ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
                [training_jobs],
            ),
            (["sagemaker:CreateModel"], [self._sagemaker_arn("model", f"{prefix}*")]),
            (["sagemaker:CreateEndpointConfig"], [configs]),
            (["sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"], [self._endpoint_arn(), configs]),
            # The .sync training integration watches the job through this AWS-managed rule.
            (
                ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                [
                    self._stack.format_arn(
                        service="events",
                        resource="rule",
                        resource_name="StepFunctionsGetEventsForSageMakerTrainingJobsRule",
                    )
                ],
            ),
        ]
        for actions, resources in statements:
            role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=resources))
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self._sagemaker_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
