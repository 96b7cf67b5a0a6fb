"""The retraining state machine, its steps grouped by stage: start, build, train, evaluate, register."""

from stacks.workflows.retraining.workflow import RetrainingWorkflow

__all__ = ["RetrainingWorkflow"]
