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

The SDK builds, serializes and sends the subsegment (``begin_subsegment``/``end_subsegment``);
what this module saves on a sampled request is the SDK's Lambda context re-parsing the
trace header at every step (:class:`InvocationContext`).
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable
from typing import Any, Final

from aws_xray_sdk.core.lambda_launcher import LambdaContext  # type: ignore[import-untyped, unused-ignore]
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
    dummy one and sends nothing, after building its segment from the header (several us). The
    proxy asks once and skips the SDK on the (usual) unsampled request. The fields are split as
    the SDK splits them (on ``;``, the header stripped, the fields not), so that a field the SDK
    would not read as ``Sampled`` does not open a subsegment either.
    """
    return "Sampled=1" in os.environ.get(TRACE_HEADER_VARIABLE, "").strip().split(";")


class InvocationContext(LambdaContext):
    """The X-Ray SDK's Lambda context, refreshed from the trace header once per invocation, not per lookup.

    The SDK's ``LambdaContext`` notices a new invocation by re-reading and re-parsing
    ``_X_AMZN_TRACE_ID`` every time the recorder asks for the current entity: six times for one
    subsegment (three to begin it, three to end it), about 2.5 us each on the benchmark's machine.
    For a header it has already refreshed with, that refresh does nothing: the segment it holds was
    built from that header (a header without ``Parent`` or ``Sampled`` is the exception: the SDK
    builds a new dummy segment each time, and a dummy records nothing either way). So this context
    runs the SDK's refresh only when the header differs from the one this thread last refreshed
    with, and forgets that header whenever the entities are replaced or cleared, where the SDK's
    next refresh would rebuild them. Everything else (the segment, the subsegments, what is sent)
    is the SDK's.

    If a later SDK stopped calling ``_refresh_context``, the override would simply never run: the
    SDK's own context behaviour, at its own cost (the tests pin the single parse).
    """

    def __init__(self) -> None:
        super().__init__()
        self._refreshed = threading.local()

    def _refresh_context(self) -> None:
        """The SDK's refresh, unless this thread has already refreshed with the current header."""
        header = os.environ.get(TRACE_HEADER_VARIABLE)
        if header is not None and header == getattr(self._refreshed, "header", None):
            return
        super()._refresh_context()
        self._refreshed.header = header

    def set_trace_entity(self, trace_entity: Any) -> None:
        """Replace the stored entities (the SDK's); the next lookup refreshes from the header again."""
        self._refreshed.header = None
        super().set_trace_entity(trace_entity)

    def clear_trace_entities(self) -> None:
        """Clear the stored entities (the SDK's); the next lookup refreshes from the header again."""
        self._refreshed.header = None
        super().clear_trace_entities()


def use_invocation_context(recorder: Any) -> bool:
    """Give ``recorder`` an :class:`InvocationContext` if it runs the SDK's Lambda context; whether it does now.

    Only a recorder the SDK set up for Lambda (``LAMBDA_TASK_ROOT`` set when it was created) has a
    Lambda context; any other (tests, offline mode) keeps its own. ``configure(context=...)`` is the
    SDK's public way to replace the context; it is done at import, before any entity exists.
    """
    context = getattr(recorder, "context", None)
    if isinstance(context, InvocationContext):
        return True
    if type(context) is not LambdaContext:
        return False
    recorder.configure(context=InvocationContext())
    return True


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
        """Call the endpoint; the subsegment records the outcome, and an exception ends it as a fault.

        The recorder's ``begin_subsegment``/``end_subsegment`` rather than its ``in_subsegment``
        context manager, which makes the same two calls through a manager object per request; the
        exception is recorded as that manager records it (``add_exception`` with the traceback).
        """
        runtime = self._runtime()
        recorder = self._recorder
        if recorder is None:
            return runtime.invoke_endpoint(**kwargs)
        subsegment = recorder.begin_subsegment(SUBSEGMENT_NAME, SUBSEGMENT_NAMESPACE)
        if subsegment is None:  # no segment to attach it to (the SDK has logged why): call untraced
            return runtime.invoke_endpoint(**kwargs)
        try:
            response = runtime.invoke_endpoint(**kwargs)
        except ClientError as err:
            self._describe(subsegment, err.response)
            _record_exception(recorder, subsegment, err)
            raise
        except BaseException as err:
            _record_exception(recorder, subsegment, err)
            raise
        else:
            self._describe(subsegment, response)
            return response
        finally:
            recorder.end_subsegment()

    def _describe(self, subsegment: Any, response: Any) -> None:
        """The call's facts on a sampled subsegment (a dummy one records nothing, so skip the work)."""
        if not getattr(subsegment, "sampled", False):
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


def _record_exception(recorder: Any, subsegment: Any, err: BaseException) -> None:
    """The exception and its stack on the subsegment, as the SDK's ``in_subsegment`` records them."""
    subsegment.add_exception(err, traceback.extract_tb(err.__traceback__, limit=recorder.max_trace_back))
