"""Reading SageMaker data capture files into feature rows, each paired with its prediction.

The format is SageMaker's (SageMaker Developer Guide, "Capture data from real-time endpoint",
https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html): JSON
Lines files, one capture record per request::

    {"captureData": {"endpointInput":  {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "...", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                        "data": "...", "encoding": "JSON"}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceId": "<optional>", "inferenceTime": "...Z"},
     "eventVersion": "0"}

``encoding`` ``BASE64`` means ``data`` is base64 of the body; the body is then read by its
``observedContentType``. A request holds one or many rows: CSV lines, or the ``instances`` of a
JSON body (lists in schema order or ``{name: value}`` objects). Its output holds one prediction per
row (``{"predictions": [{"probability": p, ...}], "model_version": ...}``, or CSV lines whose first
field is the probability), paired with the rows by position.

Unlike the serving parser, which refuses a whole request for one bad value, this reader keeps
every row and classifies each cell: **missing** (an empty CSV cell, a JSON ``null`` or an absent
name) or **invalid** (not a number, not finite, outside the schema's range, a fraction where the
schema wants a whole number, or a row of the wrong width: all its cells). Those cells are NaN in
:attr:`CapturedRows.values` and left out of the statistics; their rates are reported.

Row keys (for joining ground-truth labels): a request of one row is keyed by its ``eventId``
(and its ``inferenceId`` when the caller sent one); every row, also of a single-row request, by
``<id>:<index>``, the index counting the request's rows from 0.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime
import io
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from training.feature_schema import FEATURE_NAMES, FEATURES, N_FEATURES, media_type

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CSV_TYPE: Final = "text/csv"
JSON_TYPE: Final = "application/json"
_MISSING: Final = object()
_INVALID: Final = object()


class CaptureFormatError(ValueError):
    """One capture record (or body) that cannot be read; the reader counts it and goes on."""


@dataclass
class CapturedRows:
    """The rows of the capture records inside the window, in file and line order."""

    values: FloatArray
    missing: BoolArray
    invalid: BoolArray
    #: The prediction paired with each row; NaN when the record had no (matching) output.
    probability: FloatArray
    #: The ``model_version`` of each row's response, if it named one.
    model_versions: list[str | None]
    #: The ids a label may use for each row (see the module docstring).
    keys: list[tuple[str, ...]]
    requests: int = 0
    #: Counters of what was left out, e.g. ``outside_window``, ``unreadable``, ``unpaired_output``.
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])


@dataclass
class _Builder:
    cells: list[list[Any]] = field(default_factory=list)
    probability: list[float] = field(default_factory=list)
    model_versions: list[str | None] = field(default_factory=list)
    keys: list[tuple[str, ...]] = field(default_factory=list)
    requests: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


def parse_time(text: str) -> datetime.datetime:
    """An ISO 8601 time (``...Z`` or with an offset) as an aware UTC datetime; naive means UTC."""
    moment = datetime.datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


def decode(part: dict[str, Any]) -> tuple[str, str]:
    """``(media type, text)`` of a captured ``endpointInput`` / ``endpointOutput``."""
    data, encoding = part.get("data"), str(part.get("encoding", "")).upper()
    if not isinstance(data, str):
        raise CaptureFormatError("its data is not a string")
    kind = media_type(part.get("observedContentType"))
    if encoding == "BASE64":
        try:
            data = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as err:
            raise CaptureFormatError(f"its BASE64 data is not base64 of UTF-8 text: {err}") from None
    elif encoding not in ("CSV", "JSON"):
        raise CaptureFormatError(f"unknown encoding {encoding!r}")
    return kind, data


def _cell(raw: Any) -> Any:
    """A number, or ``_MISSING`` / ``_INVALID``."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return _MISSING
    if isinstance(raw, bool | list | dict):
        return _INVALID
    try:
        number = float(raw)
    except (TypeError, ValueError, OverflowError):
        return _INVALID
    return number if math.isfinite(number) else _INVALID


def input_rows(kind: str, text: str) -> list[list[Any]]:
    """The cells of each row of a request body (``_MISSING`` / ``_INVALID`` where not a finite number)."""
    if kind == CSV_TYPE:
        rows: list[list[Any]] = []
        for fields in csv.reader(io.StringIO(text, newline="")):
            if not any(f.strip() for f in fields) or [f.strip() for f in fields] == list(FEATURE_NAMES):
                continue
            rows.append([_cell(f) for f in fields] if len(fields) == N_FEATURES else [_INVALID] * N_FEATURES)
        return rows
    if kind != JSON_TYPE:
        raise CaptureFormatError(f"content type {kind or 'none'!r} is neither CSV nor JSON")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise CaptureFormatError(f"its input is not JSON: {err.msg}") from None
    instances = document.get("instances") if isinstance(document, dict) else None
    if not isinstance(instances, list):
        raise CaptureFormatError('its JSON input has no "instances" list')
    rows = []
    for instance in instances:
        if isinstance(instance, dict):
            rows.append([_cell(instance.get(name)) for name in FEATURE_NAMES])
        elif isinstance(instance, list) and len(instance) == N_FEATURES:
            rows.append([_cell(v) for v in instance])
        else:
            rows.append([_INVALID] * N_FEATURES)
    return rows


