"""Lambda ``batch_scoring``: two handlers, two steps of the batch state machine.

* ``prepare_handler`` (``lambdas.batch_scoring.app.prepare_handler``): the first step; from the
  completion marker's bucket and key, the batch's name, locations and this run's names
  (``$.run``). A marker outside the data bucket, or a name SageMaker cannot use, raises
  ``BatchInputError`` / ``BatchNameError``, which the failure route reports.
* ``summary_handler`` (``lambdas.batch_scoring.app.summary_handler``): after the transform;
  counts the output's rows, bad rows and flagged rows (``$.batch``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.batch_scoring.models import BatchSettings, PrepareEvent, SummaryEvent
from lambdas.batch_scoring.prepare import prepare
from lambdas.batch_scoring.summary import summarize
from lambdas.common.aws import client
from lambdas.common.observability import metrics_namespace, service_name

logger = Logger(service=service_name("batch-scoring"))
tracer = Tracer(service=service_name("batch-scoring"))
metrics = Metrics(namespace=metrics_namespace(), service=service_name("batch-scoring"))


@logger.inject_lambda_context(correlation_id_path="execution.id", log_event=True)
@tracer.capture_lambda_handler
def prepare_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Parse the marker's location, return the run document (``$.run``)."""
    run = prepare(PrepareEvent.model_validate(event), BatchSettings.from_env())
    logger.info("batch prepared", extra={"run_id": run.run_id, "input": run.input_uri})
    return run.model_dump(mode="json")


@logger.inject_lambda_context(correlation_id_path="run.run_id", log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def summary_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Count the transform's output, return the summary (``$.batch``)."""
    settings = BatchSettings.from_env()
    summary = summarize(SummaryEvent.model_validate(event), client("s3"))
    metrics.add_dimension(name="environment", value=settings.environment)
    metrics.add_metric(name="BatchRowsScored", unit=MetricUnit.Count, value=summary.scored)
    metrics.add_metric(name="BatchBadRows", unit=MetricUnit.Count, value=summary.bad_rows)
    logger.info(
        "batch summarized",
        extra={"rows": summary.rows, "bad_rows": summary.bad_rows, "flagged": summary.flagged},
    )
    return summary.model_dump(mode="json")
