"""Lambda ``explain_rollback``: a rolled-back deployment explained (``lambdas.explain_rollback.app.handler``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.aws import client
from lambdas.common.observability import metrics_namespace, service_name
from lambdas.explain_rollback.logic import explain
from lambdas.explain_rollback.models import RollbackEvent, RollbackSettings

logger = Logger(service=service_name("explain-rollback"))
tracer = Tracer(service=service_name("explain-rollback"))
metrics = Metrics(namespace=metrics_namespace(), service=service_name("explain-rollback"))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Read the alarms and the canary's metrics, reject the version if an alarm fired; return ``$.rollback``."""
    settings = RollbackSettings.from_env()
    report = explain(RollbackEvent.model_validate(event), settings, client("cloudwatch"), client("sagemaker"))
    metrics.add_dimension(name="environment", value=settings.environment)
    outcome = "DeploymentsRolledBack" if report.outcome == "rolled_back" else "DeploymentsSuperseded"
    metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
    logger.info(
        "deployment rolled back" if report.outcome == "rolled_back" else "deployment superseded",
        extra={"summary": report.summary, "rejected": report.rejected},
    )
    return report.model_dump(mode="json")
