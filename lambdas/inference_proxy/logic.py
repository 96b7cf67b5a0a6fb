"""Validate a prediction request, call the SageMaker endpoint, translate what goes wrong.

Client errors are :class:`training.feature_schema.PayloadError` (the same
messages the container's ``/invocations`` gives); failures on the endpoint's
side are :class:`UpstreamError`. Both carry the HTTP status to answer with.

The endpoint receives the caller's own bytes once they are valid (without a
leading BOM), never a re-serialization of the rows: re-serializing can grow a
body past SageMaker's 6 MB limit and change the numbers' text.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Final

from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]
from botocore.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from lambdas.common.aws import client
from training.feature_schema import (
    JSON_CONTENT_TYPE,
    MAX_PAYLOAD_BYTES,
    MAX_ROWS_PER_REQUEST,
    Payload,
    PayloadError,
    payload_too_large,
    read_payload,
)

#: How long the proxy waits for the endpoint. API Gateway ends a REST integration after 29 s
#: (API Gateway Developer Guide, "Amazon API Gateway quotas",
#: https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html); the proxy must answer
#: before that with its own message, leaving time for a cold start and validating the body.
#: The largest batch a request may hold scores in a few seconds (docs/benchmarks.md).
READ_TIMEOUT_SECONDS: Final = 20
CONNECT_TIMEOUT_SECONDS: Final = 2

#: botocore retries nothing. Its standard mode resends a request after a socket timeout or a 500/502/
#: 503/504 (Boto3 User Guide, "Retries", https://boto3.amazonaws.com/v1/documentation/api/latest/guide/retries.html),
#: and by then the endpoint may already have scored the batch: a timeout would become a second
#: scoring of the same rows, and a second wait API Gateway does not have. :func:`invoke` retries,
#: once, only what proves the batch was never scored: throttling and a connection never made.
_CLIENT_CONFIG = Config(
    connect_timeout=CONNECT_TIMEOUT_SECONDS,
    read_timeout=READ_TIMEOUT_SECONDS,
    retries={"total_max_attempts": 1, "mode": "standard"},
)
_ATTEMPTS: Final = 2

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
    """The raw request bytes of an API Gateway proxy event.

    A text body is a JSON string in the event; a lone surrogate in it (a ``\\udc80`` escape) is
    kept as the bytes it stands for, which the schema then refuses as not UTF-8.
    """
    if body is None:
        return b""
    if not is_base64_encoded:
        return body.encode("utf-8", errors="surrogatepass")
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
    if code == "413" or response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 413:
        # SageMaker's own refusal of a body over InvokeEndpoint's 6 MB, before the container sees it.
        return UpstreamError(413, payload_too_large(f"over {MAX_PAYLOAD_BYTES} bytes").message)
    if code in ("ValidationException", "ValidationError") and "not found" in message.lower():
        return UpstreamError(503, f"the model endpoint {endpoint_name} is not deployed yet")
    if code in _THROTTLING_CODES:
        return UpstreamError(429, "too many requests to the model endpoint; retry later")
    if code in _NOT_READY_CODES:
        return UpstreamError(503, f"the model endpoint {endpoint_name} is not ready; retry later")
    if code in _UPSTREAM_FAILURE_CODES:
        return UpstreamError(502, "the model endpoint failed to answer; retry later")
    return None


def _call_endpoint(runtime: Any, endpoint_name: str, payload: Payload) -> Any:
    """One InvokeEndpoint call, retried once only when the batch provably was not scored."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return runtime.invoke_endpoint(
                EndpointName=endpoint_name,
                ContentType=payload.media_type,
                Accept=JSON_CONTENT_TYPE,
                Body=payload.body,
            )
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code in _THROTTLING_CODES and attempt < _ATTEMPTS:
                continue
            translated = translate_client_error(err, endpoint_name)
            if translated is None:
                raise
            raise translated from err
        except (EndpointConnectionError, ConnectTimeoutError) as err:
            if attempt < _ATTEMPTS:
                continue
            raise UpstreamError(503, f"the model endpoint {endpoint_name} could not be reached; retry later") from err
        except ReadTimeoutError as err:
            raise UpstreamError(
                504,
                f"the model endpoint {endpoint_name} did not answer within {READ_TIMEOUT_SECONDS} s; the request was "
                f"not retried, since it may have been scored: send fewer rows (at most {MAX_ROWS_PER_REQUEST:,})",
            ) from err
        except ConnectionClosedError as err:
            raise UpstreamError(
                502, f"the model endpoint {endpoint_name} closed the connection; the request was not retried"
            ) from err
    raise AssertionError("unreachable: every attempt returns or raises")


def invoke(runtime: Any, endpoint_name: str, payload: Payload) -> str:
    """Send the validated request to the endpoint; return its JSON answer as text."""
    response = _call_endpoint(runtime, endpoint_name, payload)
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
    payload = read_payload(body, content_type)
    answer = invoke(runtime if runtime is not None else runtime_client(), endpoint_name, payload)
    return Prediction(body=answer, rows=len(payload.rows))
