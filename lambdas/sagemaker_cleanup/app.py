"""Lambda ``sagemaker_cleanup``: two handlers over :mod:`lambdas.sagemaker_cleanup.logic`.

* ``handler`` (``lambdas.sagemaker_cleanup.app.handler``): the state machine's step after a
  verified deploy; deletes models and endpoint configs older than the newest
  ``KEEP_LAST_VERSIONS``, never the live ones. Raises ``CleanupIncompleteError`` when it could
  not do all of it (the state machine reports that in the success notification).
* ``teardown_handler`` (``lambdas.sagemaker_cleanup.app.teardown_handler``): the CloudFormation
  custom resource; on Delete during the stack's deletion, deletes the endpoint, every endpoint
  config and every model of the environment. Always answers CloudFormation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.aws import client
from lambdas.common.observability import metrics_namespace, service_name
from lambdas.sagemaker_cleanup.custom_resource import answer, put_response
from lambdas.sagemaker_cleanup.logic import prune, tear_down_if_stack_is_deleted
from lambdas.sagemaker_cleanup.models import CleanupSettings, CloudFormationRequest, PruneEvent

logger = Logger(service=service_name("sagemaker-cleanup"))
tracer = Tracer(service=service_name("sagemaker-cleanup"))
metrics = Metrics(namespace=metrics_namespace(), service=service_name("sagemaker-cleanup"))


def _time_left(context: LambdaContext) -> Callable[[], float]:
    return lambda: context.get_remaining_time_in_millis() / 1000


@logger.inject_lambda_context(correlation_id_path="execution_arn", log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Parse the payload and environment, prune old versions, return the report (``$.cleanup``)."""
    request = PruneEvent.model_validate(event)
    settings = CleanupSettings.from_env()
    report = prune(
        client("sagemaker"), settings, live_config=request.live_endpoint_config, time_left=_time_left(context)
    )
    metrics.add_dimension(name="environment", value=settings.environment)
    metrics.add_metric(name="EndpointConfigsDeleted", unit=MetricUnit.Count, value=report.deleted_endpoint_config_count)
    metrics.add_metric(name="ModelsDeleted", unit=MetricUnit.Count, value=report.deleted_model_count)
    logger.info("old versions pruned", extra=report.model_dump())
    return report.model_dump()


# The request carries a pre-signed ResponseURL, so the event itself is not logged.
@logger.inject_lambda_context(correlation_id_path="RequestId", log_event=False)
@tracer.capture_lambda_handler
def teardown_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Answer a CloudFormation custom resource request; on the stack's deletion, tear the SageMaker resources down."""

    def on_delete(request: CloudFormationRequest) -> str:
        return tear_down_if_stack_is_deleted(
            client("sagemaker"),
            client("cloudformation"),
            CleanupSettings.from_env(),
            stack_id=request.StackId,
            time_left=_time_left(context),
            sleep=time.sleep,
        )

    response = answer(event, on_delete=on_delete, send=put_response, log_error=logger.exception)
    logger.info("custom resource answered", extra={"status": response.Status, "reason": response.Reason})
    return response.model_dump(exclude={"Data"})
