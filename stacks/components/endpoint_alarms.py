"""The endpoint's CloudWatch alarms: they notify the topic, and they roll a deployment back.

SageMaker watches the alarms named in an update's ``AutoRollbackConfiguration`` during every
baking period and rolls back when one is in ALARM (SageMaker Developer Guide, "Auto-Rollback
Configuration and Monitoring"). The alarms watch the variant as a whole (dimensions
``EndpointName`` and ``VariantName``), which covers both fleets during a blue/green update:
the guide's "Monitor invocation errors on both old and new fleets" example. Metrics and units
come from "Amazon SageMaker AI metrics in Amazon CloudWatch": ``ModelLatency`` is in
microseconds, and an error metric's Average is the share of invocations that failed.

Each alarm has a fixed name (from the environment's config) because the deployment state
machine names them in its definition and the execution role is granted DescribeAlarms on them.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.config import EnvironmentConfig

VARIANT = "AllTraffic"
NAMESPACE = "AWS/SageMaker"


class EndpointAlarms(Construct):
    """An error-rate alarm, a p99 latency alarm and optionally a 4xx-rate alarm on the endpoint."""

    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, topic: sns.ITopic) -> None:
        super().__init__(scope, construct_id)
        settings = config.endpoint_alarms
        period = Duration.seconds(settings.period_seconds)
        names = config.endpoint_alarm_names
        dimensions = {"EndpointName": config.endpoint_name, "VariantName": VARIANT}
        # (kind, metric, statistic, threshold, what it means)
        specs: list[tuple[str, str, str, float, str]] = [
            (
                "5xx",
                "Invocation5XXErrors",
                "Average",
                settings.max_5xx_rate,
                f"more than {settings.max_5xx_rate:.1%} of invocations failed with 5xx",
            ),
            (
                "latency",
                "ModelLatency",
                "p99",
                settings.max_p99_latency_ms * 1000,
                f"p99 model latency above {settings.max_p99_latency_ms:g} ms",
            ),
        ]
        if settings.max_4xx_rate is not None:
            specs.append(
                (
                    "4xx",
                    "Invocation4XXErrors",
                    "Average",
                    settings.max_4xx_rate,
                    f"more than {settings.max_4xx_rate:.1%} of invocations were refused with 4xx",
                )
            )
        action = cloudwatch_actions.SnsAction(topic)
        self.alarms: list[cloudwatch.Alarm] = []
        for kind, metric_name, statistic, threshold, what in specs:
            alarm = cloudwatch.Alarm(
                self,
                f"Alarm{kind.capitalize()}",
                alarm_name=names[kind],
                alarm_description=f"{config.endpoint_name}: {what} over {settings.evaluation_periods} x "
                f"{settings.period_seconds} s. Rolls back an endpoint update in progress.",
                metric=cloudwatch.Metric(
                    namespace=NAMESPACE,
                    metric_name=metric_name,
                    dimensions_map=dimensions,
                    statistic=statistic,
                    period=period,
                ),
                threshold=threshold,
                evaluation_periods=settings.evaluation_periods,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            self.alarms.append(alarm)
        stack = Stack.of(self)
        # Alarm ARNs are arn:<partition>:cloudwatch:<region>:<account>:alarm:<name> (a colon, not a slash).
        #: What a role needs to read these alarms (SageMaker's execution role, during a rollout).
        self.alarm_arns = [
            stack.format_arn(
                service="cloudwatch", resource="alarm", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
            )
            for name in names.values()
        ]
        self.names = list(names.values())
