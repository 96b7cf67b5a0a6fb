"""Lambda ``quality_gate``: the retraining run's Gate step (handler ``lambdas.quality_gate.app.handler``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.aws import client
from lambdas.common.observability import metrics_namespace, service_name
from lambdas.quality_gate.logic import parse_event, run_gate
from lambdas.quality_gate.models import GateEnvironment

logger = Logger(service=service_name("quality-gate"))
tracer = Tracer(service=service_name("quality-gate"))
metrics = Metrics(namespace=metrics_namespace(), service=service_name("quality-gate"))


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Parse the payload and environment, read the evaluation report, return the ``$.gate`` document."""
    settings = GateEnvironment.from_env()
    request = parse_event(event)
    result = run_gate(request, client("s3"))
    metrics.add_dimension(name="environment", value=settings.environment)
    metrics.add_dimension(name="decision", value=result.decision)
    metrics.add_metric(name="GateDecisions", unit=MetricUnit.Count, value=1)
    logger.info(
        "quality gate decided",
        extra={
            "decision": result.decision,
            "reason": result.reason,
            "model_version": result.model_version,
            "report_uri": result.report_uri,
        },
    )
    return result.model_dump(mode="json")
