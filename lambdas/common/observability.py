"""Defaults shared by the Powertools utilities each handler creates at module level."""

from __future__ import annotations

import os

DEFAULT_METRICS_NAMESPACE = "FraudPipeline"


def metrics_namespace() -> str:
    """The CloudWatch namespace: ``POWERTOOLS_METRICS_NAMESPACE`` if set, else ``FraudPipeline``."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE


def service_name(default: str) -> str:
    """The Powertools service name: ``POWERTOOLS_SERVICE_NAME`` if set, else ``default``."""
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or default
