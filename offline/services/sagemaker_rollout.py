"""A blue/green endpoint update with traffic shifting, bakes, alarm watching and automatic rollback.

What SageMaker does once the new (green) fleet is up (SageMaker Developer Guide, "Deployment
guardrails": "Use all at once traffic shifting", "Use canary traffic shifting", "Use linear
traffic shifting", "Auto-Rollback Configuration and Monitoring"; API Reference,
"BlueGreenUpdatePolicy", "TrafficRoutingConfig"):

* **the shifts** (:func:`shifts`): CANARY turns on the canary (``CanarySize`` of the green
  fleet) and then the rest; LINEAR turns on ``LinearStepSize`` more per step; ALL_AT_ONCE turns
  on everything. The green fleet's share of the requests is the share of its instances turned on;
* **the bakes**: ``WaitIntervalInSeconds`` after every shift, the last one (all traffic on
  green) included: that is the "final baking period"; then ``TerminationWaitInSeconds``, the
  "additional waiting time ... before terminating the old endpoint fleet". The
  AutoRollbackConfiguration alarms are watched through every bake and the termination wait: one
  in ALARM rolls all traffic back to the blue fleet;
* ``MaximumExecutionTimeoutInSeconds`` bounds the whole shifting; past it the update rolls back.

Offline, the waits run on the session's ``time_scale`` (simulated seconds per real second), and
the timeout counts from the moment the green fleet passed its health check: a local server
starts in seconds, which scaled would mean nothing (offline/README.md). :class:`Rollout` only
decides; the fleet (:mod:`offline.services.sagemaker_hosting`) moves traffic and processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from offline.services.sagemaker_deployment_config import DeploymentPolicy

#: How often a bake asks for the alarms' states (real seconds).
ALARM_POLL_SECONDS = 0.1

#: (alarm names) → name → (StateValue, StateReason), for the alarms that exist.
AlarmStates = Callable[[list[str]], dict[str, tuple[str, str]]]


class Clock(Protocol):
    """Time as a rollout sees it; tests pass one that does not really sleep."""

    def monotonic(self) -> float: ...

    def wait(self, seconds: float, abort: threading.Event) -> bool:
        """Sleep ``seconds`` real seconds unless ``abort`` is set first; True when aborted."""
        ...


class RealClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, seconds: float, abort: threading.Event) -> bool:
        return abort.wait(max(seconds, 0.0))


@dataclass(frozen=True)
class TrafficStep:
    """One step of an endpoint's traffic history: when, each endpoint config's share, what happened."""

    at: float
    shares: Mapping[str, float]
    event: str


@dataclass(frozen=True)
class Shift:
    """One phase of a rollout: ``active`` of the green fleet's ``instances`` take traffic for ``seconds``."""

    label: str
    active: int
    instances: int
    #: Simulated seconds the phase lasts (its bake, or the termination wait).
    seconds: int
    termination: bool = False

    @property
    def share(self) -> Fraction:
        return Fraction(self.active, self.instances)


@dataclass(frozen=True)
class Outcome:
    """How a rollout ended: completed, rolled back (with the FailureReason), or aborted (fleet stopping)."""

    completed: bool
    failure_reason: str | None = None
    aborted: bool = False


