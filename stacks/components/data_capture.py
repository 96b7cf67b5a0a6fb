"""Where and how the endpoint captures its requests and answers, and how long the captures are kept.

The endpoint config's ``DataCaptureConfig`` (SageMaker API Reference, "DataCaptureConfig";
SageMaker Developer Guide, "Capture data from real-time endpoint") names the destination, the
sampling percentage, the KMS key of the capture objects and the content types SageMaker
records as text: a body whose content type is in ``CsvContentTypes`` is stored with
``encoding`` CSV, in ``JsonContentTypes`` with JSON, anything else base64-encoded. SageMaker
writes ``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl`` as the endpoint's
execution role, so that role writes under :data:`CAPTURE_PREFIX` with the key.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_s3 as s3

#: The artifacts bucket's folder of capture files (``DestinationS3Uri`` is ``s3://<artifacts>/data-capture``).
CAPTURE_FOLDER = "data-capture"
CAPTURE_PREFIX = f"{CAPTURE_FOLDER}/"
#: What the inference container takes and answers (``python -m inference.serve``).
CSV_CONTENT_TYPES = ["text/csv"]
JSON_CONTENT_TYPES = ["application/json"]
#: The noncurrent versions the bucket keeps after a capture file expires (the bucket is versioned).
NONCURRENT_CAPTURE_DAYS = 1


def capture_destination(bucket: s3.IBucket) -> str:
    """``s3://<bucket>/data-capture``: SageMaker appends ``/<endpoint>/<variant>/...`` itself."""
    return bucket.s3_url_for_object(CAPTURE_FOLDER)


def data_capture_config(*, sampling_percentage: int, destination: str, key_arn: str) -> dict[str, Any]:
    """CreateEndpointConfig's ``DataCaptureConfig``: input and output, encrypted with ``key_arn``."""
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": sampling_percentage,
        "DestinationS3Uri": destination,
        "KmsKeyId": key_arn,
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": CSV_CONTENT_TYPES, "JsonContentTypes": JSON_CONTENT_TYPES},
    }


def expire_captures(bucket: s3.Bucket, *, retention_days: int) -> None:
    """Delete capture files from ``bucket`` ``retention_days`` after they were written.

    Captured requests are production data, so their retention is a promise: the bucket is
    versioned, and without ``noncurrent_version_expiration`` an expired file would live on as a
    noncurrent version for the bucket-wide period (90 or 365 days). Where two lifecycle rules
    overlap, S3 applies the shorter expiration (S3 User Guide, "Lifecycle configuration elements").
    """
    bucket.add_lifecycle_rule(
        id="ExpireDataCapture",
        prefix=CAPTURE_PREFIX,
        expiration=Duration.days(retention_days),
        noncurrent_version_expiration=Duration.days(NONCURRENT_CAPTURE_DAYS),
    )
