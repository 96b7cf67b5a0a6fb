"""Offline mode's registry of running services, with only what a test exercises."""

from __future__ import annotations

from typing import Any, cast

from offline.run.active import Services
from offline.run.faults import FaultPlan


def bare_services(**only: Any) -> Services:
    """``Services`` whose Lambda, CodeBuild, training and hosting parts are absent (the test does not use them)."""
    unused = cast(Any, None)
    defaults: dict[str, Any] = {
        "lambdas": unused,
        "codebuild": unused,
        "training": unused,
        "fleet": unused,
        "faults": FaultPlan(),
        "on_object_created": lambda created: None,
    }
    return Services(**{**defaults, **only})
