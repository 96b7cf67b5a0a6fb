"""The drift state machine: compare what the endpoint sees with what the model was trained on.

Schedule (``config.drift.schedule``; none in dev, where it is started by hand) → PrepareDrift
(the live version, the window, is there anything to examine?) → DriftJob (a Processing job
running ``training.monitor``: PSI and a two-sample test per feature and for the predicted
probability, live quality where labels arrived; JSON and HTML reports, CloudWatch metrics) →
DecideDrift (drift beyond tolerance starts a retraining run, ``trigger: drift``, at most one per
cool-down) → NotifyDrift. With nothing to examine (no live version, nothing captured) it
notifies "insufficient data" and succeeds: too little data is never reported as "no drift".
Any failure goes through :class:`FailureRoute`; retries follow ``stacks.components.task_retries``.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.workflows.drift.functions import drift_functions
from stacks.workflows.drift.grants import grant_decide, grant_job, grant_prepare, grant_state_machine
from stacks.workflows.drift.job import choose_inputs, drift_job
from stacks.workflows.drift.quality_alarms import LiveQualityAlarms
from stacks.workflows.drift.steps import decide_step, examine_or_report, notify_drift, prepare_step
from stacks.workflows.shared.failure_route import FailureRoute
from stacks.workflows.shared.logged_state_machine import logged_state_machine

#: Besides the job's own limit: the two Lambdas, the notification and the job's start and upload.
OVERHEAD = Duration.hours(1)


class DriftWorkflow(Construct):
    """The drift state machine, its two Lambdas, its schedule and the live-quality alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        notify: lambda_.IFunction,
        retraining: sfn.IStateMachine,
        sagemaker_role: iam.IRole,
        artifacts_bucket: s3.IBucket,
        data_bucket: s3.IBucket,
        key: kms.IKey,
        alert_topic: sns.ITopic,
        training_repository: ecr.IRepository,
        training_source_hash: str,
        name_prefix: str,
    ) -> None:
        super().__init__(scope, construct_id)
        #: Every drift job is ``<prefix>drift-<yyyymmddHHMMSS>``; IAM is scoped to this prefix.
        self.jobs_prefix = f"{name_prefix}drift-"
        self.prepare, self.decide = drift_functions(
            self,
            config=config,
            retraining=retraining,
            artifacts_bucket=artifacts_bucket,
            data_bucket=data_bucket,
            training_repository=training_repository,
            training_source_hash=training_source_hash,
            name_prefix=name_prefix,
        )

        failure = FailureRoute(self, "OnFailure", notify=notify, topic=alert_topic, environment=config.name)
        start = prepare_step(self, self.prepare.function)
        notified = notify_drift(self, notify)
        job = drift_job(self, config=config, role=sagemaker_role, key=key)
        job.next(decide_step(self, self.decide.function)).next(notified)
        start.next(examine_or_report(self, examine=choose_inputs(self, then=job), notify=notified))
        notified.next(sfn.Succeed(self, "DriftChecked"))
        failure.protect_all(start)

        self.state_machine, self.log_group = logged_state_machine(
            self,
            config,
            start=start,
            comment=f"Compares live traffic with the training baseline; drift starts a retraining run ({config.name})",
            timeout=Duration.seconds(config.drift.max_runtime_seconds).plus(OVERHEAD),
        )
        grant_state_machine(self.state_machine, jobs_prefix=self.jobs_prefix, sagemaker_role=sagemaker_role)
        # The failure route's fallback publishes straight to the encrypted topic (sns:Publish + its key).
        alert_topic.grant_publish(self.state_machine)
        grant_prepare(
            self.prepare.role,
            config=config,
            name_prefix=name_prefix,
            buckets=[artifacts_bucket, data_bucket],
            training_repository=training_repository,
        )
        grant_decide(self.decide.role, artifacts_bucket=artifacts_bucket, retraining=retraining)
        grant_job(sagemaker_role, config=config, artifacts_bucket=artifacts_bucket, data_bucket=data_bucket)

        self.schedule = self._schedule(config)
        self.quality_alarms = LiveQualityAlarms(self, "LiveQuality", config=config, topic=alert_topic)

    def _schedule(self, config: EnvironmentConfig) -> events.Rule | None:
        """The rule that starts a drift check on ``config.drift.schedule``; none when it is null (dev)."""
        if config.drift.schedule is None:
            return None
        return events.Rule(
            self,
            "Schedule",
            description=f"Drift check of {config.endpoint_name}: {config.drift.schedule}",
            schedule=events.Schedule.expression(config.drift.schedule),
            targets=[
                targets.SfnStateMachine(
                    self.state_machine, input=events.RuleTargetInput.from_object({"trigger": "schedule"})
                )
            ],
        )
