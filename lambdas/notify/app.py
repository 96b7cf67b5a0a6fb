"""Lambda ``notify``: one SNS message per pipeline event (handler ``lambdas.notify.app.handler``)."""

from __future__ import annotations

import math
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.aws import client
from lambdas.common.observability import metrics_namespace, service_name
from lambdas.notify.logic import notify, with_reported_metrics
from lambdas.notify.models import NotifyEvent, NotifySettings
from lambdas.notify.text import package_version

#: The outcome each kind of notification counts, besides ``NotificationsSent``.
OUTCOME_METRICS = {
    "success": "RunsSucceeded",
    "failure": "RunsFailed",
    "registered": "ModelsRegistered",
    "deployed": "ModelsDeployed",
    "deployment_skipped": "DeploymentsSkipped",
    "rolled_back": "DeploymentsRolledBack",
    "drift": "DriftReports",
    "batch_scored": "BatchesScored",
}


def outcome_metric(event: NotifyEvent) -> str:
    """The outcome metric of ``event``: a ``rolled_back`` notification may report a superseded deployment."""
    report = event.state.rollback.report if event.state.rollback else None
    if event.kind == "rolled_back" and report is not None and report.outcome == "superseded":
        return "DeploymentsSuperseded"
    return OUTCOME_METRICS[event.kind]


#: Model quality published at registration: (metric, field of the gate's ``challenger`` scores). The figures
#: are on the test data; precision and recall at the challenger's own threshold.
QUALITY_METRICS = (
    ("ModelRocAuc", "roc_auc"),
    ("ModelPrAuc", "pr_auc"),
    ("ModelPrecision", "precision"),
    ("ModelRecall", "recall"),
)


def publish_model_quality(event: NotifyEvent, environment: str) -> dict[str, float]:
    """Publish a registered version's quality as custom metrics; return what was published.

    One EMF document with two dimension sets (CloudWatch User Guide, "Specification: Embedded metric
    format"): ``environment`` (+ Powertools' ``service``) is the time series the dashboard plots, one
    point per registration, so a drop shows; adding ``version`` gives each registered version a metric
    of its own (``add_dimensions`` adds the second set). The handler's ``Metrics`` flushes its counters
    with its own dimensions, which a ``version`` must not reach, so this uses an isolated
    ``EphemeralMetrics`` (Powertools for AWS Lambda (Python) docs, Metrics, "Metrics isolation").
    Rejected versions are published too: a version the gate refused is the drop to see.
    """
    if event.kind != "registered" or event.state.gate is None:
        return {}
    scores = event.state.gate.challenger
    figures = {
        name: float(value)
        for name, field in QUALITY_METRICS
        if isinstance(value := getattr(scores, field), int | float) and math.isfinite(value)
    }
    if not figures:
        return {}
    service = service_name("notify")
    quality = EphemeralMetrics(namespace=metrics_namespace(), service=service)
    quality.add_dimension(name="environment", value=environment)
    version = package_version(event.state.registered.arn if event.state.registered else None)
    if version:
        quality.add_dimensions(environment=environment, service=service, version=version)
    for name, value in figures.items():
        quality.add_metric(name=name, unit=MetricUnit.NoUnit, value=value)
    quality.flush_metrics()
    return figures


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
    publish_model_quality(request, settings.environment)
    metrics.add_dimension(name="environment", value=settings.environment)
    metrics.add_metric(name="NotificationsSent", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name=outcome_metric(request), unit=MetricUnit.Count, value=1)
    logger.info("notification published", extra={"kind": request.kind, **result})
    return result
