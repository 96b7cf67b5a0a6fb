"""SageMaker real-time endpoint data capture: the capture files SageMaker writes to S3, written offline.

What AWS does (SageMaker Developer Guide, "Capture data from real-time endpoint",
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html, and
SageMaker API Reference, "DataCaptureConfig", "CaptureContentTypeHeader"): an endpoint config's
``DataCaptureConfig`` makes SageMaker record a share of the invocations (``InitialSamplingPercentage``)
as JSON Lines objects under
``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl``, encrypted with
``KmsKeyId``, one line per captured request::

    {"captureData": {"endpointInput":  {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "...", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                        "data": "...", "encoding": "JSON"}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceId": "<if the caller sent one>",
                       "inferenceTime": "2026-11-24T12:00:00Z"},
     "eventVersion": "0"}

``CaptureOptions`` says which of input and output are recorded (``Input``, ``Output``, or both,
also as ``InputAndOutput``). A body whose media type is in ``CaptureContentTypeHeader.CsvContentTypes``
is stored as text with ``encoding`` CSV, in ``JsonContentTypes`` as JSON, anything else (or text
that is not UTF-8) base64 with BASE64; ``observedContentType`` is the header as sent.
``EnableCapture`` false (it defaults to true) captures nothing.

How offline mode does it: :class:`DataCapture` holds one endpoint config's ``DataCaptureConfig``.
Sampling is a seeded ``random.Random`` (seed 0 unless given): each invocation is captured when a
draw in ``[0, 100)`` is below the percentage, so a run is repeatable and the captured share
converges on the percentage as SageMaker's random sampling does. Records are buffered per
(endpoint, variant, hour) and written as one object per buffer when it holds ``max_records``,
when its oldest record is ``max_age_seconds`` old (checked on each record, and by :meth:`flush_due`
or the optional background flusher), when an invocation of a later hour arrives, and on
:meth:`flush`. SageMaker's own buffering interval is not documented; files appear within minutes.
Writes go through an injected ``put_object(bucket, key, body, kms_key_id)``: offline mode signs
them as the endpoint's execution role, as SageMaker does. A write that fails loses that file's
records, as AWS's best-effort capture would; capture never fails an invocation.
"""

from __future__ import annotations

import base64
import datetime
import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

PutObject = Callable[[str, str, bytes, str | None], None]

