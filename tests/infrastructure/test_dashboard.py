"""The environment's CloudWatch dashboard: each row's widgets and the metrics they plot, per environment."""

from __future__ import annotations

import copy
import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Template

from lambdas.notify.app import QUALITY_METRICS as PUBLISHED_QUALITY
from stacks.components.dashboard import PipelineDashboard
from stacks.components.dashboard_widgets import QUALITY_METRICS, QUALITY_SERVICE
from stacks.config import load_environment
from tests.infrastructure.conftest import CDK_CONTEXT, Synthesized, parse_definition

Widget = dict[str, Any]
#: What CloudWatch assumes for a metric whose options omit them (CDK omits them when they are the default).
DEFAULTS = {"stat": "Average", "period": 300}


def _body(template: Template) -> dict[str, Any]:
    (dashboard,) = template.find_resources("AWS::CloudWatch::Dashboard").values()
    return parse_definition(dashboard["Properties"]["DashboardBody"])


def _widget(body: dict[str, Any], title: str) -> Widget:
    (widget,) = [w for w in body["widgets"] if w["properties"].get("title") == title]
    return widget


def _metrics(widget: Widget) -> list[dict[str, Any]]:
    """Each line of a metric widget as a dict: ``namespace``, ``name``, ``dims`` and its options, or an
    ``expression`` (with its options). CDK leaves out the defaults, which are filled in here."""
    lines = []
    for row in widget["properties"]["metrics"]:
        if len(row) == 1 and "expression" in row[0]:
            lines.append(dict(row[0]))
            continue
        *fields, options = row if isinstance(row[-1], dict) else (*row, {})
        namespace, name, *pairs = fields
        dims = dict(zip(pairs[::2], pairs[1::2], strict=True))
        lines.append({"namespace": namespace, "name": name, "dims": dims, **DEFAULTS, **options})
    return lines


def _named(widget: Widget, name: str) -> list[dict[str, Any]]:
    return [line for line in _metrics(widget) if line.get("name") == name]


def _machine_ref(synth: Synthesized, prefix: str) -> str:
    (logical_id,) = [
        i for i in synth.pipeline.find_resources("AWS::StepFunctions::StateMachine") if i.startswith(prefix)
    ]
    return "${" + logical_id + "}"


@pytest.fixture(scope="module", params=["dev", "prod"])
def synth(request: pytest.FixtureRequest) -> Synthesized:
    synthesized: Synthesized = request.getfixturevalue(request.param)
    return synthesized


@pytest.fixture(scope="module")
def body(synth: Synthesized) -> dict[str, Any]:
    return _body(synth.pipeline)


def test_one_dashboard_per_environment_in_the_pipeline_stack(synth: Synthesized, body: dict[str, Any]) -> None:
    # Given the environment's stacks
    (dashboard,) = synth.pipeline.find_resources("AWS::CloudWatch::Dashboard").values()
    # Then the pipeline stack holds one dashboard named for the environment, the inference stack none
    assert dashboard["Properties"]["DashboardName"] == f"FraudPipeline-{synth.config.name}"
    assert synth.inference.find_resources("AWS::CloudWatch::Dashboard") == {}
    # And it imports nothing from another stack: no cross-stack dependency for a dashboard
    assert "${Import:" not in json.dumps(body)
    # And its console address is a stack output
    url = json.dumps(synth.pipeline.find_outputs("DashboardUrl"))
    assert "#dashboards/dashboard/FraudPipeline-" + synth.config.name in url


@pytest.mark.parametrize(
    ("label", "prefix"),
    [
        ("Retraining", "WorkflowStateMachine"),
        ("Deployment", "DeploymentStateMachine"),
        ("Batch", "BatchStateMachine"),
        ("Drift", "DriftStateMachine"),
    ],
)
def test_each_state_machine_has_its_executions_and_duration(
    synth: Synthesized, body: dict[str, Any], label: str, prefix: str
) -> None:
    arn = {"StateMachineArn": _machine_ref(synth, prefix)}
    # Then its executions graph counts each outcome per hour, for that state machine
    executions = _widget(body, f"{label}: executions")
    for name in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"):
        [line] = _named(executions, name)
        assert (line["namespace"], line["dims"], line["stat"], line["period"]) == ("AWS/States", arn, "Sum", 3600)
    # And its duration graph turns ExecutionTime (milliseconds) into minutes
    duration = _widget(body, f"{label}: duration")
    times = _named(duration, "ExecutionTime")
    assert {line["stat"] for line in times} == {"Average", "Maximum"}
    assert all(line["dims"] == arn and line["visible"] is False for line in times)
    expressions = sorted(line["expression"] for line in _metrics(duration) if "expression" in line)
    assert expressions == ["avg_ms / 60000", "max_ms / 60000"]


