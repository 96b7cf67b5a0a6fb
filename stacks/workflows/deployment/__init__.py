"""The deployment state machine, its steps grouped by stage: resolve, model, endpoint (with clean-up)."""

from stacks.workflows.deployment.workflow import DeploymentWorkflow

__all__ = ["DeploymentWorkflow"]
