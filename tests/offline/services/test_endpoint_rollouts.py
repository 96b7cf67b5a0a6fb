"""EndpointFleet deployments: traffic split during a canary, statuses, rollback, guardrail permissions.

The model servers are fakes (no process) and the clock is fake, so a rollout of minutes runs in
milliseconds; the DescribeAlarms permission check runs against real offline IAM.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from offline import moto_patches
from offline.run.active import activate
from offline.run.faults import FaultPlan
from offline.run.local_aws import ACCESS_KEY, running_moto
from offline.services.iam.enforcement import Iam
from offline.services.model_servers import DeployError, LiveProcess, ModelServers
from offline.services.sagemaker_deployment_config import CapacitySize, DeploymentPolicy
from offline.services.sagemaker_hosting import EndpointFleet
from tests.offline.services.fake_clock import FakeClock
from tests.offline.services_stub import bare_services

ENDPOINT = "fraud-detector-stage"
ALARM = "fraud-detector-stage-5xx-rate"
CANARY = DeploymentPolicy(
    traffic="CANARY",
    canary_size=CapacitySize("INSTANCE_COUNT", 1),
    wait_interval=300,
    termination_wait=120,
    max_execution_timeout=1800,
    alarms=(ALARM,),
)


@dataclass
class FakeServers:
    """Model servers that start at once; records starts, stops and the injected fault rates."""

    refuse_alarms: str | None = None
    started: list[tuple[str, float]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def start(self, endpoint_name: str, config_name: str, *, broken: bool, fault_rate: float = 0.0) -> LiveProcess:
        self.started.append((config_name, fault_rate))
        port = len(self.started)
        return LiveProcess(process=cast(Any, None), port=port, config_name=config_name, log_file=Path("/dev/null"))

    def stop(self, live: LiveProcess) -> None:
        self.stopped.append(live.config_name)

    def require_alarm_access(self, endpoint_name: str, config_name: str, alarms: tuple[str, ...]) -> None:
        if self.refuse_alarms:
            raise DeployError(self.refuse_alarms)


@dataclass
class Fleet:
    fleet: EndpointFleet
    servers: FakeServers
    clock: FakeClock
    endpoint: Any
    #: (endpoint status, log line) as each step was logged.
    logged: list[tuple[str, str]]

    def deploy(self, config_name: str, **options: Any) -> None:
        self.fleet.deploy(self.endpoint, config_name, **options)
        deadline = time.monotonic() + 5
        while self.endpoint.endpoint_status not in ("InService", "Failed") and time.monotonic() < deadline:
            time.sleep(0.01)

    def events(self) -> list[str]:
        return [step.event for step in self.fleet.timeline(ENDPOINT)]

    def route(self) -> str:
        target = self.fleet.route(ENDPOINT)
        assert target is not None
        return target.config_name


def make_fleet(alarm_states: Callable[[FakeClock, EndpointFleet], Callable[[list[str]], Any]] | None = None) -> Fleet:
    clock = FakeClock()
    servers = FakeServers()
    logged: list[tuple[str, str]] = []
    endpoint = SimpleNamespace(endpoint_name=ENDPOINT, endpoint_status="Creating", failure_reason=None)
    configs = {
        name: {"ProductionVariants": [{"VariantName": "AllTraffic", "InitialInstanceCount": 2}]}
        for name in ("config-v1", "config-v2")
    }
    holder: dict[str, EndpointFleet] = {}
    fleet = EndpointFleet(
        aws=cast(Any, None),
        workdir=Path("/unused"),
        faults=FaultPlan(),
        describe_config=configs.__getitem__,
        describe_model=lambda name: None,
        log=lambda line: logged.append((endpoint.endpoint_status, line)),
        alarm_states=(lambda names: alarm_states(clock, holder["fleet"])(names)) if alarm_states else None,
        time_scale=1.0,
        servers=servers,
        clock=clock,
        drain_seconds=0,
    )
    holder["fleet"] = fleet
    return Fleet(fleet, servers, clock, endpoint, logged)


def test_the_first_deployment_shifts_no_traffic():
    local = make_fleet()

    local.deploy("config-v1", update=False)

    assert local.endpoint.endpoint_status == "InService"
    assert local.events() == ["all traffic to config-v1 (first deployment: no traffic shifting)"]


def test_a_canary_splits_traffic_exactly_then_moves_it_all_and_stops_the_old_fleet():
    # Given a live endpoint on v1, and alarms that stay OK while the test samples where requests go
    routed: dict[str, list[str]] = {}

    def alarm_states(clock: FakeClock, fleet: EndpointFleet) -> Callable[[list[str]], Any]:
        def states(names: list[str]) -> dict[str, tuple[str, str]]:
            phase = fleet.timeline(ENDPOINT)[-1].event.split(" to ")[0].split(":")[0]
            if phase not in routed:
                routed[phase] = [fleet.route(ENDPOINT).config_name for _ in range(4)]  # type: ignore[union-attr]
            return {name: ("OK", "fine") for name in names}

        return states

    local = make_fleet(alarm_states)
    local.deploy("config-v1", update=False)
    # When v2 is deployed with a canary of 1 of 2 instances
    local.deploy("config-v2", update=True, policy=CANARY, instance_count=2)
    # Then half the requests went to v2 during the canary bake, all of them afterwards
    assert routed == {
        "canary": ["config-v1", "config-v2", "config-v1", "config-v2"],
        "all traffic": ["config-v2"] * 4,
        "termination wait 120 s": ["config-v2"] * 4,
    }
    # ...each step is in the timeline, the endpoint stayed Updating until the end
    assert local.events()[1:] == [
        "canary: 50% of traffic to config-v2 (1 of 2 instances), baking 300 s",
        "all traffic to config-v2 (2 of 2 instances), baking 300 s",
        "termination wait 120 s: config-v1 kept without traffic, alarms watched",
        "config-v1 (port 1) stopped; config-v2 serves",
    ]
    assert [status for status, _ in local.logged[1:4]] == ["Updating"] * 3
    # ...and the endpoint serves v2 only, on two instances
    assert local.endpoint.endpoint_status == "InService"
    assert local.endpoint.endpoint_config_name == "config-v2"
    assert local.endpoint.production_variants[0]["CurrentInstanceCount"] == 2
    assert local.servers.stopped == ["config-v1"]
    assert {local.route() for _ in range(4)} == {"config-v2"}


def test_an_alarm_in_the_canary_rolls_back_to_the_old_config_with_the_alarm_as_reason():
    # Given the 5xx alarm fires 60 s into the canary bake
    def alarm_states(clock: FakeClock, fleet: EndpointFleet) -> Callable[[list[str]], Any]:
        return lambda names: {ALARM: ("ALARM", "Threshold Crossed") if clock.now >= 60 else ("OK", "fine")}

    local = make_fleet(alarm_states)
    local.deploy("config-v1", update=False)
    # When v2 is deployed as a canary
    local.deploy("config-v2", update=True, policy=CANARY, instance_count=2)
    # Then the endpoint went RollingBack, then InService on v1 with the alarm as FailureReason
    assert ("RollingBack", f"endpoint {ENDPOINT}: rolling back: all traffic to config-v1") in local.logged
    assert local.endpoint.endpoint_status == "InService"
    assert local.endpoint.endpoint_config_name == "config-v1"
    assert f"{ALARM}: Threshold Crossed" in local.endpoint.failure_reason
    # ...v2 stopped, v1 kept, and every request goes to v1
    assert local.servers.stopped == ["config-v2"]
    assert {local.route() for _ in range(4)} == {"config-v1"}
    assert f"alarm {ALARM} in ALARM: rolling back" in local.events()


def test_an_execution_role_that_cannot_read_the_alarms_fails_the_update_before_any_traffic_moves():
    local = make_fleet(lambda clock, fleet: lambda names: {})
    local.servers.refuse_alarms = "not authorized to perform: cloudwatch:DescribeAlarms"
    local.deploy("config-v1", update=False)

    local.deploy("config-v2", update=True, policy=CANARY, instance_count=2)

    assert local.endpoint.endpoint_status == "InService"
    assert local.endpoint.endpoint_config_name == "config-v1"
    assert "cloudwatch:DescribeAlarms" in local.endpoint.failure_reason
    assert local.servers.stopped == ["config-v2"]
    assert not any(event.startswith("canary") for event in local.events())


def test_an_update_without_deployment_config_moves_all_traffic_at_once():
    local = make_fleet()
    local.deploy("config-v1", update=False)

    local.deploy("config-v2", update=True, instance_count=2)

    assert local.events()[1] == ("all traffic to config-v2 at once (no DeploymentConfig: no traffic shifting or bake)")
    assert local.endpoint.endpoint_config_name == "config-v2"


def test_injected_errors_go_to_the_next_deployment_only():
    local = make_fleet()
    local.deploy("config-v1", update=False)
    local.fleet.inject_errors(0.5)

    local.deploy("config-v2", update=True, instance_count=2)
    local.deploy("config-v1", update=True, instance_count=2)

    assert local.servers.started == [("config-v1", 0.0), ("config-v2", 0.5), ("config-v1", 0.0)]
    with pytest.raises(ValueError, match="from 0 to 1"):
        local.fleet.inject_errors(1.5)


# --- the DescribeAlarms check, against offline IAM ---------------------------------------------


@pytest.fixture
def servers_with_iam(tmp_path: Path) -> Iterator[tuple[ModelServers, Any]]:
    with running_moto(account="123456789012", region="us-east-1") as aws:
        moto_patches.install()
        iam = Iam(account=aws.account, region=aws.region, endpoint_url=aws.endpoint_url, operator_key=ACCESS_KEY)
        activate(bare_services(iam=iam))
        try:
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
            client = aws.client("iam")
            role = client.create_role(RoleName="model-role", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
            allowed = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{ALARM}"
            policy = {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "cloudwatch:DescribeAlarms", "Resource": allowed}],
            }
            client.put_role_policy(RoleName="model-role", PolicyName="alarms", PolicyDocument=json.dumps(policy))
            model = SimpleNamespace(execution_role_arn=role, arn="arn:aws:sagemaker:us-east-1:123456789012:model/m2")
            servers = ModelServers(
                aws=aws,
                workdir=tmp_path,
                describe_config=lambda name: {"ProductionVariants": [{"ModelName": "m2", "VariantName": "AllTraffic"}]},
                describe_model=lambda name: model,
                describe_model_package=lambda name: {},
                iam=iam,
            )
            yield servers, role
        finally:
            activate(None)


@pytest.mark.slow
def test_guardrails_read_each_alarm_as_the_models_execution_role(servers_with_iam: tuple[ModelServers, Any]):
    servers, role = servers_with_iam
    # Given a role allowed DescribeAlarms on the 5xx alarm only
    servers.require_alarm_access(ENDPOINT, "config-v2", (ALARM,))
    # When a second alarm is watched too
    with pytest.raises(DeployError) as refused:
        servers.require_alarm_access(ENDPOINT, "config-v2", (ALARM, "fraud-detector-stage-p99-latency"))
    # Then the deployment fails, naming the role, the action and the alarm it may not read
    message = str(refused.value)
    assert message.startswith(
        f"Deployment guardrails cannot monitor the auto-rollback alarms as the execution role {role}"
    )
    assert "cloudwatch:DescribeAlarms" in message
    assert "alarm:fraud-detector-stage-p99-latency" in message
