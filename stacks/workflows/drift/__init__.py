"""The drift state machine: a scheduled Processing job compares live traffic with the training baseline."""

from stacks.workflows.drift.workflow import DriftWorkflow

__all__ = ["DriftWorkflow"]
