"""What starts a run: a schedule, and new training data landing under ``incoming/``."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.initiate_pipeline.datasets import COMPLETION_MARKER

DATA_PREFIX = "incoming/"


class RetrainingTriggers(Construct):
    """EventBridge rules that start the state machine with an input saying why."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.IStateMachine,
        data_bucket: s3.IBucket,
        schedule: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.new_data = events.Rule(
            self,
            "NewTrainingData",
            description=f"Retrain when a dataset is complete: {DATA_PREFIX}<dataset>/{COMPLETION_MARKER} is created",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [data_bucket.bucket_name]},
                    # Only the marker: the data files before it must not start a run
                    # ("wildcard" filter, EventBridge User Guide, "Content filtering in event patterns").
                    "object": {"key": events.Match.wildcard(f"{DATA_PREFIX}*/{COMPLETION_MARKER}")},
                },
            ),
            targets=[
                targets.SfnStateMachine(
                    state_machine,
                    input=events.RuleTargetInput.from_object(
                        {
                            "trigger": "s3",
                            "reason": "new training data",
                            "bucket": events.EventField.from_path("$.detail.bucket.name"),
                            "object_key": events.EventField.from_path("$.detail.object.key"),
                        }
                    ),
                )
            ],
        )
        self.schedule: events.Rule | None = None
        if schedule is not None:
            self.schedule = events.Rule(
                self,
                "Schedule",
                description=f"Scheduled retraining: {schedule}",
                schedule=events.Schedule.expression(schedule),
                targets=[
                    targets.SfnStateMachine(
                        state_machine,
                        input=events.RuleTargetInput.from_object(
                            {"trigger": "schedule", "reason": f"scheduled retraining ({schedule})"}
                        ),
                    )
                ],
            )
