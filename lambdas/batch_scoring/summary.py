"""What a finished transform wrote: rows, bad rows (with their lines) and rows flagged as fraud.

SageMaker writes one output object per input object, ``<S3OutputPath><path of the input below
the S3Prefix>.out`` (SageMaker Developer Guide, "Batch transform": "Use batch transform to run
inference"; an empty input object yields no records). With ``SplitType: Line``,
``AssembleWith: Line`` and ``JoinSource: Input``, line *n* of an output file is line *n* of the
input file, a comma, and the container's answer ``probability,label,error`` (SageMaker
Developer Guide, "Associate prediction results with input records"). The inference container
answers a row it cannot score with an empty probability and label and the reason in ``error``
(``line <k>: <what was wrong>``, *k* counted within the mini-batch SageMaker sent, so it is
replaced here by the line within the file), and a header line (the feature names) with the
header ``probability,label,error``. The objects are read as streams, one line at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from lambdas.batch_scoring.models import BadRow, BatchSummary, FileCounts, SummaryEvent
from lambdas.batch_scoring.prepare import COMPLETION_MARKER

#: The columns the container appends to every input line.
ANSWER_COLUMNS = ["probability", "label", "error"]
#: Bad rows listed by line in the notification (all of them are counted).
MAX_BAD_SAMPLES = 10
#: Bytes read from S3 at a time.
CHUNK_BYTES = 1 << 20
_REQUEST_LINE = re.compile(r"^line \d+:\s*")
_MALFORMED = "the output line lacks the probability,label,error columns"


class BatchOutputError(RuntimeError):
    """The transform left an input without output: the failure route notifies with this message."""


def input_files(s3: Any, bucket: str, prefix: str) -> list[str]:
    """The batch's data objects below ``prefix`` (relative keys): not the marker, folders or empty objects."""
    files = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            relative = item["Key"][len(prefix) :]
            if relative and not relative.endswith("/") and relative != COMPLETION_MARKER and item.get("Size", 0) > 0:
                files.append(relative)
    return sorted(files)


def _answer(text: str) -> tuple[list[str], str | None]:
    """The line's last three columns and, for a row the model could not score, why."""
    parts = text.rsplit(",", len(ANSWER_COLUMNS))
    if len(parts) <= len(ANSWER_COLUMNS):
        return parts, _MALFORMED
    error = parts[-1].strip()
    return parts[-3:], (_REQUEST_LINE.sub("", error) or error) if error else None


def count_lines(lines: Iterable[bytes], counts: FileCounts, samples: list[BadRow]) -> FileCounts:
    """Count one output file's rows into ``counts``; append its first bad rows to ``samples``."""
    seen_content = False
    for number, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        if not text.strip():
            continue
        answer, problem = _answer(text)
        if not seen_content and answer == ANSWER_COLUMNS:
            seen_content = counts.header = True
            continue
        seen_content = True
        counts.rows += 1
        if problem is not None:
            counts.bad_rows += 1
            if len(samples) < MAX_BAD_SAMPLES:
                samples.append(BadRow(file=counts.file, line=number, reason=problem))
        elif answer[1].strip() == "1":
            counts.flagged += 1
    return counts


def _lines(s3: Any, bucket: str, key: str, expected_for: str) -> Iterator[bytes]:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except s3.exceptions.NoSuchKey:
        raise BatchOutputError(
            f"the transform job wrote no output for input {expected_for}: s3://{bucket}/{key} is missing"
        ) from None
    try:
        yield from body.iter_lines(chunk_size=CHUNK_BYTES)
    finally:
        body.close()


def summarize(request: SummaryEvent, s3: Any) -> BatchSummary:
    """Read every output file of the batch and count its rows; the result is ``$.batch``."""
    run = request.run
    bucket = run.data.bucket
    files = input_files(s3, bucket, run.data.prefix)
    if not files:
        raise BatchOutputError(f"batch {run.dataset} holds no data: {run.input_uri} has only its marker")
    samples: list[BadRow] = []
    counted = []
    for relative in files:
        key = f"{run.output_prefix}{relative}.out"
        counts = FileCounts(file=relative, output_key=key)
        counted.append(count_lines(_lines(s3, bucket, key, f"{run.input_uri}{relative}"), counts, samples))
    rows = sum(c.rows for c in counted)
    bad = sum(c.bad_rows for c in counted)
    return BatchSummary(
        dataset=run.dataset,
        input=run.input_uri,
        output=run.output_uri,
        rows=rows,
        scored=rows - bad,
        bad_rows=bad,
        flagged=sum(c.flagged for c in counted),
        files=counted,
        bad_samples=samples,
        version=request.version.version,
        model_package=request.version.arn,
        transform_job=request.transform.job_name,
        model=run.names.model,
    )
