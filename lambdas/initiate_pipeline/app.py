"""Lambda ``initiate_pipeline``: the state machine's first step (handler ``lambdas.initiate_pipeline.app.handler``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.aws import client
from lambdas.common.observability import metrics_namespace, service_name
from lambdas.initiate_pipeline.logic import Clients, initiate
from lambdas.initiate_pipeline.models import InitiateEvent, InitiateSettings

logger = Logger(service=service_name("initiate-pipeline"))
tracer = Tracer(service=service_name("initiate-pipeline"))
metrics = Metrics(namespace=metrics_namespace(), service=service_name("initiate-pipeline"))


@logger.inject_lambda_context(correlation_id_path="execution.id", log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Parse the payload and environment, run :func:`initiate`, return the ``$.run`` document."""
    request = InitiateEvent.model_validate(event)
    settings = InitiateSettings.from_env()
    clients = Clients(
        s3=client("s3"), ssm=client("ssm"), ecr=client("ecr"), sfn=client("stepfunctions"), sns=client("sns")
    )
    result = initiate(request, settings, clients)
    metrics.add_dimension(name="environment", value=settings.environment)
    already_waiting = request.input.run is not None and request.input.run.queued
    if not result.queued:
        metrics.add_metric(name="RunsStarted", unit=MetricUnit.Count, value=1)
    elif not already_waiting:
        metrics.add_metric(name="RunsQueued", unit=MetricUnit.Count, value=1)
    logger.info(
        "run waiting in line" if result.queued else "run initiated",
        extra={"run_id": result.run_id, "queue": result.queue.model_dump(mode="json") if result.queue else None},
    )
    return result.model_dump(mode="json")
