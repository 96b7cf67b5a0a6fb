"""How a batch transform job talks to its model container: ``/execution-parameters`` and ``/invocations``.

SageMaker Developer Guide, "Use Your Own Inference Code with Batch Transform"
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-batch-code.html): before the first
invocation SageMaker asks the optional ``GET /execution-parameters`` for the settings the job left
unset; then it POSTs each mini-batch to ``/invocations`` with the job's ``ContentType`` and
``Accept``; "your model containers must respond to requests within 600 seconds". The timeout and
the retries are the job's ``ModelClientConfig`` (API Reference, "ModelClientConfig":
``InvocationsTimeoutInSeconds``, default 600; ``InvocationsMaxRetries``, default 3).
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from typing import Any

from offline.services.transform_records import InvocationError


def execution_parameters(port: int) -> dict[str, Any]:
    """The container's ``GET /execution-parameters`` answer, or ``{}`` when it has none."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/execution-parameters")
        answer = connection.getresponse()
        body = answer.read()
        if answer.status != 200:
            return {}
        parsed = json.loads(body)
        return parsed if isinstance(parsed, dict) else {}
    except (OSError, ValueError):
        return {}
    finally:
        connection.close()


def invoker(
    port: int, *, content_type: str, accept: str | None, timeout: float = 600.0, retries: int = 3
) -> Callable[[bytes], bytes]:
    """POST one mini-batch to the container's ``/invocations``; a 5xx or no answer is retried ``retries`` times.

    Any other answer than 200 raises :class:`InvocationError` (a 4xx at once: it would not change).
    """
    headers = {"Content-Type": content_type} | ({"Accept": accept} if accept else {})

    def invoke(body: bytes) -> bytes:
        failure = InvocationError(None, "no attempt was made")
        for _attempt in range(retries + 1):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            try:
                connection.request("POST", "/invocations", body=body, headers=headers)
                answer = connection.getresponse()
                status, content = answer.status, answer.read()
            except OSError as error:
                failure = InvocationError(None, f"Unable to get response from algorithm ({error})")
                continue
            finally:
                connection.close()
            if status == 200:
                return content
            failure = InvocationError(status, content)
            if status < 500:
                break
        raise failure

    return invoke
