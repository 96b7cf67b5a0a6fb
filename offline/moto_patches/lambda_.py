"""Patch to moto's Lambda: ``LambdaFunction.invoke`` runs the real handler in-process.

moto would start a Docker container; offline mode calls the handler named by the template
(``offline.services.lambda_runtime``), signed in as the function's execution role.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from moto.awslambda.models import LambdaFunction

from offline.moto_patches._registry import original, patch
from offline.moto_patches.stepfunctions_tasks import CLIENT_CONTEXT_HEADER, FAULT_KEY
from offline.run.active import current


def install() -> None:
    patch(LambdaFunction, "invoke", _lambda_invoke)


def _fault_from_headers(headers: Any) -> str | None:
    raw = headers.get(CLIENT_CONTEXT_HEADER) if headers is not None else None
    if not raw:
        return None
    try:
        context = json.loads(base64.b64decode(raw))
    except ValueError:
        return None
    fault = (context.get("custom") or {}).get(FAULT_KEY)
    return str(fault) if fault else None


def _lambda_invoke(self: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
    active = current()
    if active is None:
        return original(LambdaFunction, "invoke")(self, body, request_headers, response_headers)  # type: ignore[no-any-return, unused-ignore]
    event = json.loads(body) if body else {}
    result = active.lambdas.invoke(self.function_name, event, inject_fault=_fault_from_headers(request_headers))
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    return result.payload
