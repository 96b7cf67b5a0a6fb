"""What a run of the pipeline offline produced: its executions, the requests during it, its timings."""

from __future__ import annotations

from dataclasses import dataclass, field

from offline.run.progress import Notification, StateTiming


@dataclass
class ExecutionResult:
    arn: str
    status: str
    object_key: str
    #: The execution it waited for in line, if it had to wait.
    queued_behind: str | None = None


@dataclass
class Probe:
    """Requests sent through the local API while a run was in progress."""

    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    #: The datasets uploaded, in upload order.
    datasets: list[str]
    executions: list[ExecutionResult]
    notifications: list[Notification]
    timings: list[StateTiming]
    seconds: float
    probe: Probe | None = None
    #: Why EventBridge could not start an execution for an upload (its FailedInvocations).
    trigger_failures: list[str] = field(default_factory=list)
    #: Deployment executions the registry's events started during the run.
    deployments: list[ExecutionResult] = field(default_factory=list)

    @property
    def dataset(self) -> str:
        """The last dataset uploaded: the one serving when every execution succeeded."""
        return self.datasets[-1]

    @property
    def main(self) -> ExecutionResult:
        """The last execution: it trained the last dataset (the others went before it in line)."""
        return self.executions[-1]

    @property
    def failed(self) -> list[ExecutionResult]:
        """The executions, retraining or deployment, that did not succeed."""
        return [e for e in (*self.executions, *self.deployments) if e.status != "SUCCEEDED"]

    @property
    def succeeded(self) -> bool:
        every = [*self.executions, *self.deployments]
        return bool(self.executions) and all(e.status == "SUCCEEDED" for e in every)


@dataclass(frozen=True)
class Prediction:
    request: str
    status: int
    body: str
