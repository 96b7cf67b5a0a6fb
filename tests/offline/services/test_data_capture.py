"""Data capture offline: SageMaker's record format and S3 layout, the sampling percentage, buffering and flushing."""

from __future__ import annotations

import base64
import datetime
import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from offline.services.data_capture import DataCapture, split_s3_uri
from training.drift.capture import read_capture

KEY = "arn:aws:kms:us-east-1:123456789012:key/abc"
CONFIG = {
    "EnableCapture": True,
    "InitialSamplingPercentage": 100,
    "DestinationS3Uri": "s3://artifacts-bucket/data-capture",
    "KmsKeyId": KEY,
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
}
AT = datetime.datetime(2026, 11, 24, 12, 34, 56, 789_000, tzinfo=datetime.UTC)
ROW = b"120.5,13,4.2,0,2,800,1,0.02"
ANSWER = b'{"predictions":[{"probability":0.01234567,"label":0}],"model_version":"3"}'


class Bucket:
    """The injected ``put_object``: keeps what was written, thread-safely."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.calls: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()

    def __call__(self, bucket: str, key: str, body: bytes, kms_key_id: str | None) -> None:
        with self._lock:
            self.objects[key] = body
            self.calls.append((bucket, key, kms_key_id))

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for body in self.objects.values() for line in body.decode().splitlines()]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _invoke(capture: DataCapture, at: datetime.datetime | float = AT, **extra: Any) -> bool:
    call: dict[str, Any] = {
        "endpoint": "fraud-detector-dev",
        "variant": "AllTraffic",
        "request": ROW,
        "request_type": "text/csv",
        "response": ANSWER,
        "response_type": "application/json",
        "at": at,
    }
    return capture.record(**(call | extra))


def test_a_record_has_sagemakers_format() -> None:
    # Given a CSV request answered in JSON, with an InferenceId
    bucket = Bucket()
    capture = DataCapture(CONFIG, bucket)
    assert _invoke(capture, inference_id="txn-42")
    capture.flush()
    # Then the one line is SageMaker's capture record
    (record,) = bucket.records()
    assert record["captureData"] == {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": ROW.decode(), "encoding": "CSV"},
        "endpointOutput": {
            "observedContentType": "application/json",
            "mode": "OUTPUT",
            "data": ANSWER.decode(),
            "encoding": "JSON",
        },
    }
    metadata = record["eventMetadata"]
    assert uuid.UUID(metadata["eventId"]).version == 4
    assert (metadata["inferenceId"], metadata["inferenceTime"]) == ("txn-42", "2026-11-24T12:34:56Z")
    assert record["eventVersion"] == "0"


def test_without_an_inference_id_the_metadata_has_none() -> None:
    bucket = Bucket()
    capture = DataCapture(CONFIG, bucket)
    _invoke(capture)
    capture.flush()
    assert set(bucket.records()[0]["eventMetadata"]) == {"eventId", "inferenceTime"}


def test_other_content_types_and_non_utf8_text_are_base64() -> None:
    # Given an undeclared content type, and a declared one whose bytes are not UTF-8
    bucket = Bucket()
    capture = DataCapture(CONFIG, bucket)
    _invoke(capture, request=b"\x93NUMPY", request_type="application/x-npy")
    _invoke(capture, request=b"\xff\xfe1,2", request_type="text/csv; charset=utf-8")
    capture.flush()
    first, second = (r["captureData"]["endpointInput"] for r in bucket.records())
    assert (first["encoding"], base64.b64decode(first["data"])) == ("BASE64", b"\x93NUMPY")
    assert (second["encoding"], base64.b64decode(second["data"])) == ("BASE64", b"\xff\xfe1,2")
    # And the observed content type is the header as sent
    assert second["observedContentType"] == "text/csv; charset=utf-8"


def test_capture_options_choose_input_output_or_both() -> None:
    bucket = Bucket()
    _invoke(capture := DataCapture(CONFIG | {"CaptureOptions": [{"CaptureMode": "Input"}]}, bucket))
    capture.flush()
    assert set(bucket.records()[0]["captureData"]) == {"endpointInput"}
    bucket = Bucket()
    _invoke(capture := DataCapture(CONFIG | {"CaptureOptions": [{"CaptureMode": "InputAndOutput"}]}, bucket))
    capture.flush()
    assert set(bucket.records()[0]["captureData"]) == {"endpointInput", "endpointOutput"}


def test_files_land_in_sagemakers_layout_with_the_kms_key() -> None:
    bucket = Bucket()
    capture = DataCapture(CONFIG, bucket)
    _invoke(capture)
    _invoke(capture, variant="Canary")
    capture.flush()
    keys = sorted(key for _, key, _ in bucket.calls)
    pattern = r"data-capture/fraud-detector-dev/{}/2026/11/24/12/34-56-789-[0-9a-f-]{{36}}\.jsonl"
    assert re.fullmatch(pattern.format("AllTraffic"), keys[0])
    assert re.fullmatch(pattern.format("Canary"), keys[1])
    assert {(b, k) for b, _, k in bucket.calls} == {("artifacts-bucket", KEY)}


def test_a_destination_without_a_prefix_and_epoch_times() -> None:
    bucket = Bucket()
    capture = DataCapture(CONFIG | {"DestinationS3Uri": "s3://bare-bucket/", "KmsKeyId": ""}, bucket)
    _invoke(capture, at=AT.timestamp())
    capture.flush()
    ((name, key, kms),) = bucket.calls
    assert (name, kms) == ("bare-bucket", None)
    assert key.startswith("fraud-detector-dev/AllTraffic/2026/11/24/12/34-56-789-")


def test_a_destination_must_be_an_s3_uri() -> None:
    assert split_s3_uri("s3://b/p/q/") == ("b", "p/q")
    with pytest.raises(ValueError, match="s3://"):
        DataCapture(CONFIG | {"DestinationS3Uri": "https://b/p"}, Bucket())


@pytest.mark.parametrize("percentage", [20, 50])
def test_the_sampling_percentage_is_honoured(percentage: int) -> None:
    # Given 4,000 invocations at the percentage
    capture = DataCapture(CONFIG | {"InitialSamplingPercentage": percentage}, Bucket())
    captured = sum(_invoke(capture) for _ in range(4_000))
    # Then the captured share is within 2 points of it, and the counters agree
    assert abs(100 * captured / 4_000 - percentage) < 2
    assert (capture.captured, capture.sampled_out) == (captured, 4_000 - captured)


def test_sampling_is_repeatable_with_its_seed() -> None:
    def draws(seed: int) -> list[bool]:
        capture = DataCapture(CONFIG | {"InitialSamplingPercentage": 50}, Bucket(), seed=seed)
        return [_invoke(capture) for _ in range(200)]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)


@pytest.mark.parametrize("change", [{"InitialSamplingPercentage": 0}, {"EnableCapture": False}])
def test_nothing_is_captured_at_zero_percent_or_when_disabled(change: dict[str, Any]) -> None:
    bucket = Bucket()
    capture = DataCapture(CONFIG | change, bucket)
    assert not any(_invoke(capture) for _ in range(100))
    assert capture.flush() == 0
    assert bucket.objects == {}


def test_a_full_buffer_is_written_at_once() -> None:
    # Given buffers of at most 3 records
    bucket = Bucket()
    capture = DataCapture(CONFIG, bucket, max_records=3)
    # When 7 invocations are captured
    for _ in range(7):
        _invoke(capture)
    # Then two files of 3 were written, and the 7th waits for the flush
    assert sorted(len(b.splitlines()) for b in bucket.objects.values()) == [3, 3]
    assert capture.flush() == 1
    assert len(bucket.records()) == 7


def test_an_old_buffer_is_written_on_the_next_record_or_by_flush_due() -> None:
    clock, bucket = Clock(), Bucket()
    capture = DataCapture(CONFIG, bucket, max_age_seconds=60, monotonic=clock)
    _invoke(capture)
    clock.now = 30
    assert capture.flush_due() == 0
    clock.now = 61
    assert capture.flush_due() == 1
    _invoke(capture)
    clock.now = 200
    _invoke(capture, variant="Canary")  # the AllTraffic buffer is 139 s old: written now
    assert len(bucket.objects) == 2


def test_a_new_hour_closes_the_previous_hours_file() -> None:
    bucket = Bucket()
    capture = DataCapture(CONFIG, bucket)
    _invoke(capture)
    _invoke(capture, at=AT + datetime.timedelta(hours=1))
    ((key, body),) = bucket.objects.items()
    assert "/2026/11/24/12/" in key
    assert len(body.splitlines()) == 1
    capture.flush()
    assert any("/2026/11/24/13/" in key for key in bucket.objects)


def test_records_from_many_threads_are_each_written_once() -> None:
    bucket = Bucket()
    capture = DataCapture(CONFIG, bucket, max_records=50)

    def send(worker: int) -> None:
        for i in range(100):
            _invoke(capture, inference_id=f"{worker}-{i}")

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    capture.flush()
    ids = [r["eventMetadata"]["inferenceId"] for r in bucket.records()]
    assert sorted(ids) == sorted(f"{w}-{i}" for w in range(8) for i in range(100))


def test_a_failed_write_never_fails_the_invocation_but_flush_reports_it() -> None:
    def refuse(bucket: str, key: str, body: bytes, kms_key_id: str | None) -> None:
        raise PermissionError("AccessDenied: s3:PutObject")

    capture = DataCapture(CONFIG, refuse, max_records=1)
    assert _invoke(capture) is True
    assert "AccessDenied" in capture.errors[0]
    capture2 = DataCapture(CONFIG, refuse)
    _invoke(capture2)
    with pytest.raises(PermissionError):
        capture2.flush()


def test_the_background_flusher_writes_aged_buffers_and_close_writes_the_rest() -> None:
    clock, bucket = Clock(), Bucket()
    capture = DataCapture(CONFIG, bucket, max_age_seconds=60, monotonic=clock)
    capture.start(interval_seconds=0.01)
    _invoke(capture)
    clock.now = 61
    deadline = time.monotonic() + 5
    while not bucket.objects and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(bucket.objects) == 1
    _invoke(capture, variant="Canary")
    assert capture.close() == 1
    assert len(bucket.objects) == 2


def test_the_drift_job_reads_what_capture_writes(tmp_path: Path) -> None:
    # Given capture files written to a folder as S3 would hold them
    def to_disk(bucket: str, key: str, body: bytes, kms_key_id: str | None) -> None:
        path = tmp_path / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)

    capture = DataCapture(CONFIG, to_disk)
    _invoke(capture, request=ROW + b"\n" + ROW, response=ANSWER.replace(b"}]", b'},{"probability":0.5,"label":1}]'))
    _invoke(capture, request=b'{"instances": [[1, 2, 3, 0, 1, 10, 0, 0.1]]}', request_type="application/json")
    capture.flush()
    # When the drift job's reader reads them
    rows = read_capture(tmp_path / "data-capture")
    # Then it finds every row paired with its prediction
    assert (rows.requests, rows.rows) == (2, 3)
    assert rows.probability.tolist() == [0.01234567, 0.5, 0.01234567]
    assert rows.values[2].tolist() == [1, 2, 3, 0, 1, 10, 0, 0.1]
