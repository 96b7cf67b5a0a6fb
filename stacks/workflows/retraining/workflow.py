"""The retraining state machine: a new model version in the registry, never a deployment.

Start (Initiate; wait in line while another run is in progress) → build both images
(skipped when ECR has them) → train → find the champion and evaluate both models on the
same test data → gate → register the version (Approved, PendingManualApproval or Rejected)
→ notify. Deploying is the deployment state machine's job, started by the registry's
approval event. Any failure goes through :class:`FailureRoute`; retries follow
``stacks.components.task_retries``.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.workflows.retraining.build import build_images
from stacks.workflows.retraining.evaluate import evaluation_chain
from stacks.workflows.retraining.register import gate_and_register
from stacks.workflows.retraining.start import initiate_step, wait_in_line
from stacks.workflows.retraining.train import train_step
from stacks.workflows.shared.failure_route import FailureRoute
from stacks.workflows.shared.logged_state_machine import logged_state_machine


class RetrainingWorkflow(Construct):
    """The Step Functions state machine that retrains the model and registers the result."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        initiate: lambda_.IFunction,
        gate: lambda_.IFunction,
        notify: lambda_.IFunction,
        training_build: codebuild.IProject,
        inference_build: codebuild.IProject,
        sagemaker_role: iam.IRole,
        artifacts_key: kms.IKey,
        alert_topic: sns.ITopic,
        name_prefix: str,
        tracking_uri: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stack = Stack.of(self)
        self._sagemaker_role = sagemaker_role
        failure = FailureRoute(self, "OnFailure", notify=notify, topic=alert_topic, environment=config.name)
        group = config.model_package_group_name
        group_arn = self._arn("model-package-group", group)
        group_packages = self._arn("model-package", f"{group}/*")
        # The jobs name their MLflow experiment after the environment; they track only where a server exists.
        tracking = {"ENVIRONMENT": config.name, **({"MLFLOW_TRACKING_URI": tracking_uri} if tracking_uri else {})}

        start = initiate_step(self, initiate)
        builds = build_images(self, training_build, inference_build)
        wait_in_line(self, start, poll_seconds=config.queue_poll_seconds, then=builds)
        train = train_step(self, role=sagemaker_role, key=artifacts_key, environment=tracking)
        find_champion, evaluate = evaluation_chain(
            self,
            group_name=group,
            group_packages_arn=group_packages,
            role=sagemaker_role,
            key=artifacts_key,
            environment=tracking,
        )
        decide, notified = gate_and_register(
            self, gate=gate, notify=notify, group_name=group, group_arn=group_arn, group_packages_arn=group_packages
        )
        builds.next(train).next(find_champion)
        evaluate.next(decide)
        notified.next(sfn.Succeed(self, "Registered"))
        failure.protect_all(start)

        self.state_machine, self.log_group = logged_state_machine(
            self,
            config,
            start=start,
            comment=f"Retrains the fraud model and registers it as a new version ({config.name})",
            timeout=Duration.seconds(
                config.queue_max_wait_seconds
                + config.training_max_runtime_seconds
                + config.evaluation_max_runtime_seconds
                + 2 * 3600
            ),
        )
        self._grant_sagemaker(name_prefix)
        # The failure route's fallback publishes straight to the encrypted topic (sns:Publish + its key).
        alert_topic.grant_publish(self.state_machine)

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

    def _arn(self, resource: str, name: str) -> str:
        return self._stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

    def _grant_sagemaker(self, prefix: str) -> None:
        """The optimized SageMaker integrations' calls (the aws-sdk tasks grant their own)."""
        role = self.state_machine.role
        training_jobs = self._arn("training-job", f"{prefix}*")
        processing_jobs = self._arn("processing-job", f"{prefix}*")
        # createTrainingJob.sync / createProcessingJob.sync: Step Functions tags the job it starts
        # (MANAGED_BY_AWS) and reads the tags back, so it needs AddTags and ListTags besides the job
        # calls (Step Functions Developer Guide, "IAM policies for Amazon SageMaker"; aws-cdk#32294).
        for jobs, kind in ((training_jobs, "TrainingJob"), (processing_jobs, "ProcessingJob")):
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=[
                        f"sagemaker:Create{kind}",
                        f"sagemaker:Describe{kind}",
                        f"sagemaker:Stop{kind}",
                        "sagemaker:AddTags",
                        "sagemaker:ListTags",
                    ],
                    resources=[jobs],
                )
            )
        # The .sync integrations watch the jobs through these AWS-managed rules.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    self._stack.format_arn(service="events", resource="rule", resource_name=rule)
                    for rule in (
                        "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
                        "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
                    )
                ],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self._sagemaker_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
