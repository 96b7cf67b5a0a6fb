"""Lambda ``inference_proxy``: ``POST /predict`` behind API Gateway (handler ``lambdas.inference_proxy.app.handler``).

Every answer is JSON; an error is ``{"error": "..."}``. The handler never raises.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from lambdas.common.observability import metrics_namespace, service_name
from lambdas.inference_proxy import logic
from lambdas.inference_proxy.models import ProxySettings
from training.feature_schema import PayloadError

PREDICT_PATH = "/predict"

logger = Logger(service=service_name("inference-proxy"))
tracer = Tracer(service=service_name("inference-proxy"))
metrics = Metrics(namespace=metrics_namespace(), service=service_name("inference-proxy"))
app = APIGatewayRestResolver()


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A JSON ``{"error": message}`` answer."""
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"error": message}),
        headers=headers,
    )


@app.post(PREDICT_PATH)
@tracer.capture_method
def predict() -> Response:
    """Validate the body with the shared schema and pass it to the endpoint."""
    event = app.current_event
    settings = ProxySettings.from_env()
    body = logic.request_body(event.body, bool(event.is_base64_encoded))
    prediction = logic.predict(body, event.headers.get("content-type"), endpoint_name=settings.endpoint_name)
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=prediction.rows)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=prediction.body)


@app.exception_handler(PayloadError)
def handle_payload_error(err: PayloadError) -> Response:
    """A request the caller must fix: the schema's status and message."""
    metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
    logger.info("rejected request", extra={"status": err.status, "reason": err.message})
    return error_response(err.status, err.message)


@app.exception_handler(logic.UpstreamError)
def handle_upstream_error(err: logic.UpstreamError) -> Response:
    """The endpoint could not answer, or the model refused the rows."""
    metrics.add_metric(name="UpstreamErrors", unit=MetricUnit.Count, value=1)
    logger.warning("endpoint error", extra={"status": err.status, "reason": err.message}, exc_info=err.__cause__)
    return error_response(err.status, err.message)


@app.not_found
def handle_not_found(_err: NotFoundError) -> Response:
    """404 for an unknown path, 405 for ``/predict`` with another method."""
    event = app.current_event
    metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
    # The path the caller sent, stage included (``/v1/predict``), when API Gateway says what it was.
    stage = event.request_context.stage if event.get("requestContext") else None
    predict = f"/{stage}{PREDICT_PATH}" if stage else PREDICT_PATH
    if event.path.rstrip("/") == PREDICT_PATH:
        return error_response(
            HTTPStatus.METHOD_NOT_ALLOWED.value,
            f"method {event.http_method} is not allowed on {predict}; use POST",
            headers={"Allow": "POST"},
        )
    return error_response(HTTPStatus.NOT_FOUND.value, f"no route for {event.path}; use POST {predict}")


@app.exception_handler(Exception)
def handle_unexpected(err: Exception) -> Response:
    """Anything else: log it in full, tell the caller nothing internal."""
    metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
    logger.exception("unexpected error while predicting")
    return error_response(HTTPStatus.INTERNAL_SERVER_ERROR.value, "internal error; the request was not scored")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Route the API Gateway event; always return a proxy response."""
    try:
        return app.resolve(event, context)
    except Exception:
        # The resolver maps every error itself; this catches an event it could not even route.
        logger.exception("could not handle the event")
        metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
        return {
            "statusCode": HTTPStatus.INTERNAL_SERVER_ERROR.value,
            "headers": {"Content-Type": content_types.APPLICATION_JSON},
            "body": json.dumps({"error": "internal error; the request was not scored"}),
            "isBase64Encoded": False,
        }
