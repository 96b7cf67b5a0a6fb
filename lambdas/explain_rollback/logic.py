"""Why an endpoint update was rolled back, and keeping the rolled-back version from coming back.

SageMaker rolls a blue/green update back when an alarm of its AutoRollbackConfiguration is in
ALARM during a baking period (SageMaker Developer Guide, "Auto-Rollback Configuration and
Monitoring"); the endpoint then serves the old config again, with a FailureReason. This reads
the alarms (DescribeAlarms: state, reason) and the new fleet's figures (GetMetricStatistics by
``EndpointConfigName``), and, when an alarm fired, marks the model package Rejected with the
reason (UpdateModelPackage), so no later event redeploys it. A rollback without an alarm (the
new fleet never became healthy, say) is reported but the version is left as it is: that cause
may be the account's, not the model's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lambdas.explain_rollback.models import (
    CanaryFigures,
    FiredAlarm,
    RollbackEvent,
    RollbackReport,
    RollbackSettings,
)

NAMESPACE = "AWS/SageMaker"
VARIANT = "AllTraffic"


def fired_alarms(cloudwatch: Any, names: list[str], failure_reason: str | None, since: datetime) -> list[FiredAlarm]:
    """The rollback alarms that fired during the update: in ALARM now, or (OK again by now) changed state
    since the update started and named in SageMaker's FailureReason. A name in the reason alone is not
    enough: the reason also names alarms SageMaker could not read."""
    described = cloudwatch.describe_alarms(AlarmNames=names).get("MetricAlarms", [])
    fired = []
    for alarm in described:
        name = alarm["AlarmName"]
        changed = alarm.get("StateUpdatedTimestamp")
        recent = isinstance(changed, datetime) and changed >= since
        if alarm.get("StateValue") == "ALARM" or (recent and failure_reason and name in failure_reason):
            fired.append(FiredAlarm(name=name, state=alarm.get("StateValue", "?"), reason=alarm.get("StateReason", "")))
    return fired


def canary_figures(cloudwatch: Any, settings: RollbackSettings, config_name: str, since: datetime) -> CanaryFigures:
    """Invocations, 5xx errors and the worst model latency of the new fleet since ``since``."""
    now = datetime.now(tz=UTC)
    start = min(since, now - timedelta(seconds=60))
    dimensions = [
        {"Name": "EndpointName", "Value": settings.endpoint_name},
        {"Name": "VariantName", "Value": VARIANT},
        {"Name": "EndpointConfigName", "Value": config_name},
    ]

    def statistic(metric: str, stat: str) -> list[float]:
        points = cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE,
            MetricName=metric,
            Dimensions=dimensions,
            StartTime=start,
            EndTime=now + timedelta(seconds=60),
            Period=60,
            Statistics=[stat],
        ).get("Datapoints", [])
        return [float(point[stat]) for point in points if stat in point]

    latency = statistic("ModelLatency", "Maximum")
    return CanaryFigures(
        invocations=int(sum(statistic("Invocations", "Sum"))),
        errors_5xx=int(sum(statistic("Invocation5XXErrors", "Sum"))),
        max_model_latency_ms=round(max(latency) / 1000, 1) if latency else None,
    )


def reject(sagemaker: Any, package_arn: str, reason: str) -> None:
    """Mark the package Rejected. Only the status and its description are sent; nothing else changes."""
    sagemaker.update_model_package(
        ModelPackageArn=package_arn, ModelApprovalStatus="Rejected", ApprovalDescription=reason[:1024]
    )


def superseded(event: RollbackEvent) -> bool:
    """Whether the endpoint serves neither this run's config nor the one it replaced.

    A rollback puts back the config the update replaced; any other config was put live by a
    later deployment (or by hand) while this run waited, after this run's update had ended.
    """
    return event.existing.config is None or event.endpoint.EndpointConfigName != event.existing.config


def explain(event: RollbackEvent, settings: RollbackSettings, cloudwatch: Any, sagemaker: Any) -> RollbackReport:
    run = event.run
    version = run.package.version
    failure = event.endpoint.FailureReason
    canary = canary_figures(cloudwatch, settings, run.names.endpoint_config, event.update.started)
    if superseded(event):
        return _superseded(event, settings, canary)
    alarms = fired_alarms(cloudwatch, settings.alarms, failure, event.update.started)
    figures = f"{canary.invocations} requests to the new fleet, {canary.errors_5xx} failed with 5xx"
    if alarms:
        names = ", ".join(alarm.name for alarm in alarms)
        summary = (
            f"Version {version or '?'} was rolled back by SageMaker: alarm {names} went into ALARM during the "
            f"rollout ({figures}). The previous version still serves."
        )
        reject(sagemaker, run.package.arn, f"Rejected automatically: rolled back by alarm {names} ({figures})")
    else:
        summary = (
            f"Version {version or '?'} was rolled back by SageMaker without an alarm firing: "
            f"{failure or 'no reason given'}. The previous version still serves; the version was not rejected."
        )
    return RollbackReport(
        outcome="rolled_back",
        version=version,
        alarms=alarms,
        canary=canary,
        failure_reason=failure,
        rejected=bool(alarms),
        summary=summary,
    )


def _superseded(event: RollbackEvent, settings: RollbackSettings, canary: CanaryFigures) -> RollbackReport:
    """Nothing to blame and nothing to reject: a later deployment replaced this one's config."""
    version = event.run.package.version
    serving = event.endpoint.EndpointConfigName or "?"
    summary = (
        f"Version {version or '?'} (endpoint config {event.run.names.endpoint_config}) was superseded on "
        f"{settings.endpoint_name}: a later deployment put endpoint config {serving} live while this run waited "
        f"to see its own. The later deployment's notification says what serves now; the version was not rejected."
    )
    return RollbackReport(
        outcome="superseded",
        version=version,
        alarms=[],
        canary=canary,
        failure_reason=event.endpoint.FailureReason,
        rejected=False,
        summary=summary,
    )
