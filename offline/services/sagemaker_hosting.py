"""SageMaker endpoints as local model server processes, and the deployments that replace them.

CreateEndpoint and UpdateEndpoint are asynchronous in AWS, and so they are here: the endpoint
is ``Creating`` (``Updating``) while a model server starts (:mod:`offline.services.model_servers`)
and ``InService`` once it is healthy. A server that never becomes healthy makes a new endpoint
``Failed``; a failed update leaves the old server and config (``InService``, ``FailureReason``).

Every update is blue/green (SageMaker Developer Guide, "Deployment guardrails" → "Blue/Green
Deployments"): the new (green) fleet starts while the old (blue) one serves. Without a
DeploymentConfig all traffic then moves at once. With one, it shifts as the BlueGreenUpdatePolicy
says (:mod:`offline.services.sagemaker_rollout`, split by :mod:`offline.services.traffic_routing`),
``Updating`` until the blue fleet is terminated; an auto-rollback alarm in ALARM makes it
``RollingBack``: all traffic back to blue, green stopped, then ``InService`` on the old config
with a FailureReason naming the alarms. Guardrails read the alarms as the new model's execution
role (``cloudwatch:DescribeAlarms``, Developer Guide, "Auto-Rollback Configuration and
Monitoring"); a role that may not fails the update before any traffic moves. CreateEndpoint never
shifts traffic. No request sent through the runtime proxy fails because of a deployment.
Each traffic step is kept (:meth:`EndpointFleet.timeline`) and logged.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from offline.run.faults import FaultPlan
from offline.run.local_aws import LocalAws
from offline.services.iam.enforcement import Iam
from offline.services.model_servers import HEALTH_TIMEOUT_SECONDS, ModelServers, ServerPool
from offline.services.model_servers import DeployError as DeployError
from offline.services.model_servers import LiveProcess as LiveProcess
from offline.services.model_servers import model_container as model_container
from offline.services.model_servers import server_environment as server_environment
from offline.services.sagemaker_deployment_config import DeploymentPolicy, variant_summaries
from offline.services.sagemaker_rollout import AlarmStates, Clock, Rollout
from offline.services.sagemaker_rollout import TrafficStep as TrafficStep
from offline.services.traffic_routing import RouteTarget, WeightedRouter

#: How long a process that no longer gets traffic keeps serving its in-flight requests before it stops.
DRAIN_SECONDS = 1.0


@dataclass(frozen=True)
class _Deployment:
    update: bool
    policy: DeploymentPolicy | None
    instance_count: int | None
    fault_rate: float
    abort: threading.Event


class EndpointFleet:
    """The live server processes behind each endpoint, and the deployments that replace them."""

    def __init__(
        self,
        *,
        aws: LocalAws,
        workdir: Path,
        faults: FaultPlan,
        describe_config: Callable[[str], dict[str, Any]],
        describe_model: Callable[[str], Any],
        log: Callable[[str], None] = print,
        iam: Iam | None = None,
        describe_model_package: Callable[[str], dict[str, Any]] | None = None,
        alarm_states: AlarmStates | None = None,
        time_scale: float = 60.0,
        servers: ServerPool | None = None,
        clock: Clock | None = None,
        drain_seconds: float = DRAIN_SECONDS,
    ) -> None:
        """``alarm_states(names)``: each alarm's (StateValue, StateReason); ``time_scale``: simulated s per real s."""
        self._aws = aws
        self._servers: ServerPool = servers or ModelServers(
            aws=aws,
            workdir=workdir / "endpoints",
            describe_config=describe_config,
            describe_model=describe_model,
            describe_model_package=describe_model_package or self._describe_package_through_api,
            iam=iam,
        )
        self._faults = faults
        self._describe_config = describe_config
        self._log = log
        self._alarm_states = alarm_states
        self._time_scale = time_scale
        self._clock = clock
        self._drain_seconds = drain_seconds
        self._lock = threading.Lock()
        self._live: dict[str, LiveProcess] = {}
        #: The green fleet of a rollout in progress, and the router splitting requests between "blue" and "green".
        self._green: dict[str, tuple[LiveProcess, WeightedRouter[str]]] = {}
        self._timelines: dict[str, list[TrafficStep]] = {}
        self._aborts: dict[str, threading.Event] = {}
        self._fault_rate = 0.0
        self._threads: list[threading.Thread] = []

    # --- what the runtime and the scenarios ask -------------------------------------------------

    def route(self, endpoint_name: str) -> RouteTarget | None:
        """Where the next request to ``endpoint_name`` goes (weighted during a rollout), or None."""
        with self._lock:
            chosen = self._live.get(endpoint_name)
            green, router = self._green.get(endpoint_name, (None, None))
            if green is not None and router is not None and router.choose() == "green":
                chosen = green
        if chosen is None:
            return None
        return RouteTarget(url=chosen.url, config_name=chosen.config_name, variant=chosen.variant)

    def timeline(self, endpoint_name: str) -> list[TrafficStep]:
        """Every traffic step of ``endpoint_name`` so far, oldest first."""
        with self._lock:
            return list(self._timelines.get(endpoint_name, []))

    def inject_errors(self, rate: float) -> None:
        """Make the next deployment's model server answer ``rate`` of its invocations 500 (scenarios)."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"the injected 5xx rate must be from 0 to 1, got {rate}")
        with self._lock:
            self._fault_rate = rate

    def live_processes(self) -> dict[str, LiveProcess]:
        with self._lock:
            return dict(self._live)

    # --- deployments ------------------------------------------------------------------------

    def deploy(
        self,
        endpoint: Any,
        config_name: str,
        *,
        update: bool,
        policy: DeploymentPolicy | None = None,
        instance_count: int | None = None,
    ) -> None:
        """Start deploying ``config_name`` behind moto's ``endpoint`` record, in the background.

        ``policy`` (UpdateEndpoint's DeploymentConfig) shifts the traffic of an update step by step;
        ``instance_count`` is the new fleet's size (the config's, or the retained one).
        """
        endpoint.endpoint_status = "Updating" if update else "Creating"
        endpoint.last_modified_time = _now()
        endpoint.failure_reason = None
        abort = threading.Event()
        with self._lock:
            fault_rate, self._fault_rate = self._fault_rate, 0.0
            self._aborts[endpoint.endpoint_name] = abort
        deployment = _Deployment(update, policy, instance_count, fault_rate, abort)
        thread = threading.Thread(
            target=self._deploy, args=(endpoint, config_name, deployment), name=f"deploy-{endpoint.endpoint_name}"
        )
        thread.daemon = True
        self._threads.append(thread)
        thread.start()

    def _deploy(self, endpoint: Any, config_name: str, deployment: _Deployment) -> None:
        name = endpoint.endpoint_name
        broken = self._faults.take("endpoint", name)
        try:
            green = self._servers.start(name, config_name, broken=broken, fault_rate=deployment.fault_rate)
        except Exception as error:
            self._failed(endpoint, config_name, deployment.update, str(error))
            return
        if deployment.abort.is_set():  # deleted while the server started
            self._servers.stop(green)
            return
        with self._lock:
            blue = self._live.get(name)
        if blue is None or deployment.policy is None:
            self._switch_at_once(endpoint, blue, green, deployment)
            return
        try:
            self._servers.require_alarm_access(name, config_name, deployment.policy.alarms)
        except DeployError as refused:
            self._servers.stop(green)
            self._failed(endpoint, config_name, deployment.update, str(refused))
            return
        self._blue_green(endpoint, blue, green, deployment)

    def _failed(self, endpoint: Any, config_name: str, update: bool, reason: str) -> None:
        name = endpoint.endpoint_name
        endpoint.failure_reason = reason
        endpoint.last_modified_time = _now()
        # A failed update rolls back to the running config; a failed create is Failed.
        with self._lock:
            serving = self._live.get(name)
        endpoint.endpoint_status = "InService" if update and serving is not None else "Failed"
        shares = {serving.config_name: 1.0} if serving is not None else {}
        self._record(name, shares, f"deploy of {config_name} failed: {reason}")

    def _switch_at_once(self, endpoint: Any, blue: LiveProcess | None, green: LiveProcess, d: _Deployment) -> None:
        """CreateEndpoint, or an update without DeploymentConfig: all traffic moves at once, no bake."""
        name = endpoint.endpoint_name
        with self._lock:
            self._live[name] = green
        self._serve(endpoint, green, d.instance_count)
        if blue is None:
            event = f"all traffic to {green.config_name} (first deployment: no traffic shifting)"
        else:
            event = f"all traffic to {green.config_name} at once (no DeploymentConfig: no traffic shifting or bake)"
        self._record(name, {green.config_name: 1.0}, event)
        if blue is not None:
            self._retire(name, blue, green)

    def _blue_green(self, endpoint: Any, blue: LiveProcess, green: LiveProcess, d: _Deployment) -> None:
        name = endpoint.endpoint_name
        assert d.policy is not None
        with self._lock:
            self._green[name] = (green, WeightedRouter({"blue": 1, "green": 0}))
        rollout = Rollout(
            policy=d.policy,
            instances=d.instance_count or 1,
            new_config=green.config_name,
            old_config=blue.config_name,
            shift=lambda share: self._set_green_share(name, share),
            record=lambda shares, event: self._record(name, shares, event),
            alarm_states=self._alarm_states,
            time_scale=self._time_scale,
            clock=self._clock,
            abort=d.abort,
        )
        outcome = rollout.run()
        if outcome.aborted:
            return  # delete() or stop_all() stops the processes
        if outcome.completed:
            with self._lock:
                self._live[name] = green
                self._green.pop(name, None)
            self._retire(name, blue, green)  # the endpoint is Updating until the blue fleet is terminated
            self._serve(endpoint, green, d.instance_count)
            return
        self._roll_back(endpoint, blue, green, outcome.failure_reason or "rolled back")

    def _roll_back(self, endpoint: Any, blue: LiveProcess, green: LiveProcess, reason: str) -> None:
        """RollingBack: all traffic to blue, green drained and stopped, then InService on the old config."""
        name = endpoint.endpoint_name
        endpoint.endpoint_status = "RollingBack"
        endpoint.last_modified_time = _now()
        self._set_green_share(name, Fraction(0))
        self._record(name, {blue.config_name: 1.0}, f"rolling back: all traffic to {blue.config_name}")
        time.sleep(self._drain_seconds)
        with self._lock:
            self._green.pop(name, None)
        self._servers.stop(green)
        endpoint.failure_reason = reason
        endpoint.last_modified_time = _now()
        endpoint.endpoint_status = "InService"
        self._record(name, {blue.config_name: 1.0}, f"rolled back: {green.config_name} stopped; {reason}")

    def _set_green_share(self, name: str, share: Fraction) -> None:
        with self._lock:
            _, router = self._green.get(name, (None, None))
            if router is not None:
                router.set_shares({"blue": 1 - share, "green": share})

    def _serve(self, endpoint: Any, live: LiveProcess, instance_count: int | None) -> None:
        endpoint.endpoint_config_name = live.config_name
        endpoint.production_variants = variant_summaries(self._describe_config(live.config_name), instance_count)
        endpoint.last_modified_time = _now()
        endpoint.endpoint_status = "InService"

    def _retire(self, name: str, old: LiveProcess, new: LiveProcess) -> None:
        """Stop the process that no longer gets traffic, once its in-flight requests had time to finish."""
        time.sleep(self._drain_seconds)
        self._servers.stop(old)
        self._record(
            name, {new.config_name: 1.0}, f"{old.config_name} (port {old.port}) stopped; {new.config_name} serves"
        )

    def _record(self, name: str, shares: Mapping[str, float], event: str) -> None:
        step = TrafficStep(at=time.time(), shares=dict(shares), event=event)
        with self._lock:
            self._timelines.setdefault(name, []).append(step)
        self._log(f"endpoint {name}: {event}")

    def _describe_package_through_api(self, name: str) -> dict[str, Any]:
        described: dict[str, Any] = self._aws.client("sagemaker").describe_model_package(ModelPackageName=name)
        return described

    # --- teardown ---------------------------------------------------------------------------

    def delete(self, endpoint_name: str) -> None:
        with self._lock:
            stopping = [self._live.pop(endpoint_name, None), self._green.pop(endpoint_name, (None, None))[0]]
            abort = self._aborts.pop(endpoint_name, None)
        if abort is not None:
            abort.set()
        for live in stopping:
            if live is not None:
                self._servers.stop(live)

    def stop_all(self) -> None:
        with self._lock:
            aborts = list(self._aborts.values())
        for abort in aborts:
            abort.set()
        for thread in self._threads:
            thread.join(HEALTH_TIMEOUT_SECONDS)
        for name in set(self._live) | set(self._green):
            self.delete(name)


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)
