"""The retraining pipeline: image builds, settings, Lambdas, the state machine and its triggers."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.components.base_image import resolve_base_image
from stacks.components.dashboard import PipelineDashboard
from stacks.components.endpoint_alarms import EndpointAlarms
from stacks.components.image_builds import ImageBuild
from stacks.components.log_retention import retention
from stacks.components.mlflow_tracking import MlflowTracking
from stacks.components.pipeline_settings import PipelineSettings
from stacks.components.python_function import PythonFunction
from stacks.components.retraining_triggers import DATA_PREFIX, RetrainingTriggers
from stacks.components.sagemaker_cleanup import SageMakerCleanup
from stacks.components.sagemaker_role import SageMakerExecutionRole
from stacks.components.source_bundle import INFERENCE_IMAGE_PATHS, TRAINING_IMAGE_PATHS
from stacks.config import EnvironmentConfig
from stacks.storage_stack import StorageStack
from stacks.workflows.batch import BatchWorkflow
from stacks.workflows.deployment import DeploymentWorkflow
from stacks.workflows.drift import DriftWorkflow
from stacks.workflows.retraining import RetrainingWorkflow


class PipelineStack(Stack):
    """Composes the pipeline's components and wires them together with grants."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, storage: StorageStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = RemovalPolicy.RETAIN if config.is_production else RemovalPolicy.DESTROY
        log_retention = retention(config.log_retention_days)
        name_prefix = f"fraud-{config.name}-"

        base_image = resolve_base_image(self, instance_type=config.training_instance_type)
        builds = {
            kind: ImageBuild(
                self,
                f"{kind.capitalize()}ImageBuild",
                kind=kind,
                source_paths=paths,
                repository=repository,
                base_image=base_image,
                key=storage.key,
                log_retention=log_retention,
                removal_policy=removal,
            )
            for kind, paths, repository in (
                ("training", TRAINING_IMAGE_PATHS, storage.training_repository),
                ("inference", INFERENCE_IMAGE_PATHS, storage.inference_repository),
            )
        }
        settings = PipelineSettings(self, "Settings", config=config)

        def function(construct_id: str, name: str, description: str, environment: dict[str, str]) -> PythonFunction:
            return PythonFunction(
                self,
                construct_id,
                name=name,
                description=description,
                environment={"ENVIRONMENT": config.name, "TOPIC_ARN": storage.topic.topic_arn, **environment},
                log_retention=log_retention,
                removal_policy=removal,
                powertools_layer_version=config.powertools_layer_version,
                timeout=Duration.seconds(60),
            )

        initiate = function(
            "Initiate",
            "initiate_pipeline",
            "Starts a retraining run: run id, data and code versions, settings; queues it behind a running one",
            {
                "DATA_BUCKET": storage.data_bucket.bucket_name,
                "DATA_PREFIX": DATA_PREFIX,
                "ARTIFACTS_BUCKET": storage.artifacts_bucket.bucket_name,
                "HYPERPARAMETERS_PARAMETER": settings.hyperparameters.parameter_name,
                "SETTINGS_PARAMETER": settings.settings.parameter_name,
                "TRAINING_REPOSITORY_URI": storage.training_repository.repository_uri,
                "INFERENCE_REPOSITORY_URI": storage.inference_repository.repository_uri,
                "TRAINING_SOURCE_HASH": builds["training"].source_hash,
                "INFERENCE_SOURCE_HASH": builds["inference"].source_hash,
                "ENDPOINT_NAME": config.endpoint_name,
                "NAME_PREFIX": name_prefix,
                "QUEUE_POLL_SECONDS": str(config.queue_poll_seconds),
                "QUEUE_MAX_WAIT_SECONDS": str(config.queue_max_wait_seconds),
            },
        )
        notify = function("Notify", "notify", "Formats pipeline notifications for people and publishes them", {})
        gate = function(
            "QualityGate",
            "quality_gate",
            "Decides on a retrained model from its evaluation report: approved, pending approval or rejected",
            {},
        )
        resolve = function(
            "ResolveDeployment",
            "resolve_deployment",
            "Decides what a registry approval or rejection deploys, skipping versions already live",
            {
                "MODEL_PACKAGE_GROUP": config.model_package_group_name,
                "ENDPOINT_NAME": config.endpoint_name,
                "SETTINGS_PARAMETER": settings.settings.parameter_name,
                "NAME_PREFIX": name_prefix,
            },
        )

        explain_rollback = function(
            "ExplainRollback",
            "explain_rollback",
            "Explains an endpoint update SageMaker rolled back, and rejects the version when an alarm fired",
            {"ENDPOINT_NAME": config.endpoint_name, "ALARM_NAMES": ",".join(config.endpoint_alarm_names.values())},
        )
        endpoint_alarms = EndpointAlarms(self, "EndpointAlarms", config=config, topic=storage.topic)

        sagemaker = SageMakerExecutionRole(
            self,
            "SageMakerExecution",
            data_bucket=storage.data_bucket,
            artifacts_bucket=storage.artifacts_bucket,
            repositories=[storage.training_repository, storage.inference_repository],
        )
        cleanup = SageMakerCleanup(
            self,
            "SageMakerCleanup",
            environment=config.name,
            name_prefix=name_prefix,
            endpoint_name=config.endpoint_name,
            keep_last_versions=config.keep_last_versions,
            log_retention=log_retention,
            removal_policy=removal,
            powertools_layer_version=config.powertools_layer_version,
        )
        self.tracking: MlflowTracking | None = None
        if config.mlflow_tracking_server:
            # Bills by the hour while it exists, so it is off unless cdk.json turns it on.
            self.tracking = MlflowTracking(
                self,
                "MlflowTracking",
                environment=config.name,
                artifacts_bucket=storage.artifacts_bucket,
                key=storage.key,
            )
            self.tracking.grant_tracking(sagemaker.role)
        self.workflow = RetrainingWorkflow(
            self,
            "Workflow",
            config=config,
            initiate=initiate.function,
            gate=gate.function,
            notify=notify.function,
            training_build=builds["training"].project,
            inference_build=builds["inference"].project,
            sagemaker_role=sagemaker.role,
            artifacts_key=storage.key,
            alert_topic=storage.topic,
            name_prefix=name_prefix,
            tracking_uri=self.tracking.tracking_server_arn if self.tracking else None,
        )
        self.deployment = DeploymentWorkflow(
            self,
            "Deployment",
            config=config,
            resolve=resolve.function,
            notify=notify.function,
            clean_up=cleanup.prune.function,
            explain_rollback=explain_rollback.function,
            sagemaker_role=sagemaker.role,
            alert_topic=storage.topic,
            name_prefix=name_prefix,
            capture_bucket=storage.artifacts_bucket,
            capture_key=storage.key,
        )
        # On deletion, CloudFormation deletes the state machines (their executions stop at their next
        # transition) before the teardown deletes what they created.
        for machine in (self.workflow.state_machine, self.deployment.state_machine):
            machine.node.add_dependency(cleanup.resource)
        RetrainingTriggers(
            self,
            "Triggers",
            state_machine=self.workflow.state_machine,
            data_bucket=storage.data_bucket,
            schedule=config.schedule,
        )
        # -- Drift (issue 11): the scheduled drift job; drift starts a rate-limited retraining run. --
        self.drift = DriftWorkflow(
            self,
            "Drift",
            config=config,
            notify=notify.function,
            retraining=self.workflow.state_machine,
            sagemaker_role=sagemaker.role,
            artifacts_bucket=storage.artifacts_bucket,
            data_bucket=storage.data_bucket,
            key=storage.key,
            alert_topic=storage.topic,
            training_repository=storage.training_repository,
            training_source_hash=builds["training"].source_hash,
            name_prefix=name_prefix,
        )
        # Deleted before the teardown too: a drift run left going could start a retraining run.
        self.drift.state_machine.node.add_dependency(cleanup.resource)
        CfnOutput(
            self,
            "DriftStateMachineArn",
            value=self.drift.state_machine.state_machine_arn,
            description="The drift check (scheduled where configured); start it by hand here",
        )
        # -- end Drift --
        # -- Batch (issue 11): batch/incoming/<name>/_SUCCESS → batch transform with the latest Approved version. --
        self.batch = BatchWorkflow(
            self,
            "Batch",
            config=config,
            notify=notify.function,
            sagemaker_role=sagemaker.role,
            data_bucket=storage.data_bucket,
            key=storage.key,
            alert_topic=storage.topic,
            name_prefix=name_prefix,
        )
        # Deleted before the teardown, like the others: no batch run starts once the stack is going.
        self.batch.state_machine.node.add_dependency(cleanup.resource)
        CfnOutput(
            self,
            "BatchStateMachineArn",
            value=self.batch.state_machine.state_machine_arn,
            description="Scores batches uploaded under batch/incoming/<name>/ (started by their _SUCCESS marker)",
        )
        # -- end Batch --

        # Grants: each function gets exactly what its code calls.
        for fn in (initiate, notify):
            storage.topic.grant_publish(fn.role)
        # The gate reads the evaluation report the evaluation job wrote.
        storage.artifacts_bucket.grant_read(gate.role, "evaluations/*")
        self._grant_resolve(resolve, config, name_prefix)
        self._grant_rollback(explain_rollback, endpoint_alarms, sagemaker.role, config)
        settings.settings.grant_read(resolve.role)
        storage.data_bucket.grant_read(initiate.role, f"{DATA_PREFIX}*")
        settings.hyperparameters.grant_read(initiate.role)
        settings.settings.grant_read(initiate.role)
        for repository in (storage.training_repository, storage.inference_repository):
            repository.grant(initiate.role, "ecr:DescribeImages")
        # A separate policy (not the role's default one) avoids a cycle: the state machine
        # depends on the function, and this grant depends on the state machine.
        self.workflow.grant_list_executions(initiate.role)
        self.initiate = initiate
        self.notify = notify
        self.gate = gate
        self.resolve_deployment = resolve
        self.explain_rollback = explain_rollback
        self.endpoint_alarms = endpoint_alarms
        self.cleanup = cleanup
        self.builds = builds
        self.settings = settings
        # The environment's dashboard. Here, not in the Inference stack, so that it needs no cross-stack
        # reference: the state machines and alarms are in this stack, the endpoint and API go by name.
        self.dashboard = PipelineDashboard(
            self,
            "Dashboard",
            config=config,
            state_machines=[
                ("Retraining", self.workflow.state_machine),
                ("Deployment", self.deployment.state_machine),
                ("Batch", self.batch.state_machine),
                ("Drift", self.drift.state_machine),
            ],
            endpoint_name=config.endpoint_name,
            api_name=config.api_name,
            alarms=endpoint_alarms.alarms,
        )
        CfnOutput(self, "DashboardUrl", value=self.dashboard.url, description="The environment's CloudWatch dashboard")
        self._outputs(config, storage)

    def _grant_resolve(self, resolve: PythonFunction, config: EnvironmentConfig, name_prefix: str) -> None:
        """What ``resolve_deployment`` reads: the registry and what the endpoint serves."""

        def arn(resource: str, name: str) -> str:
            return self.format_arn(service="sagemaker", resource=resource, resource_name=name)

        for actions, resources in (
            # ListModelPackages authorizes on "*" only (Service Authorization Reference, Amazon SageMaker).
            (["sagemaker:ListModelPackages"], ["*"]),
            (["sagemaker:DescribeModelPackage"], [arn("model-package", f"{config.model_package_group_name}/*")]),
            (["sagemaker:DescribeEndpoint"], [arn("endpoint", config.endpoint_name)]),
            (["sagemaker:DescribeEndpointConfig"], [arn("endpoint-config", f"{name_prefix}*")]),
            (["sagemaker:DescribeModel"], [arn("model", f"{name_prefix}*")]),
        ):
            resolve.role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=resources))

    def _grant_rollback(
        self, explain: PythonFunction, alarms: EndpointAlarms, sagemaker_role: iam.IRole, config: EnvironmentConfig
    ) -> None:
        """SageMaker reads the rollback alarms during a rollout; ``explain_rollback`` reads them and the metrics."""
        # Deployment guardrails need the execution role to describe the auto-rollback alarms (SageMaker
        # Developer Guide, "Auto-Rollback Configuration and Monitoring").
        sagemaker_role.add_to_principal_policy(
            iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=alarms.alarm_arns)
        )
        explain.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["cloudwatch:DescribeAlarms"], resources=alarms.alarm_arns)
        )
        # GetMetricStatistics authorizes on "*" only (Service Authorization Reference, Amazon CloudWatch).
        explain.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["cloudwatch:GetMetricStatistics"], resources=["*"])
        )
        packages = self.format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{config.model_package_group_name}/*"
        )
        explain.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sagemaker:UpdateModelPackage"], resources=[packages])
        )

    def _outputs(self, config: EnvironmentConfig, storage: StorageStack) -> None:
        """What the README's commands read with ``aws cloudformation describe-stacks``."""
        for key, value, description in (
            ("DataBucket", storage.data_bucket.bucket_name, "Upload datasets under incoming/ here"),
            ("StateMachineArn", self.workflow.state_machine.state_machine_arn, "Start a run by hand here"),
            ("AlertTopicArn", storage.topic.topic_arn, "Run and alarm notifications"),
            (
                "HyperparametersParameter",
                self.settings.hyperparameters.parameter_name,
                "SSM parameter: training hyperparameters (a deploy that changes them in cdk.json overwrites edits)",
            ),
            (
                "RunSettingsParameter",
                self.settings.settings.parameter_name,
                "SSM parameter: run settings (a deploy that changes them in cdk.json overwrites edits)",
            ),
            (
                "DeploymentStateMachineArn",
                self.deployment.state_machine.state_machine_arn,
                "Deploys approved model versions (started by the registry's approval events)",
            ),
            ("ModelPackageGroupName", storage.model_package_group_name, "The model registry: one version per run"),
            ("EndpointName", config.endpoint_name, "The SageMaker endpoint approved versions deploy to"),
        ):
            CfnOutput(self, key, value=value, description=description)
