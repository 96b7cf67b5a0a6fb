"""Reading the evaluation report (``evaluation.json``) that the Evaluate step wrote to S3."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]
from pydantic import ValidationError

from lambdas.quality_gate.models import EvaluationReport

REPORT_FILE = "evaluation.json"
#: A report is a few kilobytes; anything far larger is not one.
MAX_REPORT_BYTES = 1_000_000


class ReportError(RuntimeError):
    """The evaluation report is missing, unreadable or malformed; the message says what and where."""


def report_location(uri: str) -> str:
    """The report's object URI; a folder URI (ending in ``/``) means the ``evaluation.json`` in it."""
    return uri + REPORT_FILE if uri.endswith("/") else uri


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → ``(bucket, key)``."""
    bucket, _sep, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise ReportError(f"{uri!r} is not an S3 object URI (s3://<bucket>/<key>)")
    return bucket, key


def describe_problems(error: ValidationError) -> str:
    """Each problem as ``where: what`` (with the offending value when it is short), joined by ``; ``."""
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "document"
        value = item.get("input")
        shown = f" (got {value!r})" if isinstance(value, (int, float, str)) and len(repr(value)) <= 40 else ""
        problems.append(f"{where}: {item['msg']}{shown}")
    return "; ".join(problems)


def _read(s3: Any, uri: str) -> bytes:
    bucket, key = split_s3_uri(uri)
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404"):
            raise ReportError(
                f"evaluation report {uri} does not exist: the Evaluate step writes it (evaluation/{REPORT_FILE})"
            ) from None
        if code == "NoSuchBucket":
            raise ReportError(f"evaluation report {uri}: bucket {bucket} does not exist") from None
        raise
    if int(response.get("ContentLength") or 0) > MAX_REPORT_BYTES:
        raise ReportError(
            f"evaluation report {uri} holds {response['ContentLength']} bytes, more than a report can "
            f"({MAX_REPORT_BYTES}); is it the right object?"
        )
    return bytes(response["Body"].read(MAX_REPORT_BYTES + 1))


def read_report(s3: Any, uri: str) -> EvaluationReport:
    """The report at ``uri``, validated against schema_version 1.

    Raises :class:`ReportError` naming the object and each problem (field path and rule).
    """
    body = _read(s3, uri)
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ReportError(f"evaluation report {uri} is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ReportError(f"evaluation report {uri} must hold a JSON object, not {type(document).__name__}")
    if document.get("schema_version") != 1:
        raise ReportError(
            f"evaluation report {uri} has schema_version {document.get('schema_version')!r}; "
            "this gate reads schema_version 1"
        )
    try:
        return EvaluationReport.model_validate(document)
    except ValidationError as error:
        raise ReportError(f"evaluation report {uri} is invalid: {describe_problems(error)}") from None
