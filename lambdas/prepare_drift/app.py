"""Lambda ``prepare_drift``: the drift state machine's first step (``lambdas.prepare_drift.app.handler``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.aws import client
from lambdas.common.observability import metrics_namespace, service_name
from lambdas.prepare_drift.logic import Clients, prepare
from lambdas.prepare_drift.models import PrepareEvent, PrepareSettings

logger = Logger(service=service_name("prepare-drift"))
tracer = Tracer(service=service_name("prepare-drift"))
metrics = Metrics(namespace=metrics_namespace(), service=service_name("prepare-drift"))

#: The outcome each answer counts.
OUTCOME_METRICS = {
    "examine": "DriftJobsStarted",
    "insufficient_data": "DriftRunsWithoutData",
    "skipped": "DriftRunsSkipped",
}


@logger.inject_lambda_context(correlation_id_path="execution.id", log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Parse the payload and environment, run :func:`prepare`, return the ``$.run`` document."""
    settings = PrepareSettings.from_env()
    run = prepare(
        PrepareEvent.model_validate(event),
        settings,
        Clients(sagemaker=client("sagemaker"), s3=client("s3"), ecr=client("ecr")),
    )
    metrics.add_dimension(name="environment", value=settings.environment)
    metrics.add_metric(name=OUTCOME_METRICS[run.outcome], unit=MetricUnit.Count, value=1)
    logger.info(
        "drift run prepared",
        extra={"job_name": run.job_name, "outcome": run.outcome, "reason": run.reason, "model": run.model_version},
    )
    return run.model_dump(mode="json")
