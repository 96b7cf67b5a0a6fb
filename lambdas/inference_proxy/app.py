"""Lambda ``inference_proxy``: ``POST /predict`` behind API Gateway (handler ``lambdas.inference_proxy.app.handler``).

Every answer is JSON; an error is ``{"error": "..."}``. The handler never raises.

The function serves one route, so it dispatches on the event's method and path itself rather
than through Powertools' ``APIGatewayRestResolver`` (whose import alone took about 20 ms of every
cold start, with pydantic); it answers what that resolver answered: its path match (``/predict``
with any trailing slashes, the method in any case) and its response shape (``multiValueHeaders``).
Logging, metrics and tracing stay Powertools': the Logger's Lambda context and correlation id, one
EMF document per call, and an X-Ray subsegment around the SageMaker call (``tracing.py``).
``bench/proxy_overhead.py`` measures what the function costs over calling the endpoint directly.
"""

from __future__ import annotations

import json
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.common.observability import metrics_namespace, service_name
from lambdas.inference_proxy import logic, tracing
from lambdas.inference_proxy.models import ProxySettings
from lambdas.inference_proxy.tracing import TracedRuntime
from training.feature_schema import PayloadError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

PREDICT_PATH: Final = "/predict"
JSON_TYPE: Final = "application/json"
INTERNAL_ERROR: Final = "internal error; the request was not scored"
#: The REST resolver's match for the route ``/predict``: trailing slashes allowed.
_PREDICT_ROUTE: Final = re.compile(r"^/predict/*$")

SERVICE: Final = service_name("inference-proxy")
logger = Logger(service=SERVICE)
# No auto_patch: patching every library the X-Ray SDK knows costs cold start and wraps calls this
# function does not need traced; the one that matters gets its own subsegment (tracing.py).
tracer = Tracer(service=SERVICE, auto_patch=False)
if not tracer.disabled:
    # A sampled call then parses the trace header once per invocation, not six times (tracing.py).
    tracing.use_invocation_context(tracer.provider)
metrics = Metrics(namespace=metrics_namespace(), service=SERVICE)
_cold_start = True


def response(status: int, body: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A REST proxy response, shaped as ``APIGatewayRestResolver`` shaped it."""
    multi = {name: [value] for name, value in (headers or {}).items()}
    multi.setdefault("Content-Type", [JSON_TYPE])
    return {"statusCode": status, "multiValueHeaders": multi, "body": body, "isBase64Encoded": False}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A JSON ``{"error": message}`` answer."""
    return response(status, json.dumps({"error": message}), headers)


def _header(event: dict[str, Any], name: str) -> str | None:
    """A request header, matched case-insensitively (the last spelling wins, as in Powertools' event)."""
    found = None
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name:
            found = value
    return found


def predict(event: dict[str, Any]) -> dict[str, Any]:
    """Validate the body with the shared schema and pass it to the endpoint."""
    settings = ProxySettings.from_env()
    body = logic.request_body(event.get("body"), bool(event.get("isBase64Encoded")))
    # Unsampled, the X-Ray SDK would record nothing, after about 20 us of work: skip it.
    recorder = None if tracer.disabled or not tracing.sampled() else tracer.provider
    runtime = TracedRuntime(logic.runtime_client, recorder, service=SERVICE, cold_start=_cold_start)
    content_type = _header(event, "content-type")
    prediction = logic.predict(body, content_type, endpoint_name=settings.endpoint_name, runtime=runtime)
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=prediction.rows)
    return response(HTTPStatus.OK.value, prediction.body)


def not_found(event: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """404 for an unknown path, 405 for ``/predict`` with another method."""
    metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
    # The path the caller sent, stage included (``/v1/predict``), when API Gateway says what it was.
    context = event.get("requestContext")
    stage = context.get("stage") if isinstance(context, dict) else None
    predict_path = f"/{stage}{PREDICT_PATH}" if stage else PREDICT_PATH
    if path.rstrip("/") == PREDICT_PATH:
        return error_response(
            HTTPStatus.METHOD_NOT_ALLOWED.value,
            f"method {method} is not allowed on {predict_path}; use POST",
            headers={"Allow": "POST"},
        )
    return error_response(HTTPStatus.NOT_FOUND.value, f"no route for {path}; use POST {predict_path}")


def route(event: dict[str, Any]) -> dict[str, Any]:
    """Answer one API Gateway request; every error becomes its JSON answer."""
    method = event["httpMethod"].upper()
    path = event["path"]
    routed = method == "POST" and _PREDICT_ROUTE.match(path) is not None
    try:
        if routed:
            return predict(event)
        return not_found(event, event["httpMethod"], path)
    except PayloadError as err:
        # A request the caller must fix: the schema's status and message.
        metrics.add_metric(name="InvalidRequests", unit=MetricUnit.Count, value=1)
        logger.info("rejected request", extra={"status": err.status, "reason": err.message})
        return error_response(err.status, err.message)
    except logic.UpstreamError as err:
        # The endpoint could not answer, or the model refused the rows.
        metrics.add_metric(name="UpstreamErrors", unit=MetricUnit.Count, value=1)
        logger.warning("endpoint error", extra={"status": err.status, "reason": err.message}, exc_info=err.__cause__)
        return error_response(err.status, err.message)
    except Exception:
        # Anything else: log it in full, tell the caller nothing internal.
        metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
        logger.exception("unexpected error while predicting")
        return error_response(HTTPStatus.INTERNAL_SERVER_ERROR.value, INTERNAL_ERROR)


def _request_id(event: Any) -> Any:
    """``requestContext.requestId``, or ``None``: what the ``API_GATEWAY_REST`` correlation path selects."""
    context = event.get("requestContext") if isinstance(event, dict) else None
    return context.get("requestId") if isinstance(context, dict) else None


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Route the API Gateway event; always return a proxy response."""
    global _cold_start
    logger.set_correlation_id(_request_id(event))
    try:
        return route(event)
    except Exception:
        # An event without a method or path: not one API Gateway sends.
        logger.exception("could not handle the event")
        metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
        return {
            "statusCode": HTTPStatus.INTERNAL_SERVER_ERROR.value,
            "headers": {"Content-Type": JSON_TYPE},
            "body": json.dumps({"error": INTERNAL_ERROR}),
            "isBase64Encoded": False,
        }
    finally:
        _cold_start = False