def test_model_quality_is_plotted_per_environment_and_per_version(synth: Synthesized, body: dict[str, Any]) -> None:
    env = synth.config.name
    gate = synth.config.quality_gate
    # Then the time series plots every quality metric notify publishes, with its dimensions
    series = _widget(body, "Quality of each registered version, over time (test data)")
    for name, _label in QUALITY_METRICS:
        [line] = _named(series, name)
        assert (line["namespace"], line["dims"]) == ("FraudPipeline", {"environment": env, "service": QUALITY_SERVICE})
    # And the quality gate's floors are drawn
    floors = {a["label"]: a["value"] for a in series["properties"]["annotations"]["horizontal"]}
    assert floors == {"ROC-AUC floor": gate.min_roc_auc, "PR-AUC floor": gate.min_pr_auc}
    # And each version is a bar of its own, found by SEARCH on the version dimension
    for name, label in (("ModelPrAuc", "PR-AUC"), ("ModelRocAuc", "ROC-AUC")):
        bars = _widget(body, f"{label} by registered version")
        [search] = _metrics(bars)
        assert search["expression"] == (
            f'SEARCH(\'{{FraudPipeline,environment,service,version}} MetricName="{name}" environment="{env}"\''
            ", 'Maximum', 3600)"
        )
        assert search["label"] == "v${PROP('Dim.version')}"
        assert bars["properties"]["view"] == "bar"


