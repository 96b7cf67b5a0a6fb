"""Lambda ``resolve_deployment``: the deployment state machine's first step.

Handler ``lambdas.resolve_deployment.app.handler``.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.aws import client
from lambdas.common.observability import metrics_namespace, service_name
from lambdas.resolve_deployment.logic import Clients, parse_event, resolve
from lambdas.resolve_deployment.models import ResolveSettings

logger = Logger(service=service_name("resolve-deployment"))
tracer = Tracer(service=service_name("resolve-deployment"))
metrics = Metrics(namespace=metrics_namespace(), service=service_name("resolve-deployment"))


@logger.inject_lambda_context(correlation_id_path="execution.id", log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Parse the payload and environment, run :func:`resolve`, return the ``$.run`` document."""
    settings = ResolveSettings.from_env()
    request = parse_event(event)
    result = resolve(request, settings, Clients(sagemaker=client("sagemaker"), ssm=client("ssm")))
    metrics.add_dimension(name="environment", value=settings.environment)
    metrics.add_dimension(name="action", value=result.action)
    metrics.add_dimension(name="trigger", value=result.trigger)
    metrics.add_metric(name="DeploymentsResolved", unit=MetricUnit.Count, value=1)
    logger.info(
        "deployment resolved",
        extra={
            "action": result.action,
            "reason": result.reason,
            "package": result.package.arn if result.package else None,
            "live": result.live.model_dump() if result.live else None,
        },
    )
    return result.model_dump(mode="json")