def shifts(policy: DeploymentPolicy, instances: int) -> list[Shift]:
    """The phases of ``policy`` for ``instances`` green instances: each shift and bake, then the termination wait."""
    wait = policy.wait_interval
    steps = [Shift("all traffic", instances, instances, wait)]
    if policy.traffic == "CANARY" and policy.canary_size is not None:
        canary = policy.canary_size.instances(instances)
        if canary < instances:
            steps.insert(0, Shift("canary", canary, instances, wait))
    if policy.traffic == "LINEAR" and policy.linear_step_size is not None:
        step = policy.linear_step_size.instances(instances)
        count = -(-instances // step)
        steps = [
            Shift(f"linear step {n} of {count}", min(n * step, instances), instances, wait) for n in range(1, count + 1)
        ]
    return [*steps, Shift("termination wait", instances, instances, policy.termination_wait, termination=True)]


@dataclass
class Rollout:
    """Shifts traffic step by step, bakes, and decides to complete or to roll back."""

    policy: DeploymentPolicy
    instances: int
    new_config: str
    old_config: str
    #: Sets the green fleet's share of the requests.
    shift: Callable[[Fraction], None]
    #: Records a traffic step: (config → share, event).
    record: Callable[[Mapping[str, float], str], None]
    alarm_states: AlarmStates | None = None
    time_scale: float = 60.0
    clock: Clock | None = None
    abort: threading.Event | None = None

    def run(self) -> Outcome:
        clock = self.clock or RealClock()
        abort = self.abort or threading.Event()
        timeout = self.policy.max_execution_timeout
        deadline = None if timeout is None else clock.monotonic() + timeout / self.time_scale
        for phase in shifts(self.policy, self.instances):
            self.shift(phase.share)
            self.record(self._shares(phase.share), self._describe(phase))
            outcome = self._bake(phase, clock, abort, deadline)
            if outcome is not None:
                return outcome
        return Outcome(completed=True)

    def _bake(self, phase: Shift, clock: Clock, abort: threading.Event, deadline: float | None) -> Outcome | None:
        """None when the phase ended quietly; else the rollback (or abort) that ended it."""
        end = clock.monotonic() + phase.seconds / self.time_scale
        while True:
            fired = self._alarms_in_alarm()
            if fired:
                return self._alarm_rollback(phase, fired)
            now = clock.monotonic()
            if deadline is not None and now >= deadline:
                return self._timeout_rollback(phase)
            if now >= end:
                return None
            limit = end if deadline is None else min(end, deadline)
            if clock.wait(min(ALARM_POLL_SECONDS, limit - now), abort):
                return Outcome(completed=False, failure_reason="offline mode stopped during the update", aborted=True)

    def _alarms_in_alarm(self) -> dict[str, str]:
        if self.alarm_states is None or not self.policy.alarms:
            return {}
        states = self.alarm_states(list(self.policy.alarms))
        return {name: reason for name, (value, reason) in states.items() if value == "ALARM"}

    def _alarm_rollback(self, phase: Shift, fired: dict[str, str]) -> Outcome:
        self.record(self._shares(phase.share), f"alarm {', '.join(sorted(fired))} in ALARM: rolling back")
        details = "; ".join(f"{name}: {reason}" for name, reason in sorted(fired.items()))
        return Outcome(
            completed=False,
            failure_reason=f"Deployment rolled back to {self.old_config}: auto-rollback alarm(s) in ALARM during "
            f"{_phase(phase)} of {self.new_config} ({details}).",
        )

    def _timeout_rollback(self, phase: Shift) -> Outcome:
        timeout = self.policy.max_execution_timeout
        self.record(self._shares(phase.share), f"MaximumExecutionTimeoutInSeconds ({timeout} s) reached: rolling back")
        return Outcome(
            completed=False,
            failure_reason=f"Deployment rolled back to {self.old_config}: it did not finish within "
            f"MaximumExecutionTimeoutInSeconds ({timeout} s); {self.new_config} was in {_phase(phase)} "
            f"with {_percent(phase.share)} of traffic.",
        )

    def _shares(self, share: Fraction) -> dict[str, float]:
        shares = {self.old_config: float(1 - share), self.new_config: float(share)}
        return {config: value for config, value in shares.items() if value > 0}

    def _describe(self, phase: Shift) -> str:
        if phase.termination:
            return f"termination wait {phase.seconds} s: {self.old_config} kept without traffic, alarms watched"
        amount = "all traffic" if phase.active == phase.instances else f"{_percent(phase.share)} of traffic"
        target = f"{self.new_config} ({phase.active} of {phase.instances} instances)"
        label = "" if phase.label == "all traffic" else f"{phase.label}: "
        return f"{label}{amount} to {target}, baking {phase.seconds} s"


def _phase(phase: Shift) -> str:
    if phase.termination:
        return "the termination wait"
    return "the final bake" if phase.active == phase.instances else f"the {phase.label} bake"


def _percent(share: Fraction) -> str:
    return f"{float(share) * 100:.0f}%"
