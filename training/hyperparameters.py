"""Hyperparameters of the training job: defaults, parsing and validation.

SageMaker hands every hyperparameter to the container as a string (in
``/opt/ml/input/config/hyperparameters.json``; ``SM_HPS`` may hold decoded JSON
values), so each one is parsed here and checked against its allowed range. A
bad or unknown name fails the job with a message that says exactly what to fix.

``DEFAULT_HYPERPARAMETERS`` is public: the CDK app seeds the SSM
hyperparameters parameter from it, so the defaults live in one place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

#: Every hyperparameter the job accepts, with its default, as SageMaker would pass it.
DEFAULT_HYPERPARAMETERS: Final[dict[str, str]] = {
    "learning_rate": "0.1",
    "max_iter": "200",
    "max_leaf_nodes": "31",
    "max_depth": "8",
    "min_samples_leaf": "20",
    "l2_regularization": "0.0",
    "max_bins": "255",
    "early_stopping": "false",
    "class_weight": "none",
    "threshold": "auto",
    "random_state": "42",
}

#: Prefixes SageMaker itself may add (framework estimators, tuning jobs); they are not ours to reject.
RESERVED_PREFIXES: Final = ("sagemaker_", "_tuning_objective_metric")


class HyperparameterError(ValueError):
    """A hyperparameter is unknown or has a value outside what it allows."""


@dataclass(frozen=True, slots=True)
class Hyperparameters:
    """The validated, typed hyperparameters of one training job."""

    learning_rate: float
    max_iter: int
    max_leaf_nodes: int
    max_depth: int | None
    min_samples_leaf: int
    l2_regularization: float
    max_bins: int
    early_stopping: bool
    class_weight: str | None
    threshold: float | None  # None: choose the threshold that maximizes validation F1
    random_state: int

    def as_strings(self) -> dict[str, str]:
        """The values back in SageMaker's string form (recorded in evaluation.json)."""
        return {
            "learning_rate": repr(self.learning_rate),
            "max_iter": str(self.max_iter),
            "max_leaf_nodes": str(self.max_leaf_nodes),
            "max_depth": "none" if self.max_depth is None else str(self.max_depth),
            "min_samples_leaf": str(self.min_samples_leaf),
            "l2_regularization": repr(self.l2_regularization),
            "max_bins": str(self.max_bins),
            "early_stopping": "true" if self.early_stopping else "false",
            "class_weight": self.class_weight or "none",
            "threshold": "auto" if self.threshold is None else repr(self.threshold),
            "random_state": str(self.random_state),
        }


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else str(value)


def _fail(name: str, expected: str, raw: Any) -> HyperparameterError:
    shown = _text(raw)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return HyperparameterError(f"hyperparameter '{name}' must be {expected}, got {shown!r}")


def _number(name: str, raw: Any, low: float, high: float, *, low_open: bool, expected: str) -> float:
    if isinstance(raw, bool):
        raise _fail(name, expected, raw)
    try:
        value = float(_text(raw))
    except ValueError:
        raise _fail(name, expected, raw) from None
    too_low = value <= low if low_open else value < low
    if not math.isfinite(value) or too_low or value > high:
        raise _fail(name, expected, raw)
    return value


def _integer(name: str, raw: Any, low: int, high: int) -> int:
    expected = f"a whole number in [{low}, {high}]"
    if isinstance(raw, bool):
        raise _fail(name, expected, raw)
    text = _text(raw)
    try:
        value = int(text)
    except ValueError:
        # "200.0" is how some tools write whole numbers; accept it, reject "200.5".
        try:
            as_float = float(text)
        except ValueError:
            raise _fail(name, expected, raw) from None
        if not as_float.is_integer():
            raise _fail(name, expected, raw) from None
        value = int(as_float)
    if not low <= value <= high:
        raise _fail(name, expected, raw)
    return value


def _boolean(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = _text(raw).lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise _fail(name, "true or false", raw)


def _parse_max_depth(raw: Any) -> int | None:
    if _text(raw).lower() in ("none", "null", ""):
        return None
    try:
        return _integer("max_depth", raw, 1, 64)
    except HyperparameterError:
        raise _fail("max_depth", "a whole number in [1, 64] or 'none'", raw) from None


def _parse_class_weight(raw: Any) -> str | None:
    text = _text(raw).lower()
    if text in ("none", "null", ""):
        return None
    if text == "balanced":
        return "balanced"
    raise _fail("class_weight", "'none' or 'balanced'", raw)


def _parse_threshold(raw: Any) -> float | None:
    if _text(raw).lower() == "auto":
        return None
    expected = "'auto' or a number in (0, 1)"
    value = _number("threshold", raw, 0.0, 1.0, low_open=True, expected=expected)
    if value >= 1.0:
        raise _fail("threshold", expected, raw)
    return value


_PARSERS: Final[dict[str, Callable[[Any], Any]]] = {
    "learning_rate": lambda v: _number("learning_rate", v, 0.0, 1.0, low_open=True, expected="a number in (0, 1]"),
    "max_iter": lambda v: _integer("max_iter", v, 1, 10_000),
    "max_leaf_nodes": lambda v: _integer("max_leaf_nodes", v, 2, 4_096),
    "max_depth": _parse_max_depth,
    "min_samples_leaf": lambda v: _integer("min_samples_leaf", v, 1, 1_000_000),
    "l2_regularization": lambda v: _number(
        "l2_regularization", v, 0.0, 1e6, low_open=False, expected="a number in [0, 1000000]"
    ),
    "max_bins": lambda v: _integer("max_bins", v, 2, 255),
    "early_stopping": lambda v: _boolean("early_stopping", v),
    "class_weight": _parse_class_weight,
    "threshold": _parse_threshold,
    "random_state": lambda v: _integer("random_state", v, 0, 2**32 - 1),
}


def parse_hyperparameters(raw: Mapping[str, Any] | None) -> Hyperparameters:
    """Validate ``raw`` (SageMaker's strings, or decoded JSON values) over the defaults.

    Raises :class:`HyperparameterError` naming the first unknown or invalid one.
    """
    given = dict(raw or {})
    unknown = sorted(k for k in given if k not in DEFAULT_HYPERPARAMETERS and not k.startswith(RESERVED_PREFIXES))
    if unknown:
        raise HyperparameterError(
            f"unknown hyperparameter(s) {', '.join(repr(k) for k in unknown)}; "
            f"allowed: {', '.join(DEFAULT_HYPERPARAMETERS)}"
        )
    values = {name: parse(given.get(name, DEFAULT_HYPERPARAMETERS[name])) for name, parse in _PARSERS.items()}
    return Hyperparameters(**values)
