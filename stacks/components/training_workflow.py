"""The retraining state machine, built from small named steps.

Initiate → (wait in line while a run is in progress) → build both images in parallel
(each skipped when ECR already has its source-hash tag) → train → create the
model and the endpoint config → deploy it (``EndpointDeployment``: create,
update or replace the endpoint by its status, wait until InService, check
that the live config is this run's, then delete models and endpoint configs older
than the last N, a step whose failure is reported but never fails the run) → notify.
Any failure goes through
:class:`FailureRoute`; retries follow ``stacks.components.task_retries``.

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
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.endpoint_deployment import EndpointDeployment
from stacks.components.failure_route import FailureRoute
from stacks.components.log_retention import retention
from stacks.components.task_retries import retry_transient
from stacks.config import EnvironmentConfig
from training.metrics_contract import METRIC_DEFINITIONS

RUN = "$.run"


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
        clean_up: lambda_.IFunction,
        training_build: codebuild.IProject,
        inference_build: codebuild.IProject,
        sagemaker_role: iam.IRole,
        artifacts_key: kms.IKey,
        alert_topic: sns.ITopic,
        name_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._stack = Stack.of(self)
        self._sagemaker_role = sagemaker_role
        self._failure = FailureRoute(self, "OnFailure", notify=notify, topic=alert_topic, environment=config.name)

        start = self._initiate(initiate)
        builds = self._build_images(training_build, inference_build)
        # One run at a time: Initiate answers "queued" while an earlier run is in progress,
        # and is asked again after a wait (lambdas/initiate_pipeline/queue.py).
        wait_in_line = sfn.Wait(
            self, "WaitInLine", time=sfn.WaitTime.duration(Duration.seconds(config.queue_poll_seconds))
        )
        start.next(
            sfn.Choice(self, "WaitIfRunInProgress")
            .when(sfn.Condition.boolean_equals(f"{RUN}.queued", True), wait_in_line.next(start))
            .otherwise(builds)
        )
        (
            builds.next(self._train(artifacts_key))
            .next(self._create_model())
            .next(self._create_endpoint_config())
            .next(self._deploy_endpoint(notify, clean_up))
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
            timeout=Duration.seconds(
                config.queue_max_wait_seconds + config.training_max_runtime_seconds + poll_budget + 2 * 3600
            ),
        )
        self._grant_sagemaker(name_prefix)
        # The failure route's fallback publishes straight to the encrypted topic (sns:Publish + its key).
        alert_topic.grant_publish(self.state_machine)

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
        retry_transient(step, "lambda")
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
        retry_transient(build, "codebuild")
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
        retry_transient(step, "sagemaker")
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
                # Only fields a Completed job always has: a path to an absent field (such as
                # FinalMetricDataList when the job emitted no metric) is a States.Runtime error,
                # which no Catch can handle. The notify Lambda reads the metrics itself.
                "ResultSelector": {
                    "job_name.$": "$.TrainingJobName",
                    "model_artifacts.$": "$.ModelArtifacts.S3ModelArtifacts",
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

    def _deploy_endpoint(self, notify: lambda_.IFunction, clean_up: lambda_.IFunction) -> sfn.IChainable:
        config = self._config
        return EndpointDeployment(
            self,
            "Deploy",
            failure=self._failure,
            notify=notify,
            clean_up=clean_up,
            endpoint_arn=self._endpoint_arn(),
            sagemaker_task=self._sagemaker_task,
            poll_seconds=config.endpoint_poll_seconds,
            max_polls=config.endpoint_max_polls,
        ).start

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
        models = self._sagemaker_arn("model", f"{prefix}*")
        statements = [
            # createTrainingJob.sync: Step Functions tags the job it starts (MANAGED_BY_AWS) and
            # reads the tags back, so it needs AddTags and ListTags besides the job calls
            # (Step Functions Developer Guide, "IAM policies for Amazon SageMaker"; aws-cdk#32294).
            (
                [
                    "sagemaker:CreateTrainingJob",
                    "sagemaker:DescribeTrainingJob",
                    "sagemaker:StopTrainingJob",
                    "sagemaker:AddTags",
                ],
                [training_jobs],
            ),
            # Every SageMaker integration reads the tags of what it created or updated.
            (["sagemaker:ListTags"], [training_jobs, models, configs, self._endpoint_arn()]),
            (["sagemaker:CreateModel"], [models]),
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
