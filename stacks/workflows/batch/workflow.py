"""The batch state machine: score a complete batch of rows with the latest Approved version.

Started by EventBridge when ``batch/incoming/<name>/_SUCCESS`` is created in the data bucket
(S3 "Object Created" events, which the bucket sends to EventBridge). PrepareBatch (names and
locations, or a failure naming a bad batch name) → the newest Approved version → CreateModel
from it → ``createTransformJob.sync`` → count the output → notify → delete the model. Any
failure goes through :class:`FailureRoute`, as in the other state machines; retries follow
``stacks.components.task_retries``.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.batch_scoring.prepare import COMPLETION_MARKER, INCOMING_PREFIX, NAME_PART, OUTPUT_PREFIX
from stacks.components.log_retention import retention
from stacks.components.python_function import PythonFunction
from stacks.config import EnvironmentConfig
from stacks.monitoring_config import MAX_TRANSFORM_PAYLOAD_MB
from stacks.workflows.batch.steps import (
    create_model,
    delete_model,
    delete_model_on_failure,
    find_version,
    notify_scored,
    state_machine_timeout,
    summarize,
    transform,
)
from stacks.workflows.shared.execution_step import execution_step
from stacks.workflows.shared.failure_route import FailureRoute
from stacks.workflows.shared.logged_state_machine import logged_state_machine

#: The batch completion marker, as an EventBridge wildcard on the object key (it never matches ``incoming/``).
BATCH_MARKER_WILDCARD = f"{INCOMING_PREFIX}*/{COMPLETION_MARKER}"
#: The managed rule through which ``createTransformJob.sync`` learns that the job ended.
TRANSFORM_EVENTS_RULE = "StepFunctionsGetEventsForSageMakerTransformJobsRule"
#: A 100,000-row batch is read in seconds; a million-row one in well under this.
SUMMARY_TIMEOUT = Duration.minutes(5)


class BatchWorkflow(Construct):
    """The batch state machine, its two Lambda steps, and the rule that starts it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        notify: lambda_.IFunction,
        sagemaker_role: iam.IRole,
        data_bucket: s3.IBucket,
        key: kms.IKey,
        alert_topic: sns.ITopic,
        name_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        batch = config.batch
        if batch.max_payload_mb * batch.max_concurrent_transforms > MAX_TRANSFORM_PAYLOAD_MB:
            # SageMaker API Reference, CreateTransformJob MaxPayloadInMB.
            raise ValueError(
                f"{config.name}: batch.max_payload_mb ({batch.max_payload_mb}) x batch.max_concurrent_transforms "
                f"({batch.max_concurrent_transforms}) exceeds the {MAX_TRANSFORM_PAYLOAD_MB} MB SageMaker allows"
            )
        self._stack = Stack.of(self)
        removal = RemovalPolicy.RETAIN if config.is_production else RemovalPolicy.DESTROY
        self.prepare, self.summary = self._functions(config, data_bucket, name_prefix, removal)
        names = f"{name_prefix}{NAME_PART}*"
        self._models, self._jobs = self._arn("model", names), self._arn("transform-job", names)
        group = config.model_package_group_name

        failure = FailureRoute(self, "OnFailure", notify=notify, topic=alert_topic, environment=config.name)
        start = execution_step(self, "PrepareBatch", function=self.prepare.function, input_key="event")
        model = create_model(self, sagemaker_role)
        job = transform(self, batch, key)
        count = summarize(self, self.summary.function)
        notified = notify_scored(self, notify)
        start.next(
            find_version(
                self,
                environment=config.name,
                group_name=group,
                group_packages_arn=self._arn("model-package", f"{group}/*"),
                failure=failure,
                then=model,
            )
        )
        model.next(job).next(count).next(notified)
        notified.next(delete_model(self, "DeleteBatchModel", self._models)).next(sfn.Succeed(self, "BatchScored"))
        delete_model_on_failure(self, steps=[job, count, notified], failure=failure, models_arn=self._models)
        failure.protect_all(start)

        self.state_machine, self.log_group = logged_state_machine(
            self,
            config,
            start=start,
            comment=f"Scores batches under {INCOMING_PREFIX} with the latest Approved fraud model ({config.name})",
            timeout=state_machine_timeout(batch),
        )
        self._grant(sagemaker_role, data_bucket)
        alert_topic.grant_publish(self.state_machine)
        self.rule = self._trigger(data_bucket)

    def _functions(
        self, config: EnvironmentConfig, data_bucket: s3.IBucket, name_prefix: str, removal: RemovalPolicy
    ) -> tuple[PythonFunction, PythonFunction]:
        def function(construct_id: str, handler: str, description: str, timeout: Duration) -> PythonFunction:
            return PythonFunction(
                self,
                construct_id,
                name="batch_scoring",
                handler=handler,
                description=description,
                environment={
                    "ENVIRONMENT": config.name,
                    "DATA_BUCKET": data_bucket.bucket_name,
                    "NAME_PREFIX": name_prefix,
                },
                log_retention=retention(config.log_retention_days),
                removal_policy=removal,
                powertools_layer_version=config.powertools_layer_version,
                timeout=timeout,
                memory_size=512 if handler == "summary_handler" else 256,
            )

        prepare = function(
            "Prepare",
            "prepare_handler",
            "Names a batch run from its completion marker, refusing names SageMaker cannot use",
            Duration.seconds(30),
        )
        summary = function(
            "Summarize",
            "summary_handler",
            "Counts a batch transform's output rows, bad rows and rows flagged as fraud",
            SUMMARY_TIMEOUT,
        )
        # The summary lists the batch's input files and reads their outputs; the prepare step reads nothing.
        data_bucket.grant_read(summary.role, f"{OUTPUT_PREFIX}*")
        return prepare, summary

    def _arn(self, resource: str, name: str) -> str:
        return self._stack.format_arn(service="sagemaker", resource=resource, resource_name=name)

    def _grant(self, sagemaker_role: iam.IRole, data_bucket: s3.IBucket) -> None:
        """The optimized integrations' calls (the aws-sdk and Lambda tasks grant their own), and the job's output."""
        role = self.state_machine.role
        # createModel reads the new model's tags; createTransformJob.sync also tags the job it starts
        # (MANAGED_BY_AWS), polls it, and stops it when the execution stops (Step Functions Developer
        # Guide, "IAM policies for Amazon SageMaker AI"; aws-cdk#32294).
        for actions, resources in (
            (["sagemaker:CreateModel", "sagemaker:ListTags"], [self._models]),
            (
                [
                    "sagemaker:CreateTransformJob",
                    "sagemaker:DescribeTransformJob",
                    "sagemaker:StopTransformJob",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",
                ],
                [self._jobs],
            ),
            (
                ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                [self._stack.format_arn(service="events", resource="rule", resource_name=TRANSFORM_EVENTS_RULE)],
            ),
        ):
            role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=resources))
        # CreateModel passes the execution role (CreateTransformJob passes none: the model carries it).
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[sagemaker_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )
        # The transform runs as the execution role: it reads the batch (the role reads the whole data
        # bucket already) and writes the scores, encrypted with the key, under batch/output/ only.
        data_bucket.grant_put(sagemaker_role, f"{OUTPUT_PREFIX}*")

    def _trigger(self, data_bucket: s3.IBucket) -> events.Rule:
        return events.Rule(
            self,
            "OnBatchComplete",
            description=f"Score a batch when it is complete: {INCOMING_PREFIX}<name>/{COMPLETION_MARKER} is created",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [data_bucket.bucket_name]},
                    # Only the marker, uploaded last ("wildcard" filter, EventBridge User Guide,
                    # "Content filtering in event patterns"); a wildcard matches the whole key.
                    "object": {"key": events.Match.wildcard(BATCH_MARKER_WILDCARD)},
                },
            ),
            targets=[
                targets.SfnStateMachine(
                    self.state_machine,
                    input=events.RuleTargetInput.from_object(
                        {
                            "bucket": events.EventField.from_path("$.detail.bucket.name"),
                            "object_key": events.EventField.from_path("$.detail.object.key"),
                        }
                    ),
                )
            ],
        )