DEFAULT_MAX_RECORDS: Final = 1_000
DEFAULT_MAX_AGE_SECONDS: Final = 60.0
_MAX_ERRORS: Final = 20


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(at: float | datetime.datetime) -> datetime.datetime:
    if isinstance(at, datetime.datetime):
        return at.replace(tzinfo=datetime.UTC) if at.tzinfo is None else at.astimezone(datetime.UTC)
    return datetime.datetime.fromtimestamp(at, tz=datetime.UTC)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` → ``("bucket", "some/prefix")``."""
    if not uri.startswith("s3://") or len(uri) <= len("s3://"):
        raise ValueError(f"DestinationS3Uri must be an s3:// URI, got {uri!r}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    return bucket, prefix.strip("/")


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    """The parts of a ``DataCaptureConfig`` that decide what is written where."""

    enabled: bool
    percentage: float
    bucket: str
    prefix: str
    kms_key_id: str | None
    capture_input: bool
    capture_output: bool
    csv_types: frozenset[str]
    json_types: frozenset[str]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CaptureSettings:
        """Read CreateEndpointConfig's ``DataCaptureConfig`` (as the request carries it)."""
        bucket, prefix = split_s3_uri(str(config["DestinationS3Uri"]))
        modes = {str(option.get("CaptureMode", "")) for option in config.get("CaptureOptions", [])}
        headers = config.get("CaptureContentTypeHeader") or {}
        return cls(
            enabled=bool(config.get("EnableCapture", True)),
            percentage=float(config.get("InitialSamplingPercentage", 0)),
            bucket=bucket,
            prefix=prefix,
            kms_key_id=config.get("KmsKeyId") or None,
            capture_input=bool(modes & {"Input", "InputAndOutput"}),
            capture_output=bool(modes & {"Output", "InputAndOutput"}),
            csv_types=frozenset(_media_type(t) for t in headers.get("CsvContentTypes", [])),
            json_types=frozenset(_media_type(t) for t in headers.get("JsonContentTypes", [])),
        )

    def encode(self, body: bytes, content_type: str, mode: str) -> dict[str, str]:
        """One ``endpointInput`` / ``endpointOutput`` entry: the body as CSV, JSON or BASE64 text."""
        kind = _media_type(content_type)
        encoding = "CSV" if kind in self.csv_types else "JSON" if kind in self.json_types else "BASE64"
        data = None
        if encoding != "BASE64":
            try:
                data = body.decode("utf-8")
            except UnicodeDecodeError:
                encoding = "BASE64"
        if data is None:
            data = base64.b64encode(body).decode("ascii")
        return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


@dataclass
class _Buffer:
    lines: list[str] = field(default_factory=list)
    first_at: datetime.datetime | None = None
    opened: float = 0.0


class DataCapture:
    """Samples, formats, buffers and writes one endpoint config's capture records (thread-safe)."""

    def __init__(
        self,
        config: Mapping[str, Any],
        put_object: PutObject,
        *,
        seed: int = 0,
        max_records: int = DEFAULT_MAX_RECORDS,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = CaptureSettings.from_config(config)
        self._put = put_object
        self._random = random.Random(seed)
        self._max_records = max_records
        self._max_age = max_age_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._buffers: dict[tuple[str, str, str], _Buffer] = {}
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self.captured = 0
        self.sampled_out = 0
        self.files_written = 0
        self.errors: list[str] = []

    def _sampled(self) -> bool:
        return self.settings.enabled and self._random.random() * 100.0 < self.settings.percentage

    def build_record(
        self,
        *,
        request: bytes,
        request_type: str,
        response: bytes,
        response_type: str,
        at: datetime.datetime,
        inference_id: str | None = None,
    ) -> dict[str, Any]:
        """The capture record of one invocation (see the module docstring)."""
        capture: dict[str, Any] = {}
        if self.settings.capture_input:
            capture["endpointInput"] = self.settings.encode(request, request_type, "INPUT")
        if self.settings.capture_output:
            capture["endpointOutput"] = self.settings.encode(response, response_type, "OUTPUT")
        metadata = {"eventId": str(uuid.uuid4())}
        if inference_id:
            metadata["inferenceId"] = inference_id
        metadata["inferenceTime"] = _iso(at)
        return {"captureData": capture, "eventMetadata": metadata, "eventVersion": "0"}

    def record(
        self,
        *,
        endpoint: str,
        variant: str,
        request: bytes,
        request_type: str,
        response: bytes,
        response_type: str,
        at: float | datetime.datetime,
        inference_id: str | None = None,
    ) -> bool:
        """Capture one invocation if it is sampled; return whether it was. Never raises for a failed write."""
        moment = _utc(at)
        with self._lock:
            if not self._sampled():
                self.sampled_out += 1
                return False
            self.captured += 1
        line = json.dumps(
            self.build_record(
                request=request,
                request_type=request_type,
                response=response,
                response_type=response_type,
                at=moment,
                inference_id=inference_id,
            ),
            separators=(",", ":"),
        )
        hour = moment.strftime("%Y/%m/%d/%H")
        with self._lock:
            due = [key for key in self._buffers if key[:2] == (endpoint, variant) and key[2] < hour]
            buffer = self._buffers.setdefault((endpoint, variant, hour), _Buffer())
            if not buffer.lines:
                buffer.first_at, buffer.opened = moment, self._monotonic()
            buffer.lines.append(line)
            if len(buffer.lines) >= self._max_records:
                due.append((endpoint, variant, hour))
            due += self._aged()
            taken = self._take(due)
        self._write_all(taken, raise_errors=False)
        return True

    def _aged(self) -> list[tuple[str, str, str]]:
        now = self._monotonic()
        return [key for key, buffer in self._buffers.items() if buffer.lines and now - buffer.opened >= self._max_age]

    def _take(self, keys: list[tuple[str, str, str]]) -> list[tuple[tuple[str, str, str], _Buffer]]:
        return [(key, self._buffers.pop(key)) for key in dict.fromkeys(keys) if key in self._buffers]

    def object_key(self, endpoint: str, variant: str, first_at: datetime.datetime) -> str:
        """``<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl``."""
        name = f"{first_at:%M-%S}-{first_at.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
        parts = [self.settings.prefix, endpoint, variant, f"{first_at:%Y/%m/%d/%H}", name]
        return "/".join(part for part in parts if part)

    def _write_all(self, taken: list[tuple[tuple[str, str, str], _Buffer]], *, raise_errors: bool) -> int:
        written, first_error = 0, None
        for (endpoint, variant, _), buffer in taken:
            if not buffer.lines or buffer.first_at is None:
                continue
            key = self.object_key(endpoint, variant, buffer.first_at)
            body = ("\n".join(buffer.lines) + "\n").encode("utf-8")
            try:
                self._put(self.settings.bucket, key, body, self.settings.kms_key_id)
            except Exception as err:  # capture is best effort: the records of this file are lost
                message = f"s3://{self.settings.bucket}/{key}: {type(err).__name__}: {err}"
                with self._lock:
                    self.errors = [*self.errors, message][-_MAX_ERRORS:]
                first_error = first_error or err
                continue
            written += 1
        with self._lock:
            self.files_written += written
        if raise_errors and first_error is not None:
            raise first_error
        return written

    def flush(self) -> int:
        """Write every buffer now; return the files written. Raises the first write error (after trying all)."""
        with self._lock:
            taken = self._take(list(self._buffers))
        return self._write_all(taken, raise_errors=True)

    def flush_due(self) -> int:
        """Write the buffers whose oldest record is ``max_age_seconds`` old; return the files written."""
        with self._lock:
            taken = self._take(self._aged())
        return self._write_all(taken, raise_errors=False)

    def start(self, interval_seconds: float = 5.0) -> None:
        """Flush aged buffers from a daemon thread every ``interval_seconds`` until :meth:`close`."""
        if self._flusher is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval_seconds):
                self.flush_due()

        self._flusher = threading.Thread(target=loop, name="data-capture-flusher", daemon=True)
        self._flusher.start()

    def close(self) -> int:
        """Stop the background flusher, if any, and write what is buffered."""
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=10)
            self._flusher = None
        return self.flush()