def output_predictions(kind: str, text: str) -> tuple[list[float], str | None]:
    """The probabilities of a response body, in row order, and its ``model_version`` if any."""
    if kind == JSON_TYPE:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            raise CaptureFormatError(f"its output is not JSON: {err.msg}") from None
        predictions = document.get("predictions") if isinstance(document, dict) else None
        if not isinstance(predictions, list):
            raise CaptureFormatError('its JSON output has no "predictions" list (an error answer)')
        version = document.get("model_version")
        probabilities = [_probability(p.get("probability") if isinstance(p, dict) else p) for p in predictions]
        return probabilities, str(version) if version is not None else None
    if kind == CSV_TYPE:
        lines = [line for line in text.splitlines() if line.strip()]
        return [_probability(line.split(",", 1)[0]) for line in lines], None
    raise CaptureFormatError(f"output content type {kind or 'none'!r} is neither CSV nor JSON")


def _probability(raw: Any) -> float:
    value = _cell(raw)
    return float(value) if isinstance(value, float) and 0.0 <= value <= 1.0 else math.nan


def _row_keys(metadata: dict[str, Any], count: int) -> list[tuple[str, ...]]:
    ids = [str(metadata[k]) for k in ("eventId", "inferenceId") if metadata.get(k)]
    return [tuple([f"{i}:{index}" for i in ids] + (ids if count == 1 else [])) for index in range(count)]


def _add_record(builder: _Builder, record: Any, window: tuple[datetime.datetime | None, ...]) -> None:
    if not isinstance(record, dict) or not isinstance(record.get("captureData"), dict):
        raise CaptureFormatError("it is not a capture record (no captureData)")
    metadata = record.get("eventMetadata") or {}
    try:
        moment = parse_time(str(metadata["inferenceTime"]))
    except (KeyError, ValueError):
        raise CaptureFormatError("its eventMetadata.inferenceTime is missing or not ISO 8601") from None
    start, end = window
    if (start is not None and moment < start) or (end is not None and moment >= end):
        builder.skipped["outside_window"] += 1
        return
    capture = record["captureData"]
    if not isinstance(capture.get("endpointInput"), dict):
        raise CaptureFormatError("it has no endpointInput (capture the input: CaptureMode Input)")
    rows = input_rows(*decode(capture["endpointInput"]))
    probabilities, version = [math.nan] * len(rows), None
    if isinstance(capture.get("endpointOutput"), dict):
        try:
            answered, version = output_predictions(*decode(capture["endpointOutput"]))
        except CaptureFormatError:
            answered = []
        if len(answered) == len(rows):
            probabilities = answered
        else:
            builder.skipped["unpaired_output"] += 1
    builder.requests += 1
    builder.cells.extend(rows)
    builder.probability.extend(probabilities)
    builder.model_versions.extend([version] * len(rows))
    builder.keys.extend(_row_keys(metadata, len(rows)))


def capture_files(directory: Path) -> list[Path]:
    """Every ``*.jsonl`` below ``directory`` (any depth), sorted: SageMaker's hour folders sort in time order."""
    return sorted(p for p in directory.rglob("*.jsonl") if p.is_file()) if directory.is_dir() else []


def _lines(files: list[Path]) -> Iterator[str]:
    for path in files:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            yield from (line for line in handle if line.strip())


def read_capture(
    directory: Path, start: datetime.datetime | None = None, end: datetime.datetime | None = None
) -> CapturedRows:
    """The rows captured in ``[start, end)`` (by ``inferenceTime``) in the capture files below ``directory``.

    A line that is not a readable capture record is counted in ``skipped["unreadable"]`` and
    left out: one bad line must not blind the job to the rest of the day.
    """
    builder = _Builder()
    for line in _lines(capture_files(directory)):
        try:
            _add_record(builder, json.loads(line), (start, end))
        except (json.JSONDecodeError, CaptureFormatError):
            builder.skipped["unreadable"] += 1
    return _finish(builder)


def _finish(builder: _Builder) -> CapturedRows:
    n = len(builder.cells)
    values = np.full((n, N_FEATURES), np.nan)
    missing = np.zeros((n, N_FEATURES), dtype=bool)
    invalid = np.zeros((n, N_FEATURES), dtype=bool)
    for i, row in enumerate(builder.cells):
        for j, cell in enumerate(row):
            if cell is _MISSING:
                missing[i, j] = True
            elif cell is _INVALID:
                invalid[i, j] = True
            else:
                values[i, j] = cell
    for j, feature in enumerate(FEATURES):
        column = values[:, j]
        with np.errstate(invalid="ignore"):
            bad = (column < feature.minimum) | (column > feature.maximum)
            if feature.kind in ("int", "bool"):
                bad |= np.isfinite(column) & (column != np.floor(column))
        invalid[:, j] |= bad
        column[bad] = np.nan
    return CapturedRows(
        values=values,
        missing=missing,
        invalid=invalid,
        probability=np.asarray(builder.probability, dtype=np.float64),
        model_versions=builder.model_versions,
        keys=builder.keys,
        requests=builder.requests,
        skipped=builder.skipped,
    )
