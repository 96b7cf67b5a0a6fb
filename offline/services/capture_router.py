"""Which endpoint config captures an invocation, and writing its capture files as SageMaker would.

The local SageMaker Runtime reports every request a container answered with success
(:class:`offline.services.sagemaker_runtime.Exchange`). The endpoint config that served it
(its ``DataCaptureConfig``; SageMaker API Reference, "CreateEndpointConfig") decides whether
and how it is captured: :class:`offline.services.data_capture.DataCapture` samples, formats and
buffers the records, one instance per endpoint config, as a new config brings new capture
settings. SageMaker writes the files with the permissions of the model's execution role
(SageMaker Developer Guide, "Capture data from real-time endpoint": the role needs
``s3:PutObject`` on the destination and the KMS key's ``kms:GenerateDataKey``), so the writes
are signed with a session of that role: a refusal loses the file (capture is best effort and
never fails an invocation) and is printed once per config.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from offline.services.data_capture import DataCapture, split_s3_uri
from offline.services.iam.enforcement import Iam
from offline.services.sagemaker_runtime import Exchange

SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"
#: How often buffered records are written when no new request arrives (real seconds).
FLUSH_INTERVAL_SECONDS = 2.0


class CaptureRouter:
    """``on_exchange`` for the runtime; ``flush`` writes what is buffered, ``close`` stops the flushers.

    ``describe_model`` answers moto's model record (its ``execution_role_arn``), as the fleet's does.
    """

    def __init__(
        self,
        *,
        iam: Iam,
        describe_config: Callable[[str], dict[str, Any]],
        describe_model: Callable[[str], Any],
        log: Callable[[str], None],
    ) -> None:
        self._iam = iam
        self._describe_config = describe_config
        self._describe_model = describe_model
        self._log = log
        self._lock = threading.Lock()
        self._captures: dict[str, DataCapture | None] = {}
        self._reported: set[str] = set()

    def on_exchange(self, exchange: Exchange) -> None:
        capture = self._capture_for(exchange.config_name, exchange.variant)
        if capture is None:
            return
        capture.record(
            endpoint=exchange.endpoint,
            variant=exchange.variant,
            request=exchange.request,
            request_type=exchange.request_type,
            response=exchange.response,
            response_type=exchange.response_type,
            at=exchange.at,
            inference_id=exchange.inference_id,
        )
        self._report_errors(exchange.config_name, capture)

    def flush(self) -> int:
        """Write every buffered record now; the number of files written."""
        with self._lock:
            captures = [c for c in self._captures.values() if c is not None]
        written = 0
        for capture in captures:
            try:
                written += capture.flush()
            except Exception as error:  # a lost file is reported: capture is best effort
                self._log(f"data capture lost a file: {error}")
        return written

    def close(self) -> None:
        with self._lock:
            captures = [c for c in self._captures.values() if c is not None]
            self._captures.clear()
        for capture in captures:
            try:
                capture.close()
            except Exception as error:
                self._log(f"data capture lost a file: {error}")

    def captured(self) -> int:
        """How many invocations were captured so far, over every endpoint config."""
        with self._lock:
            return sum(c.captured for c in self._captures.values() if c is not None)

    def _capture_for(self, config_name: str, variant: str) -> DataCapture | None:
        with self._lock:
            if config_name in self._captures:
                return self._captures[config_name]
        try:
            config = self._describe_config(config_name)
        except Exception:  # a config deleted meanwhile captures nothing
            config = {}
        settings = config.get("DataCaptureConfig") or {}
        capture: DataCapture | None = None
        if settings and settings.get("EnableCapture", True):
            role = self._execution_role(config, variant)
            capture = DataCapture(settings, self._writer(role))
            capture.start(FLUSH_INTERVAL_SECONDS)
        with self._lock:
            if config_name in self._captures:  # another request got here first
                if capture is not None:
                    capture.close()
                return self._captures[config_name]
            self._captures[config_name] = capture
        return capture

    def _execution_role(self, config: dict[str, Any], variant: str) -> str | None:
        for production in config.get("ProductionVariants", []):
            if production.get("VariantName") == variant:
                model = self._describe_model(str(production.get("ModelName")))
                return str(getattr(model, "execution_role_arn", "") or "") or None
        return None

    def _writer(self, role: str | None) -> Callable[[str, str, bytes, str | None], None]:
        def put_object(bucket: str, key: str, body: bytes, kms_key_id: str | None) -> None:
            if role is None:
                raise PermissionError("the endpoint's model has no execution role to write capture files with")
            credentials = self._iam.assume(role, service=SAGEMAKER_PRINCIPAL)
            extra: dict[str, Any] = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else {}
            self._iam.client("s3", credentials).put_object(Bucket=bucket, Key=key, Body=body, **extra)

        return put_object

    def _report_errors(self, config_name: str, capture: DataCapture) -> None:
        if capture.errors and config_name not in self._reported:
            self._reported.add(config_name)
            self._log(f"data capture of {config_name} lost a file: {capture.errors[0]}")


__all__ = ["CaptureRouter", "split_s3_uri"]
