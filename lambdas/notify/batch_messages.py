"""The notification of a scored batch (``$.batch``, the ``batch_scoring`` summary): where, how many, what failed.

A row the model could not score does not fail the transform: its output line ends in an empty
probability and label and the reason in the ``error`` column. The message counts those rows
and lists the first few by file and line, so whoever uploaded the batch can fix them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from lambdas.common.sns import execution_console_url, safe_subject
from lambdas.notify.models import Notification, NotifyEvent
from lambdas.notify.text import subject_prefix


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class BadRowInfo(_Loose):
    """One row the model could not score: its input file, its line in that file, and why."""

    file: str = "?"
    line: int | None = None
    reason: str = ""


class OutputFileInfo(_Loose):
    file: str = "?"
    rows: int = 0
    bad_rows: int = 0


class BatchInfo(_Loose):
    """``$.batch``: the summary the batch state machine's SummarizeBatch step returns."""

    dataset: str | None = None
    input: str | None = None
    output: str | None = None
    rows: int = 0
    scored: int | None = None
    bad_rows: int = 0
    flagged: int | None = None
    files: list[OutputFileInfo] = Field(default_factory=list)
    bad_samples: list[BadRowInfo] = Field(default_factory=list)
    version: str | None = None
    model_package: str | None = None
    transform_job: str | None = None
    model: str | None = None


def _bad_row_lines(batch: BatchInfo) -> list[str]:
    if not batch.bad_rows:
        return []
    shown = batch.bad_samples
    heading = (
        f"Bad rows (the first {len(shown)} of {batch.bad_rows}):"
        if len(shown) < batch.bad_rows
        else "Bad rows (not scored; their output line has an empty probability and label):"
    )
    return [
        "",
        heading,
        *(f"  {row.file} line {row.line if row.line is not None else '?'}: {row.reason or '-'}" for row in shown),
    ]


def _file_lines(batch: BatchInfo) -> list[str]:
    if len(batch.files) < 2:
        return []
    return ["", "Files:", *(f"  {f.file}: {f.rows} rows, {f.bad_rows} bad" for f in batch.files)]


def batch_notification(event: NotifyEvent, environment: str) -> Notification:
    """Which batch was scored with which version, where the scores are, and the counts."""
    batch = BatchInfo.model_validate(event.state.batch or {})
    name = batch.dataset or "?"
    version = batch.version or "?"
    scored = batch.scored if batch.scored is not None else batch.rows - batch.bad_rows
    files = f" in {len(batch.files)} files" if len(batch.files) > 1 else ""
    lines = [
        f"Batch {name} ({environment}) was scored with model version {version}: {batch.rows} rows, "
        f"{batch.bad_rows} could not be scored.",
        "",
        f"Input:           {batch.input or '-'}",
        f"Output:          {batch.output or '-'}",
        "                 (<input file>.out: each input line followed by probability,label,error)",
        f"Rows:            {batch.rows}{files}",
        f"Scored:          {scored}",
        f"Flagged fraud:   {batch.flagged if batch.flagged is not None else '-'}",
        f"Bad rows:        {batch.bad_rows}",
        f"Model version:   {version}",
        f"Model package:   {batch.model_package or '-'}",
        f"Transform job:   {batch.transform_job or '-'}",
        *_bad_row_lines(batch),
        *_file_lines(batch),
        "",
        f"Execution: {execution_console_url(event.execution_arn)}",
    ]
    bad = f", {batch.bad_rows} bad" if batch.bad_rows else ""
    subject = f"{subject_prefix(environment)} batch {name} scored: {batch.rows} rows{bad}"
    return Notification(subject=safe_subject(subject), message="\n".join(lines))
