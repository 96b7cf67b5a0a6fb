"""The metric lines the training job prints and the regexes SageMaker captures them with.

The CDK app turns ``METRIC_DEFINITIONS`` into the training job's
``AlgorithmSpecification.MetricDefinitions``; ``training.train`` prints every
metric through :func:`format_metric_line`. Both are built from ``_PREFIX`` below, so
the printed line and the regex cannot drift apart.
"""

from __future__ import annotations

import math
from typing import Final

#: The metrics the job reports, in the order it prints them.
METRIC_NAMES: Final[tuple[str, ...]] = (
    "validation:roc_auc",
    "validation:pr_auc",
    "validation:precision",
    "validation:recall",
    "validation:f1",
    "validation:threshold",
)

# Metric names hold only [a-z_:], so the line's literal part needs no regex escaping (SageMaker's
# regex engine need not understand Python's escapes of "#" or " ").
_PREFIX: Final = "#metric "
_NUMBER: Final = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"

METRIC_DEFINITIONS: Final[tuple[dict[str, str], ...]] = tuple(
    {"Name": name, "Regex": f"{_PREFIX}{name}={_NUMBER};"} for name in METRIC_NAMES
)


def format_metric_line(name: str, value: float) -> str:
    """The log line for one metric, e.g. ``#metric validation:roc_auc=0.912345;``."""
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRIC_NAMES)}")
    if not math.isfinite(value):
        raise ValueError(f"metric {name!r} must be finite, got {value}")
    return f"{_PREFIX}{name}={value:.6f};"
