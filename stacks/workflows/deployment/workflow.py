"""The deployment state machine: put an approved model version live, or roll back from a rejected one.

Started by the registry: EventBridge's "SageMaker Model Package State Change" event for this
environment's group with status Approved or Rejected (SageMaker Developer Guide, "Events that
Amazon SageMaker sends to Amazon EventBridge"). Resolve the version (idempotent: a version
already live is skipped) → CreateModel from the package → endpoint config (with data capture) →
create, update or replace the endpoint by its status, wait, verify the live config, clean up old
versions → notify. Any failure goes through :class:`FailureRoute`, as in the retraining state machine.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.components.data_capture import capture_destination, data_capture_config
from stacks.config import EnvironmentConfig
from stacks.workflows.deployment.endpoint import EndpointDeployment
from stacks.workflows.deployment.model import create_endpoint_config, create_model
from stacks.workflows.deployment.resolve import deploy_or_skip, resolve_step
from stacks.workflows.deployment.scaling import grant_scaling
from stacks.workflows.shared.failure_route import FailureRoute
from stacks.workflows.shared.logged_state_machine import logged_state_machine

#: The registry statuses that change what should serve.
DEPLOYMENT_STATUSES = ["Approved", "Rejected"]


class DeploymentWorkflow(Construct):
    """The state machine that deploys approved versions, and the rule that starts it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        resolve: lambda_.IFunction,
        notify: lambda_.IFunction,
        clean_up: lambda_.IFunction,
        explain_rollback: lambda_.IFunction,
        sagemaker_role: iam.IRole,
        alert_topic: sns.ITopic,
        name_prefix: str,
        capture_bucket: s3.IBucket,
        capture_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stack = Stack.of(self)
        self._sagemaker_role = sagemaker_role
        failure = FailureRoute(self, "OnFailure", notify=notify, topic=alert_topic, environment=config.name)
        endpoint_arn = self._arn("endpoint", config.endpoint_name)
        configs_arn = self._arn("endpoint-config", f"{name_prefix}*")
        endpoint = EndpointDeployment(
            self,
            "Endpoint",
            config=config,
            failure=failure,
            notify=notify,
            clean_up=clean_up,
            explain_rollback=explain_rollback,
            endpoint_arn=endpoint_arn,
            configs_arn=configs_arn,
        )
        model = create_model(self, sagemaker_role)
        # SageMaker writes the captures as the execution role (which may write the bucket with the key); the
        # caller of CreateEndpointConfig needs no KMS permission for DataCaptureConfig.KmsKeyId.
        capture = data_capture_config(
            sampling_percentage=config.data_capture.sampling_percentage,
            destination=capture_destination(capture_bucket),
            key_arn=capture_key.key_arn,
        )
        model.next(create_endpoint_config(self, data_capture=capture)).next(endpoint.start)
        start = resolve_step(self, resolve)
        start.next(deploy_or_skip(self, notify=notify, deploy=model))
        failure.protect_all(start)

        poll_budget = config.endpoint_poll_seconds * config.endpoint_max_polls
        self.state_machine, self.log_group = logged_state_machine(
            self,
            config,
            start=start,
            comment=f"Deploys approved fraud model versions to the endpoint ({config.name})",
            # The lookup loop and the wait loop each have the poll budget.
            timeout=Duration.seconds(2 * poll_budget + 3600),
        )
        self._grant_sagemaker(name_prefix, endpoint_arn)
        if config.autoscaling:
            grant_scaling(self.state_machine.role, config, endpoint_arn=endpoint_arn, configs_arn=configs_arn)
        alert_topic.grant_publish(self.state_machine)
        self.rule = events.Rule(
            self,
            "OnApprovalChange",
            description=f"Deploy a version of {config.model_package_group_name} when it is approved, "
            "roll back when the live one is rejected",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=["SageMaker Model Package State Change"],
                detail={
                    "ModelPackageGroupName": [config.model_package_group_name],
                    "ModelApprovalStatus": DEPLOYMENT_STATUSES,
                },
            ),
            targets=[targets.SfnStateMachine(self.state_machine)],
        )

    def _arn(self, resource: str, name: str) -> str:
        return self._stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

    def _grant_sagemaker(self, prefix: str, endpoint_arn: str) -> None:
        """The optimized SageMaker integrations' calls (the aws-sdk tasks grant their own)."""
        role = self.state_machine.role
        configs = self._arn("endpoint-config", f"{prefix}*")
        models = self._arn("model", f"{prefix}*")
        for actions, resources in (
            # Every SageMaker integration reads the tags of what it created or updated.
            (["sagemaker:ListTags"], [models, configs, endpoint_arn]),
            (["sagemaker:CreateModel"], [models]),
            (["sagemaker:CreateEndpointConfig"], [configs]),
            (["sagemaker:CreateEndpoint"], [endpoint_arn, configs]),
        ):
            role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=resources))
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self._sagemaker_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
