"""How an approved model reaches the endpoint: traffic shifting, the alarms that stop it, and scaling.

Part of :class:`stacks.config.EnvironmentConfig` (keys ``rollout``, ``endpoint_alarms`` and
``autoscaling`` of an environment in ``cdk.json``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CapacitySize(BaseModel):
    """A share of the new fleet (SageMaker API Reference, "CapacitySize")."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["INSTANCE_COUNT", "CAPACITY_PERCENT"] = "CAPACITY_PERCENT"
    value: int = Field(default=50, ge=1)

    def instances_of(self, fleet: int) -> int:
        """How many of ``fleet`` instances this size is (a percentage rounds up: no fleet is a fraction)."""
        return self.value if self.type == "INSTANCE_COUNT" else -(-fleet * self.value // 100)

    def describe(self) -> str:
        return f"{self.value} instance(s)" if self.type == "INSTANCE_COUNT" else f"{self.value}% of the fleet"


class Rollout(BaseModel):
    """How an endpoint update shifts traffic: SageMaker's blue/green deployment guardrails.

    ``ALL_AT_ONCE`` shifts every request to the new fleet, then bakes; ``CANARY`` shifts
    ``canary_size`` first and bakes ``wait_interval_seconds`` before the rest; ``LINEAR``
    shifts ``linear_step_size`` per step with a bake after each. During every bake the endpoint
    alarms are watched and any in ALARM rolls the update back; ``termination_wait_seconds``
    keeps the old fleet (and the watch) after the last shift. SageMaker Developer Guide,
    "Deployment guardrails"; API Reference, "BlueGreenUpdatePolicy", "TrafficRoutingConfig".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    traffic: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"] = "ALL_AT_ONCE"
    canary_size: CapacitySize = Field(default_factory=CapacitySize)
    linear_step_size: CapacitySize = Field(default_factory=lambda: CapacitySize(type="CAPACITY_PERCENT", value=25))
    #: The bake after each traffic shift (TrafficRoutingConfig.WaitIntervalInSeconds, 0-3600).
    wait_interval_seconds: int = Field(default=300, ge=0, le=3600)
    #: How long the old fleet stays after all traffic moved (BlueGreenUpdatePolicy, 0-3600).
    termination_wait_seconds: int = Field(default=120, ge=0, le=3600)
    #: The whole deployment's limit (BlueGreenUpdatePolicy.MaximumExecutionTimeoutInSeconds, 600-14400).
    max_execution_timeout_seconds: int = Field(default=1800, ge=600, le=14400)

    @property
    def bakes(self) -> int:
        """How many bakes of ``wait_interval_seconds``: one after each traffic shift, the last one the final bake.

        A canary shifts twice (the canary, then the rest); a linear rollout once per step (SageMaker
        Developer Guide, "Use canary traffic shifting", "Use linear traffic shifting"). A linear step
        given as an instance count is counted as the smallest allowed step, 10 %.
        """
        if self.traffic == "LINEAR":
            step = self.linear_step_size
            percent = step.value if step.type == "CAPACITY_PERCENT" else 10
            return -(-100 // percent)
        return 2 if self.traffic == "CANARY" else 1

    @property
    def baking_seconds(self) -> int:
        """The waits a deployment holds by design (bakes plus the termination wait)."""
        return self.bakes * self.wait_interval_seconds + self.termination_wait_seconds


class EndpointAlarmSettings(BaseModel):
    """The endpoint's CloudWatch alarms; they notify the topic and roll a deployment back.

    Error alarms take the Average of a 0/1-per-invocation metric, which is the error rate, so
    one threshold fits any traffic volume (SageMaker Developer Guide, "Amazon SageMaker AI
    metrics in Amazon CloudWatch": Invocation5XXErrors, ModelLatency in microseconds).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    period_seconds: Literal[10, 30, 60, 120, 300, 600, 900, 1800, 3600] = 60
    evaluation_periods: int = Field(default=1, ge=1, le=10)
    #: Share of invocations answered 5xx that trips the alarm (Invocation5XXErrors, Average).
    max_5xx_rate: float = Field(default=0.02, gt=0, le=1)
    #: p99 of ModelLatency that trips the alarm, in milliseconds (the metric itself is microseconds).
    max_p99_latency_ms: float = Field(default=500, gt=0)
    #: Share of 4xx answers that trips an alarm; null for none (callers' bad requests are not the model's fault).
    max_4xx_rate: float | None = Field(default=None, gt=0, le=1)


class Autoscaling(BaseModel):
    """Target tracking on SageMakerVariantInvocationsPerInstance, registered after each deployment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_capacity: int = Field(default=1, ge=1, le=100)
    max_capacity: int = Field(default=2, ge=1, le=100)
    #: Invocations per instance per minute to hold.
    target_invocations_per_instance: int = Field(default=1000, ge=1)
    scale_in_cooldown_seconds: int = Field(default=300, ge=0, le=3600)
    scale_out_cooldown_seconds: int = Field(default=60, ge=0, le=3600)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.max_capacity < self.min_capacity:
            raise ValueError(f"max_capacity {self.max_capacity} is below min_capacity {self.min_capacity}")
        return self


def check_rollout(rollout: Rollout, *, fleet: int, poll_budget: int) -> None:
    """Refuse a rollout SageMaker would refuse, or that the deployment state machine would give up on."""
    sizes = {"CANARY": ("canary_size", rollout.canary_size), "LINEAR": ("linear_step_size", rollout.linear_step_size)}
    if rollout.traffic in sizes:
        key, size = sizes[rollout.traffic]
        # SageMaker: a canary or linear step is at most half the variant's instances (TrafficRoutingConfig).
        if size.instances_of(fleet) > fleet / 2 or (size.type == "CAPACITY_PERCENT" and size.value > 50):
            raise ValueError(
                f"rollout.{key} ({size.describe()}) must be at most half of the fleet's {fleet} instance(s); "
                f"{rollout.traffic} needs endpoint_initial_instance_count (and autoscaling.min_capacity) of at "
                "least 2, or use traffic ALL_AT_ONCE"
            )
        if rollout.traffic == "LINEAR" and size.type == "CAPACITY_PERCENT" and size.value < 10:
            raise ValueError(f"rollout.linear_step_size is {size.value}%; SageMaker needs at least 10%")
    if rollout.max_execution_timeout_seconds <= rollout.baking_seconds:
        raise ValueError(
            f"rollout.max_execution_timeout_seconds ({rollout.max_execution_timeout_seconds}) must exceed the "
            f"waits it contains: {rollout.bakes} bake(s) of {rollout.wait_interval_seconds} s plus a "
            f"termination wait of {rollout.termination_wait_seconds} s = {rollout.baking_seconds} s"
        )
    if poll_budget < rollout.max_execution_timeout_seconds:
        raise ValueError(
            f"endpoint_poll_seconds x endpoint_max_polls ({poll_budget} s) is shorter than "
            f"rollout.max_execution_timeout_seconds ({rollout.max_execution_timeout_seconds} s): the deployment "
            "state machine would give up on an update SageMaker is still baking"
        )