def test_the_dashboard_reads_the_quality_metrics_notify_publishes(synth: Synthesized) -> None:
    # Given the metric names notify publishes and the service name its function runs under
    functions = synth.pipeline.find_resources("AWS::Lambda::Function")
    [notify] = [f for i, f in functions.items() if i.startswith("NotifyFunction")]
    # Then the dashboard plots the same names with the same service dimension
    assert [name for name, _ in QUALITY_METRICS] == [name for name, _ in PUBLISHED_QUALITY]
    assert notify["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == QUALITY_SERVICE


def test_endpoint_invocations_errors_latency_and_instances(synth: Synthesized, body: dict[str, Any]) -> None:
    config = synth.config
    variant = {"EndpointName": config.endpoint_name, "VariantName": "AllTraffic"}
    # Then invocations and both error counts are summed per 5 minutes on the endpoint's variant
    traffic = _widget(body, "Endpoint invocations and errors")
    for name in ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors"):
        [line] = _named(traffic, name)
        assert (line["namespace"], line["dims"], line["stat"], line["period"]) == ("AWS/SageMaker", variant, "Sum", 300)
    # And model latency p50 and p99 are shown in milliseconds (SageMaker reports microseconds)
    latency = _widget(body, "Model latency (ms; SageMaker reports microseconds)")
    assert sorted(line["stat"] for line in _named(latency, "ModelLatency")) == ["p50", "p99"]
    assert sorted(line["expression"] for line in _metrics(latency) if "expression" in line) == [
        "p50_us / 1000",
        "p99_us / 1000",
    ]
    [threshold] = latency["properties"]["annotations"]["horizontal"]
    assert threshold["value"] == config.endpoint_alarms.max_p99_latency_ms
    # And the instance count is derived from the invocation metrics, between the autoscaling bounds
    instances = _widget(body, "Endpoint instances (derived while traffic flows)")
    [count] = [line for line in _metrics(instances) if "expression" in line]
    assert count["expression"] == "invocations / per_instance"
    assert [line["stat"] for line in _named(instances, "InvocationsPerInstance")] == ["Sum"]
    bounds = {a["label"]: a["value"] for a in instances["properties"]["annotations"]["horizontal"]}
    assert config.autoscaling is not None
    assert bounds == {
        "autoscaling min": config.autoscaling.min_capacity,
        "autoscaling max": config.autoscaling.max_capacity,
    }


def test_api_errors_and_latency_by_api_name(synth: Synthesized, body: dict[str, Any]) -> None:
    api = {"ApiName": synth.config.api_name}
    errors = _widget(body, "API requests and errors")
    for name in ("4XXError", "5XXError", "Count"):
        [line] = _named(errors, name)
        assert (line["namespace"], line["dims"], line["stat"]) == ("AWS/ApiGateway", api, "Sum")
    latency = _widget(body, "API latency (ms)")
    assert sorted((line["dims"]["ApiName"], line["stat"]) for line in _named(latency, "Latency")) == [
        (synth.config.api_name, "p50"),
        (synth.config.api_name, "p99"),
    ]


def test_drift_metrics_of_the_environment(synth: Synthesized, body: dict[str, Any]) -> None:
    config = synth.config
    env = {"Environment": config.name}
    # Then PSI is searched per feature, against the tolerance
    psi = _widget(body, "PSI per feature")
    [search] = _metrics(psi)
    assert search["expression"] == (
        f'SEARCH(\'{{FraudPipeline/Drift,Environment,Feature}} MetricName="PSI" Environment="{config.name}"\''
        ", 'Maximum', 3600)"
    )
    assert search["label"] == "${PROP('Dim.Feature')}"
    assert psi["properties"]["annotations"]["horizontal"][0]["value"] == config.drift.tolerance.psi
    # And the job's counts and the live quality are plotted for the environment
    for title, names in (
        ("Drifted features and captured records", ["DriftedFeatures", "CapturedRecords", "InsufficientData"]),
        ("Live quality (labelled records)", ["LiveRocAuc", "LivePrAuc", "LivePrecision", "LiveRecall"]),
    ):
        widget = _widget(body, title)
        for name in names:
            [line] = _named(widget, name)
            assert (line["namespace"], line["dims"]) == (config.drift_metrics_namespace, env), name


def test_endpoint_alarms_have_a_status_widget(synth: Synthesized, body: dict[str, Any]) -> None:
    # Then one alarm status widget shows exactly the endpoint alarms, by reference to their resources
    [widget] = [w for w in body["widgets"] if w["type"] == "alarm"]
    alarms = synth.pipeline.find_resources("AWS::CloudWatch::Alarm")
    shown = [alarms[ref.removeprefix("${").removesuffix(".Arn}")] for ref in widget["properties"]["alarms"]]
    assert sorted(a["Properties"]["AlarmName"] for a in shown) == sorted(synth.config.endpoint_alarm_names.values())


def test_a_state_machine_more_is_one_more_pair() -> None:
    # Given the dashboard in a bare stack with three state machines, and an endpoint without autoscaling
    context = copy.deepcopy(CDK_CONTEXT)
    context["environments"]["dev"]["autoscaling"] = None
    config = load_environment(context, "dev")
    stack = cdk.Stack(cdk.App(), "Bare")
    machines = [
        (
            label,
            sfn.StateMachine(
                stack, label, definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, f"{label}Pass"))
            ),
        )
        for label in ("Retraining", "Deployment", "Batch")
    ]
    PipelineDashboard(
        stack, "Dashboard", config=config, state_machines=machines, endpoint_name="e", api_name="a", alarms=()
    )
    body = _body(Template.from_stack(stack))
    titles = [w["properties"].get("title") for w in body["widgets"]]
    # Then the third state machine has its executions and duration too
    assert {"Batch: executions", "Batch: duration"} <= set(titles)
    # And a fixed-size endpoint shows its fixed count, and no alarm widget is drawn without alarms
    instances = _widget(body, "Endpoint instances (derived while traffic flows)")
    [bound] = instances["properties"]["annotations"]["horizontal"]
    assert (bound["label"], bound["value"]) == ("fixed count", config.endpoint_initial_instance_count)
    assert all(w["type"] != "alarm" for w in body["widgets"])
