"""The environment's CloudWatch dashboard, ``FraudPipeline-<env>``: from a run's executions to live drift.

Rows, top to bottom, each under a short heading: the state machines' executions and durations; the
quality of every registered version (custom metrics ``notify`` publishes at registration); the
endpoint; the prediction API; the drift job's metrics; the endpoint alarms. The widgets are built in
``dashboard_widgets.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.components.dashboard_widgets import (
    Widgets,
    api_widgets,
    drift_widgets,
    endpoint_widgets,
    execution_widgets,
    model_quality_widgets,
)
from stacks.components.endpoint_alarms import VARIANT
from stacks.config import EnvironmentConfig

#: (label, state machine): each gets an executions graph and a duration graph, in this order.
StateMachines = Sequence[tuple[str, sfn.IStateMachine]]

WIDTH = 24


def _heading(markdown: str) -> cloudwatch.TextWidget:
    return cloudwatch.TextWidget(markdown=markdown, width=WIDTH, height=2)


class PipelineDashboard(Construct):
    """One dashboard per environment. Adding a state machine is one more ``(label, machine)`` pair."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        state_machines: StateMachines,
        endpoint_name: str,
        api_name: str,
        alarms: Sequence[cloudwatch.IAlarm] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        #: The name is the interface: the README sends people to it.
        self.dashboard_name = f"FraudPipeline-{config.name}"
        self.dashboard = cloudwatch.Dashboard(
            self, "Dashboard", dashboard_name=self.dashboard_name, default_interval=Duration.days(7)
        )
        executions: Widgets = [w for label, machine in state_machines for w in execution_widgets(label, machine)]
        self._section(
            "## Executions\nPer state machine: executions started and how they ended, per hour; and their duration.",
            # Two state machines (four widgets, 24 wide) per row.
            *(executions[start : start + 4] for start in range(0, len(executions), 4)),
        )
        self._section(
            "## Model quality at registration\nEvery registered version (approved, pending or rejected), on the "
            "held-out test data: one point per registration, so a drop shows against the quality gate's floors.",
            model_quality_widgets(config),
        )
        self._section(
            f"## Endpoint `{endpoint_name}` (variant {VARIANT})\nInvocations and errors per 5 minutes, model "
            "latency, and the instance count derived from the invocation metrics.",
            endpoint_widgets(config, endpoint_name),
        )
        self._section(
            f"## Prediction API `{api_name}`\nRequests and errors per 5 minutes; latency as callers see it.",
            api_widgets(api_name),
        )
        self._section(
            "## Drift: captured traffic against the training baseline\nOne point per drift job; live quality "
            "only when labels arrived under `labels/`.",
            drift_widgets(config),
        )
        if alarms:
            self.dashboard.add_widgets(
                cloudwatch.AlarmStatusWidget(
                    title=f"Endpoint alarms (any one in ALARM rolls back an endpoint update): {endpoint_name}",
                    alarms=list(alarms),
                    width=WIDTH,
                    height=3,
                )
            )
        region = Stack.of(self).region
        #: Where the console shows it.
        self.url = (
            f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#dashboards/dashboard/{self.dashboard_name}"
        )

    def _section(self, heading: str, *rows: Widgets) -> None:
        self.dashboard.add_widgets(_heading(heading))
        for row in rows:
            self.dashboard.add_widgets(*row)
