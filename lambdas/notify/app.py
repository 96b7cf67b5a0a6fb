"""Lambda ``notify``: one SNS message per pipeline event (handler ``lambdas.notify.app.handler``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.aws import client
from lambdas.common.observability import metrics_namespace, service_name
from lambdas.notify.logic import notify, with_reported_metrics
from lambdas.notify.models import NotifyEvent, NotifySettings

#: The outcome each kind of notification counts, besides ``NotificationsSent``.
OUTCOME_METRICS = {
    "success": "RunsSucceeded",
    "failure": "RunsFailed",
    "registered": "ModelsRegistered",
    "deployed": "ModelsDeployed",
    "deployment_skipped": "DeploymentsSkipped",
    "rolled_back": "DeploymentsRolledBack",
}


def outcome_metric(event: NotifyEvent) -> str:
    """The outcome metric of ``event``: a ``rolled_back`` notification may report a superseded deployment."""
    report = event.state.rollback.report if event.state.rollback else None
    if event.kind == "rolled_back" and report is not None and report.outcome == "superseded":
        return "DeploymentsSuperseded"
    return OUTCOME_METRICS[event.kind]


logger = Logger(service=service_name("notify"))
tracer = Tracer(service=service_name("notify"))
metrics = Metrics(namespace=metrics_namespace(), service=service_name("notify"))


@logger.inject_lambda_context(correlation_id_path="execution_arn", log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    """Parse the payload and environment, publish one message, return ``{"subject", "message_id"}``."""
    request = with_reported_metrics(NotifyEvent.model_validate(event), client("sagemaker"))
    settings = NotifySettings.from_env()
    result = notify(request, settings, client("sns"))
    metrics.add_dimension(name="environment", value=settings.environment)
    metrics.add_metric(name="NotificationsSent", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=outcome_metric(request), unit=MetricUnit.Count, value=1)
    logger.info("notification published", extra={"kind": request.kind, **result})
    return result
