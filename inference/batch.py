# ruff: noqa: N803, N806 - X is the feature matrix, as in scikit-learn
"""Batch mode: the server as a SageMaker batch transform container.

SageMaker runs the same image for a transform job (``docker run <image> serve``) and tells it so
through the environment (SageMaker Developer Guide, "Use Your Own Inference Code with Batch
Transform", https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-batch-code.html):

* ``SAGEMAKER_BATCH`` is ``true`` when the container runs a batch transform;
* ``SAGEMAKER_MAX_PAYLOAD_IN_MB`` is the largest request body SageMaker will send;
* ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS`` is how many ``/invocations`` requests it keeps open at once;
* ``SAGEMAKER_BATCH_STRATEGY`` (``SINGLE_RECORD`` / ``MULTI_RECORD``) needs nothing here: a
  request holds one line or many, and each line is answered on its own.

The last three come from the CreateTransformJob request and are set only when the request sets
them; otherwise SageMaker asks the container, before the first invocation, with
``GET /execution-parameters``, whose JSON answer names ``MaxConcurrentTransforms``,
``BatchStrategy`` and ``MaxPayloadInMB`` (the guide's example:
``{"MaxConcurrentTransforms": 8, "BatchStrategy": "MULTI_RECORD", "MaxPayloadInMB": 6}``). This
server answers with its own worker count, ``MULTI_RECORD`` and the payload bound it enforces.

In batch mode, ``Content-Type: text/csv`` with ``Accept: text/csv`` is answered line by line, so
that the transform job can put the answers next to their input lines (``JoinSource: Input``):
each input line gets exactly one output line ``probability,label,error``:

* a good row: ``0.0123...,0,`` (the probability as the JSON answers print it, then the label);
* a bad row: ``,,line 3: <what was wrong>``, the line number counted within the request and the
  message without commas or double quotes, so a bad row never fails the mini-batch (a 4xx would
  fail the whole transform job, and every other row with it);
* an empty cell (or ``nan``) is a missing value, accepted for the features the schema marks nullable;
* a header line, exactly the feature names of ``training.feature_schema``: ``probability,label,error``.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from inference.env_values import whole_number
from inference.model import LoadedModel
from training.feature_schema import (
    FEATURE_NAMES,
    FEATURES,
    MAX_NUMBER_CHARS,
    N_FEATURES,
    UTF8_BOM,
    PayloadError,
    float_or_nan,
    validate_row,
)

#: The answer to a header line, and the column names of every answer line.
HEADER_ANSWER: Final = "probability,label,error"
#: SageMaker's default MaxPayloadInMB (the guide's defaults table), and the most a job may ask for.
DEFAULT_MAX_PAYLOAD_MB: Final = 6
MAX_PAYLOAD_MB_LIMIT: Final = 100
MB: Final = 1024 * 1024

_MINIMUM: Final = np.array([f.minimum for f in FEATURES], dtype=np.float64)
_MAXIMUM: Final = np.array([f.maximum for f in FEATURES], dtype=np.float64)
_WHOLE: Final = np.array([f.kind in ("int", "bool") for f in FEATURES])
_NULLABLE: Final = np.array([f.nullable for f in FEATURES])


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """The batch transform variables, read once; ``enabled`` is False for a real-time endpoint."""

    enabled: bool = False
    max_payload_mb: int = DEFAULT_MAX_PAYLOAD_MB
    max_concurrent_transforms: int | None = None

    @property
    def max_payload_bytes(self) -> int:
        return self.max_payload_mb * MB

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> BatchSettings:
        """Read ``SAGEMAKER_BATCH`` and, in batch mode only, the payload and concurrency variables."""
        raw = env.get("SAGEMAKER_BATCH", "").strip().lower()
        if raw not in ("", "true", "false"):
            raise ValueError(f"SAGEMAKER_BATCH must be 'true' or 'false', got {raw[:20]!r}")
        if raw != "true":
            return cls()
        payload = whole_number(env, "SAGEMAKER_MAX_PAYLOAD_IN_MB", 1, MAX_PAYLOAD_MB_LIMIT)
        concurrency = whole_number(env, "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", 1, None)
        return cls(True, DEFAULT_MAX_PAYLOAD_MB if payload is None else payload, concurrency)

    def execution_parameters(self, workers: int) -> dict[str, Any]:
        """The ``GET /execution-parameters`` answer: one transform per worker process."""
        return {
            "MaxConcurrentTransforms": self.max_concurrent_transforms or workers,
            "BatchStrategy": "MULTI_RECORD",
            "MaxPayloadInMB": self.max_payload_mb,
        }

    def too_large(self, size: str) -> PayloadError:
        """The 413 for a mini-batch over the bound (``size`` e.g. ``"7340032 bytes"``)."""
        return PayloadError(
            413,
            f"the body is {size}; in batch mode a request holds at most {self.max_payload_bytes} bytes "
            f"(SAGEMAKER_MAX_PAYLOAD_IN_MB={self.max_payload_mb}, the transform job's MaxPayloadInMB): "
            "send smaller mini-batches",
        )


def wants_csv_lines(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for ``text/csv`` (a list such as ``text/csv, */*`` counts)."""
    kinds = (part.split(";", 1)[0].strip().lower() for part in (accept or "").split(","))
    return "text/csv" in kinds


