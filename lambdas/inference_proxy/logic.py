"""Validate a prediction request, call the SageMaker endpoint, translate what goes wrong.

Client errors are :class:`training.feature_schema.PayloadError` (the same
messages the container's ``/invocations`` gives); failures on the endpoint's
side are :class:`UpstreamError`. Both carry the HTTP status to answer with.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from lambdas.common.aws import client
from training.feature_schema import JSON_CONTENT_TYPE, PayloadError, parse_payload, rows_to_csv

#: API Gateway gives up after 29 s: one retry of a 10 s read still answers in time.
_CLIENT_CONFIG = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 2, "mode": "standard"})

_THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException", "RequestLimitExceeded"}
)
_NOT_READY_CODES = frozenset({"ModelNotReadyException", "ServiceUnavailable", "ServiceUnavailableException"})
_UPSTREAM_FAILURE_CODES = frozenset({"InternalFailure", "InternalDependencyException", "InternalServerError"})


class UpstreamError(Exception):
    """The endpoint could not answer; ``status`` is what the API answers, ``message`` is safe to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Prediction:
    """The container's JSON answer, passed through verbatim, and how many rows it scored."""

    body: str
    rows: int


def runtime_client() -> Any:
    """A plain ``sagemaker-runtime`` client; ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` redirects it offline."""
    return client("sagemaker-runtime", config=_CLIENT_CONFIG)


def request_body(body: str | None, is_base64_encoded: bool) -> bytes:
    """The raw request bytes of an API Gateway proxy event."""
    if body is None:
        return b""
    if not is_base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError(400, "the body is marked base64-encoded but is not valid base64") from None


def _container_message(original: Any) -> str | None:
    """The ``error`` of the container's ``{"error": ...}`` answer, or its raw text."""
    if not isinstance(original, str) or not original.strip():
        return None
    try:
        document = json.loads(original)
    except json.JSONDecodeError:
        return original.strip()[:1000]
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        return str(document["error"])
    return original.strip()[:1000]


def translate_client_error(err: ClientError, endpoint_name: str) -> UpstreamError | None:
    """The answer for an error SageMaker returned, or ``None`` when it is not one we expect."""
    response = err.response
    code = response.get("Error", {}).get("Code", "")
    message = str(response.get("Error", {}).get("Message", ""))
    if code == "ModelError":
        try:
            status = int(response.get("OriginalStatusCode", 0))
        except (TypeError, ValueError):
            status = 0
        if 400 <= status < 500:
            detail = _container_message(response.get("OriginalMessage"))
            return UpstreamError(status, detail or f"the model rejected the request (status {status})")
        return UpstreamError(502, "the model failed to process the request")
    if code in ("ValidationException", "ValidationError") and "not found" in message.lower():
        return UpstreamError(503, f"the model endpoint {endpoint_name} is not deployed yet")
    if code in _THROTTLING_CODES:
        return UpstreamError(429, "too many requests to the model endpoint; retry later")
    if code in _NOT_READY_CODES:
        return UpstreamError(503, f"the model endpoint {endpoint_name} is not ready; retry later")
    if code in _UPSTREAM_FAILURE_CODES:
        return UpstreamError(502, "the model endpoint failed to answer; retry later")
    return None


def invoke(runtime: Any, endpoint_name: str, rows: list[list[float]]) -> str:
    """Send validated rows to the endpoint as CSV; return its JSON answer as text."""
    try:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint_name,
            ContentType="text/csv",
            Accept=JSON_CONTENT_TYPE,
            Body=rows_to_csv(rows),
        )
    except ClientError as err:
        translated = translate_client_error(err, endpoint_name)
        if translated is None:
            raise
        raise translated from err
    except ReadTimeoutError as err:
        raise UpstreamError(502, f"the model endpoint {endpoint_name} did not answer in time") from err
    except (EndpointConnectionError, ConnectTimeoutError, ConnectionClosedError) as err:
        raise UpstreamError(503, f"the model endpoint {endpoint_name} could not be reached; retry later") from err
    raw = response["Body"].read()
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise UpstreamError(502, "the model returned an answer that is not a JSON object")
    return text


def predict(body: bytes, content_type: str | None, *, endpoint_name: str, runtime: Any | None = None) -> Prediction:
    """Validate ``body`` with the shared schema and score it on ``endpoint_name``."""
    rows = parse_payload(body, content_type)
    answer = invoke(runtime if runtime is not None else runtime_client(), endpoint_name, rows)
    return Prediction(body=answer, rows=len(rows))
