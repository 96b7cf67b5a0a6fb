"""The X-Ray subsegment around the one call that matters: SageMaker ``InvokeEndpoint``.

The proxy used to let Powertools' Tracer patch every library the X-Ray SDK knows
(``auto_patch``) and decorate the handler and its route: three subsegments per request,
each serializing the response as metadata. Now the Tracer patches nothing and one
subsegment wraps ``invoke_endpoint``. It carries what the SDK's botocore patch recorded
(name ``runtime.sagemaker`` in the ``aws`` namespace, so the service map keeps its
SageMaker node; operation, region, request id, HTTP status; the exception of a failed
call), plus the ``Service`` and ``ColdStart`` annotations the handler subsegment had.
Lambda still draws its own function segment, and botocore itself still forwards the
trace header (``X-Amzn-Trace-Id``) to SageMaker.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from lambdas.common.aws import region

#: The name and namespace the X-Ray SDK's botocore patch gives a sagemaker-runtime call.
SUBSEGMENT_NAME: Final = "runtime.sagemaker"
SUBSEGMENT_NAMESPACE: Final = "aws"
OPERATION: Final = "InvokeEndpoint"
#: Where Lambda puts the invocation's trace header (``Root=...;Parent=...;Sampled=1``).
TRACE_HEADER_VARIABLE: Final = "_X_AMZN_TRACE_ID"


def sampled() -> bool:
    """Whether X-Ray sampled this invocation: ``Sampled=1`` in the trace header Lambda sets.

    In Lambda the X-Ray SDK records a subsegment only then; for any other request it builds a
    dummy one and sends nothing, after parsing the header half a dozen times (about 20 us). The
    proxy asks once and skips the SDK on the (usual) unsampled request.
    """
    header = os.environ.get(TRACE_HEADER_VARIABLE, "")
    return any(part.strip() == "Sampled=1" for part in header.split(";"))


class TracedRuntime:
    """A sagemaker-runtime client whose ``invoke_endpoint`` runs inside an X-Ray subsegment.

    ``runtime`` makes (or returns the cached) client when the endpoint is called, so a request
    refused before that never creates one. ``recorder`` is the X-Ray recorder
    (``Tracer().provider``), or ``None`` when nothing would be recorded (tracing disabled, or a
    request X-Ray did not sample): then the call is made without one.
    """

    def __init__(self, runtime: Callable[[], Any], recorder: Any | None, *, service: str, cold_start: bool) -> None:
        self._runtime = runtime
        self._recorder = recorder
        self._service = service
        self._cold_start = cold_start

    def invoke_endpoint(self, **kwargs: Any) -> Any:
        """Call the endpoint; the subsegment records the outcome, and an exception ends it as a fault."""
        runtime = self._runtime()
        if self._recorder is None:
            return runtime.invoke_endpoint(**kwargs)
        with self._recorder.in_subsegment(SUBSEGMENT_NAME, namespace=SUBSEGMENT_NAMESPACE) as subsegment:
            try:
                response = runtime.invoke_endpoint(**kwargs)
            except ClientError as err:
                self._describe(subsegment, err.response)
                raise
            self._describe(subsegment, response)
            return response

    def _describe(self, subsegment: Any, response: Any) -> None:
        """The call's facts on a sampled subsegment (a dummy one records nothing, so skip the work)."""
        if subsegment is None or not getattr(subsegment, "sampled", False):
            return
        metadata = response.get("ResponseMetadata", {}) if isinstance(response, dict) else {}
        aws: dict[str, Any] = {"operation": OPERATION, "region": region()}
        if metadata.get("RequestId"):
            aws["request_id"] = metadata["RequestId"]
        subsegment.set_aws(aws)
        if isinstance(metadata.get("HTTPStatusCode"), int):
            subsegment.put_http_meta("status", metadata["HTTPStatusCode"])
        subsegment.put_annotation("Service", self._service)
        subsegment.put_annotation("ColdStart", self._cold_start)
