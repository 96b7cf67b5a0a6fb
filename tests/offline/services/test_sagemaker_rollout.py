"""The traffic-shifting schedule of a blue/green update, its bakes, alarm rollbacks and timeout.

Driven by a fake clock (no real sleeping) and fake alarm states; ``time_scale`` 1 makes fake
seconds the simulated seconds of the policy.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import pytest

from offline.services.sagemaker_deployment_config import CapacitySize, DeploymentPolicy
from offline.services.sagemaker_rollout import Rollout, shifts
from tests.offline.services.fake_clock import FakeClock

ALARM = "fraud-detector-stage-5xx-rate"
REASON = (
    "Threshold Crossed: 1 out of the last 1 datapoints [0.5 (24/11/26 09:00:00)] was greater than the threshold (0.02)"
)


@dataclass
class Run:
    """A rollout's observable effects: the shares it set and the steps it recorded."""

    clock: FakeClock = field(default_factory=FakeClock)
    shares: list[Fraction] = field(default_factory=list)
    steps: list[tuple[dict[str, float], str]] = field(default_factory=list)

    def rollout(self, policy: DeploymentPolicy, *, instances: int = 2, alarm_at: float | None = None) -> Rollout:
        def alarm_states(names: list[str]) -> dict[str, tuple[str, str]]:
            firing = alarm_at is not None and self.clock.now >= alarm_at
            return {name: ("ALARM", REASON) if firing else ("OK", "fine") for name in names}

        def record(shares: Mapping[str, float], event: str) -> None:
            self.steps.append((dict(shares), event))

        return Rollout(
            policy=policy,
            instances=instances,
            new_config="config-v2",
            old_config="config-v1",
            shift=self.shares.append,
            record=record,
            alarm_states=alarm_states,
            time_scale=1.0,
            clock=self.clock,
        )

    @property
    def events(self) -> list[str]:
        return [event for _, event in self.steps]


def canary(**overrides: object) -> DeploymentPolicy:
    settings: dict[str, object] = {
        "traffic": "CANARY",
        "canary_size": CapacitySize("INSTANCE_COUNT", 1),
        "wait_interval": 300,
        "termination_wait": 120,
        "max_execution_timeout": 1800,
        "alarms": (ALARM,),
    }
    return DeploymentPolicy(**{**settings, **overrides})  # type: ignore[arg-type]


# --- the schedule ----------------------------------------------------------------------------


def test_a_canary_shifts_its_share_then_the_rest_each_with_a_bake_then_the_termination_wait():
    phases = shifts(canary(), 2)

    assert [(p.label, p.share, p.seconds) for p in phases] == [
        ("canary", Fraction(1, 2), 300),
        ("all traffic", Fraction(1), 300),
        ("termination wait", Fraction(1), 120),
    ]


def test_a_canary_percentage_turns_on_whole_instances():
    # 30 % of 4 instances is 1.2: one instance takes a quarter of the traffic
    phases = shifts(canary(canary_size=CapacitySize("CAPACITY_PERCENT", 30)), 4)

    assert phases[0].share == Fraction(1, 4)


def test_linear_steps_shift_one_step_size_more_each_time():
    policy = DeploymentPolicy(
        traffic="LINEAR", linear_step_size=CapacitySize("CAPACITY_PERCENT", 34), wait_interval=60, termination_wait=0
    )

    phases = shifts(policy, 3)

    assert [(p.label, p.share, p.seconds) for p in phases] == [
        ("linear step 1 of 3", Fraction(1, 3), 60),
        ("linear step 2 of 3", Fraction(2, 3), 60),
        ("linear step 3 of 3", Fraction(1), 60),
        ("termination wait", Fraction(1), 0),
    ]


def test_all_at_once_shifts_everything_then_bakes():
    phases = shifts(DeploymentPolicy(traffic="ALL_AT_ONCE", wait_interval=60, termination_wait=30), 2)

    assert [(p.label, p.share, p.seconds) for p in phases] == [
        ("all traffic", Fraction(1), 60),
        ("termination wait", Fraction(1), 30),
    ]


# --- running it ------------------------------------------------------------------------------


def test_a_quiet_canary_completes_after_every_bake_and_records_each_step():
    # Given a canary of 1 of 2 instances, baking 300 s, termination wait 120 s, alarms quiet
    run = Run()
    # When it runs
    outcome = run.rollout(canary()).run()
    # Then it completed after 300 + 300 + 120 s, with green at 1/2, then all
    assert outcome.completed
    assert run.clock.now == pytest.approx(720)
    assert run.shares == [Fraction(1, 2), Fraction(1), Fraction(1)]
    assert run.steps == [
        (
            {"config-v1": 0.5, "config-v2": 0.5},
            "canary: 50% of traffic to config-v2 (1 of 2 instances), baking 300 s",
        ),
        ({"config-v2": 1.0}, "all traffic to config-v2 (2 of 2 instances), baking 300 s"),
        ({"config-v2": 1.0}, "termination wait 120 s: config-v1 kept without traffic, alarms watched"),
    ]


def test_time_scale_shortens_every_wait():
    run = Run()
    rollout = run.rollout(canary())
    rollout.time_scale = 60.0

    rollout.run()

    assert run.clock.now == pytest.approx(720 / 60)


def test_an_alarm_during_the_canary_bake_rolls_back_before_the_rest_shifts():
    # Given the 5xx alarm goes to ALARM 120 s into the canary bake
    run = Run()
    # When the canary runs
    outcome = run.rollout(canary(), alarm_at=120).run()
    # Then it rolled back at once, green never got more than the canary, and the reason names the alarm
    assert not outcome.completed
    assert run.clock.now == pytest.approx(120, abs=0.2)
    assert run.shares == [Fraction(1, 2)]
    assert run.events[-1] == f"alarm {ALARM} in ALARM: rolling back"
    assert outcome.failure_reason == (
        f"Deployment rolled back to config-v1: auto-rollback alarm(s) in ALARM during the canary bake of "
        f"config-v2 ({ALARM}: {REASON})."
    )


def test_an_alarm_during_the_termination_wait_still_rolls_back():
    run = Run()

    outcome = run.rollout(canary(), alarm_at=650).run()

    assert not outcome.completed
    assert "during the termination wait of config-v2" in (outcome.failure_reason or "")
    assert run.events[-1] == f"alarm {ALARM} in ALARM: rolling back"


def test_an_update_past_its_maximum_execution_timeout_rolls_back_and_says_so():
    # Given bakes of 400 s each under a 600 s timeout
    run = Run()
    policy = canary(wait_interval=400, max_execution_timeout=600)
    # When it runs
    outcome = run.rollout(policy).run()
    # Then it stopped at 600 s, in the final bake, and rolled back
    assert not outcome.completed
    assert run.clock.now == pytest.approx(600)
    assert run.events[-1] == "MaximumExecutionTimeoutInSeconds (600 s) reached: rolling back"
    assert outcome.failure_reason == (
        "Deployment rolled back to config-v1: it did not finish within MaximumExecutionTimeoutInSeconds (600 s); "
        "config-v2 was in the final bake with 100% of traffic."
    )


def test_without_alarm_evaluation_the_bakes_still_take_their_time():
    run = Run()
    rollout = run.rollout(canary())
    rollout.alarm_states = None

    assert rollout.run().completed
    assert run.clock.now == pytest.approx(720)


def test_stopping_offline_mode_aborts_the_rollout():
    run = Run()
    rollout = run.rollout(canary())
    rollout.abort = threading.Event()
    rollout.abort.set()

    outcome = rollout.run()

    assert outcome.aborted
    assert not outcome.completed
