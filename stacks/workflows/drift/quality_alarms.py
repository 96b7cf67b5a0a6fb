"""Alarms on live model quality, measured where labels arrived (ground truth).

The drift job publishes ``LiveRocAuc`` and ``LivePrAuc`` (namespace ``config.drift_metrics_namespace``,
dimension ``Environment``) when it could join labels with captured predictions. Each alarm fires when
its metric falls below the quality gate's floor for that metric, the same floor a retrained model must
clear to be registered. The job runs about once a day, so a period of one day keeps its one data point
in view until the next run; where no labels arrived there is no data point, which is not a breach
(CloudWatch User Guide, "Configuring how CloudWatch alarms treat missing data").
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import EnvironmentConfig

#: The drift job's cadence (``rate(1 day)`` in stage, a daily cron in prod).
PERIOD = Duration.days(1)


class LiveQualityAlarms(Construct):
    """One alarm per quality floor: ``LiveRocAuc`` below ``min_roc_auc``, ``LivePrAuc`` below ``min_pr_auc``."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        gate = config.quality_gate
        action = cloudwatch_actions.SnsAction(topic)
        self.alarms: list[cloudwatch.Alarm] = []
        for construct, metric_name, label, floor in (
            ("RocAuc", "LiveRocAuc", "ROC-AUC", gate.min_roc_auc),
            ("PrAuc", "LivePrAuc", "PR-AUC", gate.min_pr_auc),
        ):
            alarm = cloudwatch.Alarm(
                self,
                construct,
                alarm_description=(
                    f"{config.name}: the live model's {label} on labelled captured requests fell below the quality "
                    f"gate's floor of {floor:g}. The drift job's report (drift-reports/ in the artifacts bucket) "
                    "says which window and version."
                ),
                metric=cloudwatch.Metric(
                    namespace=config.drift_metrics_namespace,
                    metric_name=metric_name,
                    dimensions_map={"Environment": config.name},
                    statistic="Minimum",
                    period=PERIOD,
                ),
                threshold=floor,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            self.alarms.append(alarm)