def _clean(message: str) -> str:
    """A message that stays one CSV field: no commas, double quotes or line breaks."""
    return message.replace(",", ";").replace('"', "'").replace("\r", " ").replace("\n", " ")


def _error(number: int, message: str) -> str:
    prefix = f"row {number}: "
    if message.startswith(prefix):
        message = message[len(prefix) :]
    return ",," + _clean(f"line {number}: {message}")


def split_lines(body: bytes) -> list[str | None]:
    """The request's lines (``None`` for one that is not UTF-8); CRLF ends a line as LF does."""
    if body.startswith(UTF8_BOM):
        body = body[len(UTF8_BOM) :]
    try:
        lines: list[str | None] = list(body.decode("utf-8").split("\n"))
    except UnicodeDecodeError:
        lines = [_decoded(raw) for raw in body.split(b"\n")]
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line starts no line
    return [line[:-1] if line and line.endswith("\r") else line for line in lines]


def _decoded(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _slow_row(line: str | None, number: int) -> list[float] | str:
    """One line through the schema's own checks: its values, or its answer (an error or the header's)."""
    if line is None:
        return _error(number, "the line is not valid UTF-8; send CSV text encoded as UTF-8")
    if not line.strip():
        return _error(number, "the line is empty; send one row of features per line")
    try:
        fields = next(csv.reader([line], strict=True))
    except csv.Error as err:
        return _error(number, f"the CSV is malformed: {err}")
    if [field.strip() for field in fields] == list(FEATURE_NAMES):
        return HEADER_ANSWER
    try:
        return validate_row(fields, number)
    except PayloadError as err:
        return _error(number, err.message)


#: Below this many lines a block that fails the fast parse is left to the per-line path.
_SMALLEST_BLOCK: Final = 32


def _parse_block(lines: list[str]) -> npt.NDArray[np.float64] | None:
    """Plain lines of ``N_FEATURES`` fields each, converted at once; None if any field is not a plain number."""
    joined = ",".join(lines)
    if '"' in joined or "\r" in joined:
        return None
    fields = joined.split(",")
    if max(map(len, fields)) > MAX_NUMBER_CHARS:
        return None
    try:
        # float() is what validate_row converts with, so a block parses here exactly when it would there.
        values = np.fromiter(map(float, fields), dtype=np.float64, count=len(fields))
    except ValueError:
        try:  # empty cells are missing values (NaN); the checks below refuse them where the schema does
            values = np.fromiter(map(float_or_nan, fields), dtype=np.float64, count=len(fields))
        except ValueError:
            return None
    return values.reshape(len(lines), N_FEATURES)


def _fast_rows(lines: list[str | None], X: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Parse every line that can be parsed in bulk into ``X``; True where the row passed the schema.

    Validating row by row costs more than scoring, so lines with the right number of commas are
    parsed a block at a time; a block holding a bad line is halved until the bad line sits in a
    small block, which the per-line path then explains. The schema's checks run vectorized here;
    a row that fails one also goes to the per-line path, for its message.
    """
    parsed = np.zeros(len(lines), dtype=bool)
    commas = [line.count(",") if line is not None else -1 for line in lines]
    pending = [[i for i, count in enumerate(commas) if count == N_FEATURES - 1]]
    while pending:
        block = pending.pop()
        if not block:
            continue
        values = _parse_block([lines[i] or "" for i in block])
        if values is not None:
            X[block] = values
            parsed[block] = True
        elif len(block) > _SMALLEST_BLOCK:
            middle = len(block) // 2
            pending += [block[:middle], block[middle:]]
    with np.errstate(invalid="ignore"):
        good = np.isfinite(X) & (X >= _MINIMUM) & (X <= _MAXIMUM)
        good[:, _WHOLE] &= X[:, _WHOLE] == np.trunc(X[:, _WHOLE])
    passed = (good | (np.isnan(X) & _NULLABLE)).all(axis=1)
    result: npt.NDArray[np.bool_] = parsed & passed
    return result


def answer_csv_lines(model: LoadedModel, body: bytes) -> bytes:
    """One ``probability,label,error`` line per line of ``body`` (see the module docstring)."""
    lines = split_lines(body)
    if not lines:
        return b""
    X = np.zeros((len(lines), N_FEATURES), dtype=np.float64)
    valid = _fast_rows(lines, X)
    answers: list[str] = [""] * len(lines)
    for index in np.flatnonzero(~valid).tolist():
        parsed = _slow_row(lines[index], index + 1)
        if isinstance(parsed, str):
            answers[index] = parsed
        else:
            X[index], valid[index] = parsed, True
    everything = bool(valid.all())
    probabilities = model.score(X if everything else X[valid])
    labels = (probabilities >= model.threshold).astype(np.int8).tolist()
    scored = [f"{p!r},{label}," for p, label in zip(probabilities.tolist(), labels, strict=True)]
    if everything:
        answers = scored
    else:
        for index, answer in zip(np.flatnonzero(valid).tolist(), scored, strict=True):
            answers[index] = answer
    return ("\n".join(answers) + "\n").encode()
