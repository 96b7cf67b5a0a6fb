"""Answering a CloudFormation custom resource request, whatever happens.

CloudFormation waits for the answer PUT to the request's ResponseURL (CloudFormation User
Guide, "Custom resources"); a function that raises, or never answers, leaves the stack
waiting until the resource's ServiceTimeout. So :func:`answer` turns every outcome into a
SUCCESS or FAILED response and sends it. A FAILED reason names the error in one line; a
stack trace never goes into it (the function's log has it).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from lambdas.sagemaker_cleanup.logic import describe_error
from lambdas.sagemaker_cleanup.models import CloudFormationRequest, CloudFormationResponse

#: CloudFormation accepts a response of at most 4096 bytes; the reason gets most of it.
MAX_REASON_CHARS = 1500

Sender = Callable[[str, CloudFormationResponse], None]
OnDelete = Callable[[CloudFormationRequest], str]


class ResponseNotDeliveredError(RuntimeError):
    """The response could not be PUT to the ResponseURL."""


def put_response(
    url: str, response: CloudFormationResponse, *, attempts: int = 3, sleep: Callable[[float], None] = time.sleep
) -> None:
    """PUT ``response`` to the pre-signed ``url``, retrying network errors and 5xx answers."""
    if urlsplit(url).scheme not in ("https", "http"):
        raise ResponseNotDeliveredError(f"not an HTTP(S) ResponseURL: {url[:80]}")
    body = response.model_dump_json().encode("utf-8")
    problem = ""
    for attempt in range(attempts):
        # The pre-signed URL is signed for an empty Content-Type.
        request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": ""})
        try:
            with urllib.request.urlopen(request, timeout=15) as answered:  # scheme checked above
                if 200 <= answered.status < 300:
                    return
                problem = f"HTTP {answered.status}"
        except urllib.error.HTTPError as error:
            if error.code < 500:
                raise ResponseNotDeliveredError(f"HTTP {error.code} from the ResponseURL") from None
            problem = f"HTTP {error.code}"
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            problem = str(error)
        if attempt + 1 < attempts:
            sleep(2.0**attempt)
    raise ResponseNotDeliveredError(f"gave up after {attempts} attempts: {problem}")


def _respond(
    send: Sender, fields: Mapping[str, Any], *, status: str, reason: str, physical_id: str
) -> CloudFormationResponse:
    response = CloudFormationResponse(
        Status="SUCCESS" if status == "SUCCESS" else "FAILED",
        Reason=reason[:MAX_REASON_CHARS],
        PhysicalResourceId=physical_id,
        StackId=str(fields.get("StackId", "")),
        RequestId=str(fields.get("RequestId", "")),
        LogicalResourceId=str(fields.get("LogicalResourceId", "")),
    )
    send(str(fields["ResponseURL"]), response)
    return response


def answer(
    event: Mapping[str, Any],
    *,
    on_delete: OnDelete,
    send: Sender,
    log_error: Callable[[str], None] = lambda _message: None,
) -> CloudFormationResponse:
    """Run ``on_delete`` for a Delete (Create and Update do nothing), then answer CloudFormation.

    ``on_delete`` returns the reason to report; any exception it raises becomes a FAILED
    answer naming the error. The physical id is the same for the resource's whole life, so
    an Update never makes CloudFormation delete the "old" resource.
    """
    try:
        request = CloudFormationRequest.model_validate(event)
    except ValidationError as error:
        if not isinstance(event.get("ResponseURL"), str):
            raise  # nowhere to answer: not a CloudFormation request at all
        log_error(f"malformed custom resource request: {error}")
        fallback_id = str(event.get("PhysicalResourceId") or event.get("LogicalResourceId") or "unknown")
        return _respond(
            send, event, status="FAILED", reason="Malformed custom resource request", physical_id=fallback_id
        )
    physical_id = request.PhysicalResourceId or f"{request.LogicalResourceId}-sagemaker-teardown"
    fields = request.model_dump()
    try:
        if request.RequestType == "Delete":
            reason = on_delete(request)
        else:
            reason = f"{request.RequestType}: nothing to do; the SageMaker resources are deleted with the stack"
    except Exception as error:  # every failure must still answer CloudFormation
        log_error(f"{request.RequestType} failed: {describe_error(error)}")
        reason = describe_error(error, limit=MAX_REASON_CHARS)
        return _respond(send, fields, status="FAILED", reason=reason, physical_id=physical_id)
    return _respond(send, fields, status="SUCCESS", reason=reason, physical_id=physical_id)
