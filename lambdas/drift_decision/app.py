"""Lambda ``drift_decision``: what the drift job found, and what to do about it (handler ``app.handler``)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.aws import client
from lambdas.common.observability import metrics_namespace, service_name
from lambdas.drift_decision.logic import Clients, decide
from lambdas.drift_decision.models import DecideEvent, DecideSettings

logger = Logger(service=service_name("drift-decision"))
tracer = Tracer(service=service_name("drift-decision"))
metrics = Metrics(namespace=metrics_namespace(), service=service_name("drift-decision"))

#: The outcome each retraining action counts.
ACTION_METRICS = {
    "started": "DriftRetrainingsStarted",
    "rate_limited": "DriftRetrainingsRateLimited",
    "not_needed": "DriftChecksWithoutRetraining",
}


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Parse the payload and environment, run :func:`decide`, return the ``$.drift`` document."""
    settings = DecideSettings.from_env()
    decision = decide(
        DecideEvent.model_validate(event), settings, Clients(s3=client("s3"), sfn=client("stepfunctions"))
    )
    metrics.add_dimension(name="environment", value=settings.environment)
    metrics.add_metric(name=ACTION_METRICS[decision.retraining.action], unit=MetricUnit.Count, value=1)
    logger.info(
        "drift decided",
        extra={
            "status": decision.status,
            "drifted": decision.drifted_features,
            "retraining": decision.retraining.action,
            "reason": decision.retraining.reason,
        },
    )
    # Through JSON text: a NaN or infinite figure in the report becomes null, which Step Functions can parse.
    return dict(json.loads(decision.model_dump_json()))
