"""The batch state machine: batch transform of ``batch/incoming/<name>/`` with the latest Approved version."""

from stacks.workflows.batch.workflow import BatchWorkflow

__all__ = ["BatchWorkflow"]
