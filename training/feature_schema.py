"""The one definition of the model's input features.

Training, the serving container and the inference proxy Lambda all import this
module; none of them restates a feature name, order or range. It is pure
standard library on purpose: the Lambda asset vendors this single file (see
``stacks/components/lambda_code.py``) and must not drag numpy or scikit-learn
along.

The payload parsers here are shared by ``inference.serve`` (``/invocations``)
and the ``inference_proxy`` Lambda (``POST /predict``), so a request that one
rejects the other rejects with the same message.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final

LABEL: Final = "is_fraud"

#: SageMaker real-time endpoints reject request bodies over 6 MB.
MAX_PAYLOAD_BYTES: Final = 6 * 1024 * 1024

#: The model artifact layout, a contract between ``training.train`` (writes it into
#: ``SM_MODEL_DIR``) and ``inference.serve`` (reads it from ``/opt/ml/model``). Both
#: sides import these names from here because this is the one module both images hold.
MODEL_FILE: Final = "model.joblib"
MODEL_METADATA_FILE: Final = "model.json"

CSV_CONTENT_TYPE: Final = "text/csv"
JSON_CONTENT_TYPE: Final = "application/json"
SUPPORTED_CONTENT_TYPES: Final = (CSV_CONTENT_TYPE, JSON_CONTENT_TYPE)


@dataclass(frozen=True, slots=True)
class Feature:
    """One model input column: its name, kind and the closed range it may take."""

    name: str
    kind: str  # "float", "int" or "bool"
    minimum: float
    maximum: float
    description: str

    def check(self, value: float) -> float:
        """Return ``value`` if it is a finite number inside the range, else raise."""
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


FEATURES: Final[tuple[Feature, ...]] = (
    Feature("amount", "float", 0.0, 100_000.0, "transaction amount in the account currency"),
    Feature("hour_of_day", "int", 0, 23, "local hour the transaction happened"),
    Feature("distance_from_home_km", "float", 0.0, 20_000.0, "distance from the card holder's home"),
    Feature("state_mismatch", "bool", 0, 1, "1 when the merchant state differs from the billing state"),
    Feature("transactions_last_24h", "int", 0, 1_000, "card transactions in the previous 24 hours"),
    Feature("account_age_days", "int", 0, 36_500, "days since the account was opened"),
    Feature("is_online", "bool", 0, 1, "1 for card-not-present transactions"),
    Feature("merchant_risk_score", "float", 0.0, 1.0, "the merchant category's historical fraud rate"),
)

FEATURE_NAMES: Final[tuple[str, ...]] = tuple(f.name for f in FEATURES)
_BY_NAME: Final[dict[str, int]] = {name: i for i, name in enumerate(FEATURE_NAMES)}
N_FEATURES: Final = len(FEATURES)


class PayloadError(ValueError):
    """A request the caller must fix; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def media_type(content_type: str | None) -> str:
    """``'text/csv; charset=utf-8'`` → ``'text/csv'``; missing → ``''``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _to_number(raw: Any, column: str, row: int) -> float:
    if isinstance(raw, bool) or raw is None:
        raise PayloadError(400, f"row {row}: feature '{column}' must be a number, got {json.dumps(raw)}")
    if isinstance(raw, (int, float)):
        return float(raw)
    text = str(raw).strip()
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
    out: list[float] = []
    for feature, raw in zip(FEATURES, values, strict=True):
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
        raise PayloadError(400, f"row {row}: missing feature(s) {', '.join(missing)}")
    return validate_row([instance[name] for name in FEATURE_NAMES], row)


def parse_csv(text: str) -> list[list[float]]:
    """Parse header-less CSV rows in schema order."""
    rows: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        rows.append(validate_row(line.split(","), number))
    if not rows:
        raise PayloadError(400, "the CSV body holds no rows")
    return rows


def parse_json(text: str) -> list[list[float]]:
    """Parse ``{"instances": [[...], ...]}`` or ``{"instances": [{name: value}, ...]}``."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise PayloadError(
            400, f"the body is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    if not isinstance(document, dict) or "instances" not in document:
        raise PayloadError(400, 'the JSON body must be an object with an "instances" list')
    instances = document["instances"]
    if not isinstance(instances, list) or not instances:
        raise PayloadError(400, '"instances" must be a non-empty list')
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


def parse_payload(body: bytes, content_type: str | None) -> list[list[float]]:
    """Turn a request body into validated feature rows, or raise :class:`PayloadError`.

    The status codes mirror what a caller of a SageMaker endpoint should see:
    413 for a body over 6 MB, 415 for a content type other than CSV or JSON,
    400 for everything else that is wrong with the body.
    """
    if len(body) > MAX_PAYLOAD_BYTES:
        raise PayloadError(413, f"the body is {len(body)} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes (6 MB)")
    kind = media_type(content_type)
    if kind not in SUPPORTED_CONTENT_TYPES:
        shown = kind or "none"
        raise PayloadError(415, f"unsupported content type {shown!r}; use text/csv or application/json")
    if not body.strip():
        raise PayloadError(400, "the body is empty; send at least one row of features")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError(400, "the body is not valid UTF-8") from None
    return parse_csv(text) if kind == CSV_CONTENT_TYPE else parse_json(text)


def rows_to_csv(rows: list[list[float]]) -> str:
    """Serialize validated rows as header-less CSV, the form the endpoint is sent."""
    return "\n".join(",".join(repr(v) for v in row) for row in rows) + "\n"
