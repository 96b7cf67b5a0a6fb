"""The drift job's settings, read once from its environment (the Processing job's ``Environment``)."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

from training.drift.capture import parse_time
from training.drift.ground_truth import Floors
from training.drift.statistics import DEFAULT_P_VALUE, DEFAULT_PSI, Tolerance

T = TypeVar("T")

DEFAULT_MIN_RECORDS: Final = 200


class SettingsError(ValueError):
    """An environment variable the job cannot use; the message names it."""


def _parse(env: Mapping[str, str], name: str, convert: Callable[[str], T], default: T, check: str = "") -> T:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        return convert(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw[:60]!r} is not {check}") from None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError
    return value


def _fraction(raw: str) -> float:
    value = float(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError
    return value


def _positive(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError
    return value


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """What the job compares, over which window, and how it decides (see ``training.monitor``)."""

    window_start: datetime.datetime | None = None
    window_end: datetime.datetime | None = None
    min_records: int = DEFAULT_MIN_RECORDS
    tolerance: Tolerance = field(default_factory=Tolerance)
    min_drifted_features: int = 1
    environment: str = ""
    endpoint: str = ""
    model_version: str | None = None
    floors: Floors = field(default_factory=Floors)
    metrics_namespace: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MonitorSettings:
        """Parse the variables; a malformed one raises :class:`SettingsError` naming it."""
        iso = "an ISO 8601 time such as 2026-11-24T00:00:00Z"
        start = _parse(env, "WINDOW_START", parse_time, None, iso)
        end = _parse(env, "WINDOW_END", parse_time, None, iso)
        if start is not None and end is not None and end <= start:
            raise SettingsError(f"WINDOW_END ({end.isoformat()}) must be after WINDOW_START ({start.isoformat()})")
        return cls(
            window_start=start,
            window_end=end,
            min_records=_parse(env, "MIN_RECORDS", _positive_int, DEFAULT_MIN_RECORDS, "a whole number >= 1"),
            tolerance=Tolerance(
                psi=_parse(env, "PSI_THRESHOLD", _positive, DEFAULT_PSI, "a number > 0"),
                p_value=_parse(env, "P_VALUE", _fraction, DEFAULT_P_VALUE, "a number in [0, 1]"),
            ),
            min_drifted_features=_parse(env, "MIN_DRIFTED_FEATURES", _positive_int, 1, "a whole number >= 1"),
            environment=(env.get("ENVIRONMENT") or "").strip(),
            endpoint=(env.get("ENDPOINT_NAME") or "").strip(),
            model_version=(env.get("MODEL_VERSION") or "").strip() or None,
            floors=Floors(
                roc_auc=_parse(env, "MIN_ROC_AUC", _fraction, None, "a number in [0, 1]"),
                pr_auc=_parse(env, "MIN_PR_AUC", _fraction, None, "a number in [0, 1]"),
            ),
            metrics_namespace=(env.get("METRICS_NAMESPACE") or "").strip() or None,
        )


@dataclass(frozen=True, slots=True)
class MonitorPaths:
    """The Processing job's folders below ``PROCESSING_DIR`` (default ``/opt/ml/processing``)."""

    capture: Path
    model: Path
    labels: Path
    output: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> MonitorPaths:
        root = Path(env.get("PROCESSING_DIR") or "/opt/ml/processing")
        return cls(
            capture=root / "input/capture",
            model=root / "input/model",
            labels=root / "input/labels",
            output=root / "output",
        )
