"""The one definition of the model's input features.

Training, the serving container and the inference proxy Lambda all import this
module; none of them restates a feature name, order or range. It is pure
standard library on purpose: the Lambda asset vendors this single file (see
``LAMBDA_SHARED_PATHS`` in ``stacks/components/source_bundle.py``) and must not
drag numpy or scikit-learn along.

The payload parsers here are shared by ``inference.serve`` (``/invocations``)
and the ``inference_proxy`` Lambda (``POST /predict``), so a request that one
rejects the other rejects with the same message.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

LABEL: Final = "is_fraud"

#: SageMaker InvokeEndpoint takes a request Body and returns a response Body of at most 6 MB
#: each (6,291,456 bytes: SageMaker API Reference, "InvokeEndpoint", Body "Maximum length of
#: 6291456"; https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html).
MAX_PAYLOAD_BYTES: Final = 6 * 1024 * 1024

#: Rows one request may hold. The answer's size, not the request's, binds: a prediction renders as
#: at most 50 bytes (54 once the proxy's response escapes it as a JSON string), so 100,000 rows
#: answer in under 5.4 MB, inside SageMaker's 6 MB response Body and Lambda's 6 MB synchronous
#: response payload (AWS Lambda Developer Guide, "Lambda quotas",
#: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). The largest batch
#: scores in seconds, far inside API Gateway's 29 s integration timeout: measured by
#: ``python -m bench.batch_limits``, written in docs/benchmarks.md.
MAX_ROWS_PER_REQUEST: Final = 100_000

#: Where a caller goes with more rows than one request may hold.
BATCH_SCORING_HINT: Final = (
    "split the rows into several requests, or score large sets with a SageMaker batch transform job"
)

#: API Gateway refuses a REST API request body over 10 MB itself (API Gateway Developer Guide,
#: "Amazon API Gateway quotas", https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html),
#: and cannot pass its Lambda function an event over Lambda's 6 MB invocation payload (the body as
#: a JSON string, with headers and context: "Lambda quotas"). The stack sets API Gateway's
#: REQUEST_TOO_LARGE gateway response to this message (``stacks.components.inference_api``) and
#: offline mode's local API answers it in both cases.
API_GATEWAY_MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024
REQUEST_TOO_LARGE_MESSAGE: Final = (
    f"the request body is too large for the prediction API: a request holds at most {MAX_ROWS_PER_REQUEST:,} "
    f"rows and {MAX_PAYLOAD_BYTES} bytes (6 MB; the API cannot pass a larger body to its Lambda function, "
    f"and refuses one over 10 MB outright): {BATCH_SCORING_HINT}"
)

#: The byte order mark Excel and Notepad put before UTF-8 text.
UTF8_BOM: Final = b"\xef\xbb\xbf"

#: No feature value needs more characters than this; longer ones are refused before conversion
#: (a JSON integer of thousands of digits would otherwise overflow or exceed Python's int limit).
MAX_NUMBER_CHARS: Final = 64

#: The model artifact layout, a contract between ``training.train`` (writes it into
#: ``SM_MODEL_DIR``) and ``inference.serve`` (reads it from ``/opt/ml/model``). Both
#: sides import these names from here because this is the one module both images hold.
#: The model is ONNX: a graph of operators and numbers that cannot run code when it is loaded.
MODEL_FILE: Final = "model.onnx"
MODEL_METADATA_FILE: Final = "model.json"
#: The pickle earlier versions served. Nothing reads it any more: a file of this name in a model
#: directory is ignored (unpickling runs whatever code the file carries).
LEGACY_PICKLE_FILE: Final = "model.joblib"

CSV_CONTENT_TYPE: Final = "text/csv"
JSON_CONTENT_TYPE: Final = "application/json"
SUPPORTED_CONTENT_TYPES: Final = (CSV_CONTENT_TYPE, JSON_CONTENT_TYPE)


@dataclass(frozen=True, slots=True)
class Feature:
    """One model input column: its name, kind, the closed range it may take, and whether it may be missing.

    A missing value (an empty CSV cell, a JSON ``null``, or NaN) of a ``nullable`` feature reaches
    the model as NaN, which the gradient-boosted trees route by what they learned about missing
    values; for any other feature it is refused.
    """

    name: str
    kind: str  # "float", "int" or "bool"
    minimum: float
    maximum: float
    description: str
    nullable: bool = False

    def check(self, value: float) -> float:
        """Return ``value`` if it is a number inside the range (or NaN, when nullable), else raise."""
        if math.isnan(value) and self.nullable:
            return value
        if not math.isfinite(value):
            raise PayloadError(400, f"feature '{self.name}' must be a finite number, got {value}")
        if value < self.minimum or value > self.maximum:
            raise PayloadError(
                400,
                f"feature '{self.name}' is out of range: {_fmt(value)} is not within "
                f"[{_fmt(self.minimum)}, {_fmt(self.maximum)}]",
            )
        if self.kind in ("int", "bool") and value != int(value):
            raise PayloadError(400, f"feature '{self.name}' must be a whole number, got {_fmt(value)}")
        return value


#: What every transaction carries (its amount, time and channel) is required; what comes from other
#: systems (geolocation, the billing address, the card's history, the account record, the merchant's
#: history) may be missing.
FEATURES: Final[tuple[Feature, ...]] = (
    Feature("amount", "float", 0.0, 100_000.0, "transaction amount in the account currency"),
    Feature("hour_of_day", "int", 0, 23, "local hour the transaction happened"),
    Feature("distance_from_home_km", "float", 0.0, 20_000.0, "distance from the card holder's home", True),
    Feature("state_mismatch", "bool", 0, 1, "1 when the merchant state differs from the billing state", True),
    Feature("transactions_last_24h", "int", 0, 1_000, "card transactions in the previous 24 hours", True),
    Feature("account_age_days", "int", 0, 36_500, "days since the account was opened", True),
    Feature("is_online", "bool", 0, 1, "1 for card-not-present transactions"),
    Feature("merchant_risk_score", "float", 0.0, 1.0, "the merchant category's historical fraud rate", True),
)

FEATURE_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in FEATURES)
REQUIRED_FEATURES: Final[tuple[str, ...]] = tuple(f.name for f in FEATURES if not f.nullable)
NULLABLE_FEATURES: Final[tuple[str, ...]] = tuple(f.name for f in FEATURES if f.nullable)
_BY_NAME: Final[dict[str, int]] = {name: i for i, name in enumerate(FEATURE_NAMES)}
N_FEATURES: Final = len(FEATURES)
#: Per feature, for the fast check of a plain CSV row: (minimum, maximum, whether it is whole).
_BOUNDS: Final = tuple((f.minimum, f.maximum, f.kind in ("int", "bool")) for f in FEATURES)


class PayloadError(ValueError):
    """A request the caller must fix; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Payload:
    """A validated request: its rows, its media type, and the bytes to forward to the model.

    ``body`` is the caller's own bytes, without a leading BOM: a proxy forwards it as it is
    instead of re-serializing the rows (which could change its size or its numbers).
    """

    rows: list[list[float]]
    media_type: str
    body: bytes


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def media_type(content_type: str | None) -> str:
    """``'text/csv; charset=utf-8'`` → ``'text/csv'``; missing → ``''``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _charset(content_type: str | None) -> str | None:
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


_UTF8_CHARSETS: Final = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})
_NOT_UTF8: Final = "the body is not valid UTF-8"
_SEND_TEXT: Final = "send CSV or JSON text encoded as UTF-8"
_SHAPE: Final = (
    f'{{"instances": [[{N_FEATURES} numbers], ...]}} or {{"instances": [{{"feature name": number, ...}}, ...]}}'
)


def payload_too_large(size: str) -> PayloadError:
    """The 413 for a body of ``size`` (e.g. ``"7340032 bytes"``) over :data:`MAX_PAYLOAD_BYTES`."""
    return PayloadError(
        413,
        f"the body is {size}; the limit is {MAX_PAYLOAD_BYTES} bytes (6 MB, SageMaker's InvokeEndpoint "
        f"payload limit): {BATCH_SCORING_HINT}",
    )


def _too_many_rows() -> PayloadError:
    return PayloadError(
        413,
        f"the body holds more than {MAX_ROWS_PER_REQUEST:,} rows; a request holds at most "
        f"{MAX_ROWS_PER_REQUEST:,} rows, so that its answer fits the 6 MB response limit and arrives well "
        f"within API Gateway's 29-second timeout: {BATCH_SCORING_HINT}",
    )


def _is_missing(raw: Any) -> bool:
    """An empty CSV cell, a JSON ``null`` or NaN (pandas' reading of an empty cell, and a JSON ``NaN``)."""
    if raw is None:
        return True
    if isinstance(raw, float):
        return math.isnan(raw)
    if isinstance(raw, str):
        text = raw.strip()
        return not text or text.lower() == "nan"
    return False


def float_or_nan(field: str) -> float:
    """A CSV field as a float, an empty (or blank) one as NaN: the bulk parsers' reading of a missing value."""
    return float(field) if field.strip() else math.nan


def _refuse_missing(row: int, names: list[str]) -> PayloadError:
    listed = ", ".join(names)
    many = len(names) > 1
    return PayloadError(
        400,
        f"row {row}: feature{'s' if many else ''} {listed} {'are' if many else 'is'} missing and may not be "
        f"(required: {', '.join(REQUIRED_FEATURES)}; an empty cell or null is accepted for "
        f"{', '.join(NULLABLE_FEATURES)})",
    )


def _to_number(raw: Any, column: str, row: int) -> float:
    if isinstance(raw, bool) or raw is None:
        raise PayloadError(400, f"row {row}: feature '{column}' must be a number, got {json.dumps(raw)}")
    if isinstance(raw, list | dict):
        kind = "array" if isinstance(raw, list) else "object"
        raise PayloadError(400, f"row {row}: feature '{column}' must be a number, got a JSON {kind}")
    if isinstance(raw, int | float):
        try:
            return float(raw)
        except OverflowError:
            raise PayloadError(400, f"row {row}: feature '{column}' is too large to be a number") from None
    text = str(raw).strip()
    if len(text) > MAX_NUMBER_CHARS:
        raise PayloadError(
            400, f"row {row}: feature '{column}' is {len(text)} characters long; a value is a number such as 125.5"
        )
    try:
        return float(text)
    except ValueError:
        raise PayloadError(400, f"row {row}: feature '{column}' must be a number, got {text[:40]!r}") from None


def validate_row(values: list[Any], row: int = 1) -> list[float]:
    """Check one ordered row of raw values against the schema; return floats."""
    if len(values) != N_FEATURES:
        raise PayloadError(
            400,
            f"row {row}: expected {N_FEATURES} features ({', '.join(FEATURE_NAMES)}), got {len(values)}",
        )
    missing = [f.name for f, raw in zip(FEATURES, values, strict=True) if not f.nullable and _is_missing(raw)]
    if missing:
        raise _refuse_missing(row, missing)
    out: list[float] = []
    for feature, raw in zip(FEATURES, values, strict=True):
        if _is_missing(raw):
            out.append(math.nan)
            continue
        number = _to_number(raw, feature.name, row)
        try:
            out.append(feature.check(number))
        except PayloadError as err:
            raise PayloadError(400, f"row {row}: {err.message}") from None
    return out


def row_from_mapping(instance: dict[str, Any], row: int = 1) -> list[float]:
    """Order a ``{name: value}`` instance by the schema, rejecting unknown or missing names."""
    unknown = sorted(set(instance) - set(FEATURE_NAMES))
    if unknown:
        raise PayloadError(
            400, f"row {row}: unknown feature(s) {', '.join(unknown)}; expected {', '.join(FEATURE_NAMES)}"
        )
    missing = [name for name in FEATURE_NAMES if name not in instance]
    if missing:
        raise PayloadError(
            400, f"row {row}: missing feature(s) {', '.join(missing)} (send null for a value that is not known)"
        )
    return validate_row([instance[name] for name in FEATURE_NAMES], row)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_header(fields: list[str]) -> bool:
    """A first row naming columns (ours, the label, or any words at all) rather than holding numbers."""
    names = {field.strip().lower() for field in fields}
    if names & {*FEATURE_NAMES, LABEL}:
        return True
    return not any(_is_number(field) for field in fields)


def _plain_row(fields: list[str]) -> list[float] | None:
    """The row as floats when every field is a plain in-range number; ``None`` when anything needs a closer look.

    The common row, checked in a few microseconds; :func:`validate_row` takes every other row (and
    says what is wrong with it). Both accept exactly the same plain rows: ``float()`` of the field,
    within the feature's range, whole where the feature is.
    """
    if len(fields) != N_FEATURES:
        return None
    out: list[float] = []
    try:
        for field, (low, high, whole) in zip(fields, _BOUNDS, strict=True):
            if len(field) > MAX_NUMBER_CHARS:
                return None
            value = float(field)
            if not low <= value <= high or (whole and value != int(value)):  # NaN fails the range
                return None
            out.append(value)
    except ValueError:  # an empty (missing) cell, or not a number
        return None
    return out


def _header_line(fields: list[str], line: int) -> PayloadError:
    shown = ", ".join(field.strip()[:20] for field in fields[: N_FEATURES + 1])
    return PayloadError(
        400,
        f"row {line} is a header line ({shown[:200]}); send the rows without a header: "
        f"each row holds the {N_FEATURES} feature values in this order: {', '.join(FEATURE_NAMES)}",
    )


def parse_csv(text: str) -> list[list[float]]:
    """Parse header-less CSV rows in schema order.

    Fields may be quoted (``"125.5"``, as spreadsheets export them) and lines may end in CRLF;
    rows whose fields are all empty are skipped. Row numbers in messages are line numbers.
    Text without quotes or carriage returns is split on newlines and commas directly, which is what
    the ``csv`` module would do with it, at a fraction of the cost for the one-row request.
    """
    if '"' in text or "\r" in text:
        return _parse_quoted_csv(text)
    return _rows(enumerate((record.split(",") for record in text.split("\n")), 1))


def _parse_quoted_csv(text: str) -> list[list[float]]:
    """:func:`parse_csv` for text with quotes or carriage returns: the ``csv`` module reads it."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        return _rows((reader.line_num, fields) for fields in reader)
    except csv.Error as err:
        raise PayloadError(400, f"line {reader.line_num}: the CSV is malformed: {err}") from None


def _rows(records: Iterable[tuple[int, list[str]]]) -> list[list[float]]:
    """The rows of ``(line number, fields)`` records: blank ones skipped, a plain row at once, any other validated."""
    rows: list[list[float]] = []
    for line, fields in records:
        plain = _plain_row(fields)
        if plain is None and not any(field.strip() for field in fields):
            continue
        if len(rows) == MAX_ROWS_PER_REQUEST:
            raise _too_many_rows()
        if plain is None:
            if not rows and _is_header(fields):
                raise _header_line(fields, line)
            plain = validate_row(fields, line)
        rows.append(plain)
    if not rows:
        raise PayloadError(400, "the CSV body holds no rows")
    return rows


def _json_integer(text: str) -> float:
    digits = len(text.lstrip("-"))
    if digits > MAX_NUMBER_CHARS:
        raise PayloadError(
            400, f"the JSON body holds an integer {digits} digits long; a feature value is a number such as 125.5"
        )
    return float(text)


def _json_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise PayloadError(
            400, f"the JSON body holds a number {len(text)} characters long; a feature value is a number such as 125.5"
        )
    return float(text)


def parse_json(text: str) -> list[list[float]]:
    """Parse ``{"instances": [[...], ...]}`` or ``{"instances": [{name: value}, ...]}``."""
    try:
        document = json.loads(text, parse_int=_json_integer, parse_float=_json_float)
    except json.JSONDecodeError as err:
        raise PayloadError(
            400, f"the body is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    except RecursionError:
        raise PayloadError(400, f"the JSON body is nested too deeply; a request is {_SHAPE}") from None
    if not isinstance(document, dict) or "instances" not in document:
        raise PayloadError(400, 'the JSON body must be an object with an "instances" list')
    instances = document["instances"]
    if not isinstance(instances, list) or not instances:
        raise PayloadError(400, '"instances" must be a non-empty list')
    if len(instances) > MAX_ROWS_PER_REQUEST:
        raise _too_many_rows()
    rows: list[list[float]] = []
    for number, instance in enumerate(instances, start=1):
        if isinstance(instance, dict):
            rows.append(row_from_mapping(instance, number))
        elif isinstance(instance, list):
            rows.append(validate_row(instance, number))
        else:
            raise PayloadError(
                400, f"row {number}: an instance must be a list of {N_FEATURES} numbers or an object of named features"
            )
    return rows


def read_payload(body: bytes, content_type: str | None) -> Payload:
    """Validate a request body; return its rows and the bytes to forward, or raise :class:`PayloadError`.

    The status codes mirror what a caller of a SageMaker endpoint should see:
    413 for a body over 6 MB or over :data:`MAX_ROWS_PER_REQUEST` rows, 415 for a
    content type other than CSV or JSON (or a charset other than UTF-8), 400 for
    everything else that is wrong with the body. A leading UTF-8 BOM is accepted and dropped.
    """
    if len(body) > MAX_PAYLOAD_BYTES:
        raise payload_too_large(f"{len(body)} bytes")
    kind = media_type(content_type)
    if kind not in SUPPORTED_CONTENT_TYPES:
        shown = kind or "none"
        raise PayloadError(415, f"unsupported content type {shown!r}; use text/csv or application/json")
    charset = _charset(content_type)
    if charset is not None and charset not in _UTF8_CHARSETS:
        raise PayloadError(415, f"unsupported charset {charset[:40]!r}; {_SEND_TEXT}")
    if body.startswith(UTF8_BOM):
        body = body[len(UTF8_BOM) :]
    if not body.strip():
        raise PayloadError(400, "the body is empty; send at least one row of features")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PayloadError(400, f"{_NOT_UTF8} (byte {err.start} is not); {_SEND_TEXT}") from None
    if "\ufffd" in text:
        raise PayloadError(
            400,
            f"{_NOT_UTF8}: it holds U+FFFD, the character that stands in for bytes that are not UTF-8; {_SEND_TEXT}",
        )
    if "\x00" in text:
        raise PayloadError(400, f"the body holds NUL bytes: it is binary, not text; {_SEND_TEXT}")
    rows = parse_csv(text) if kind == CSV_CONTENT_TYPE else parse_json(text)
    return Payload(rows=rows, media_type=kind, body=body)


def parse_payload(body: bytes, content_type: str | None) -> list[list[float]]:
    """The validated rows of a request body (see :func:`read_payload`)."""
    return read_payload(body, content_type).rows
