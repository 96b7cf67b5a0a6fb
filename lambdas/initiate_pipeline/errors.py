"""Errors ``initiate_pipeline`` raises for a deployment that is missing something it needs."""

from __future__ import annotations


class PipelineConfigError(RuntimeError):
    """An SSM parameter or ECR repository the run depends on is missing or malformed."""
