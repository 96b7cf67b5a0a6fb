"""The widgets of the environment's dashboard, one function per row (composed by ``dashboard.py``).

Metric names, units and dimensions come from "Monitoring Step Functions metrics using Amazon
CloudWatch", "Amazon SageMaker AI metrics in Amazon CloudWatch" and "Amazon API Gateway dimensions
and metrics"; SEARCH and metric math from the CloudWatch User Guide ("Use search expressions in
graphs", "Use metric math"). The custom metrics are ``notify``'s (model quality at registration) and
the drift job's (``training.monitor``).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_stepfunctions as sfn

from stacks.components.endpoint_alarms import NAMESPACE as SAGEMAKER_NAMESPACE
from stacks.components.endpoint_alarms import VARIANT
from stacks.components.python_function import METRICS_NAMESPACE
from stacks.config import EnvironmentConfig

#: Powertools' ``service`` dimension of the ``notify`` function, which publishes the quality metrics.
QUALITY_SERVICE = "notify"
#: What ``notify`` publishes for each registered version (its ``QUALITY_METRICS``): (metric, label).
QUALITY_METRICS = (
    ("ModelRocAuc", "ROC-AUC"),
    ("ModelPrAuc", "PR-AUC"),
    ("ModelPrecision", "precision at threshold"),
    ("ModelRecall", "recall at threshold"),
)
#: The drift job's quality on labelled live records: (metric, label).
LIVE_QUALITY_METRICS = (
    ("LiveRocAuc", "ROC-AUC"),
    ("LivePrAuc", "PR-AUC"),
    ("LivePrecision", "precision"),
    ("LiveRecall", "recall"),
)
#: Runs, registrations and drift jobs happen a few times a day at most.
SPARSE = Duration.hours(1)
#: Traffic on the endpoint and the API.
TRAFFIC = Duration.minutes(5)

Widgets = list[cloudwatch.IWidget]


def search(namespace: str, schema: Sequence[str], filters: dict[str, str], label: str) -> cloudwatch.MathExpression:
    """A SEARCH over one metric schema, one line per match: the Maximum of each hour."""
    terms = " ".join(f'{key}="{value}"' for key, value in filters.items())
    expression = f"SEARCH('{{{','.join([namespace, *schema])}}} {terms}', 'Maximum', {int(SPARSE.to_seconds())})"
    return cloudwatch.MathExpression(expression=expression, label=label, period=SPARSE)


def _scaled(metric: cloudwatch.Metric, metric_id: str, divisor: int, label: str) -> cloudwatch.MathExpression:
    """``metric / divisor``; ``metric_id`` must be unique within the graph."""
    return cloudwatch.MathExpression(
        expression=f"{metric_id} / {divisor}", using_metrics={metric_id: metric}, label=label, period=metric.period
    )


def _floors(config: EnvironmentConfig) -> list[cloudwatch.HorizontalAnnotation]:
    gate = config.quality_gate
    return [
        cloudwatch.HorizontalAnnotation(value=gate.min_roc_auc, label="ROC-AUC floor"),
        cloudwatch.HorizontalAnnotation(value=gate.min_pr_auc, label="PR-AUC floor"),
    ]


def execution_widgets(label: str, machine: sfn.IStateMachine) -> Widgets:
    """Executions by outcome per hour (AWS/States, dimension StateMachineArn) and their duration."""
    counts = [
        machine.metric_started(label="started", period=SPARSE, statistic="Sum"),
        machine.metric_succeeded(label="succeeded", period=SPARSE, statistic="Sum"),
        machine.metric_failed(label="failed", period=SPARSE, statistic="Sum"),
        # Neither of these counts as failed, yet the run did not finish.
        machine.metric_timed_out(label="timed out", period=SPARSE, statistic="Sum"),
        machine.metric_aborted(label="aborted", period=SPARSE, statistic="Sum"),
    ]
    # ExecutionTime is in milliseconds; runs last minutes to hours.
    durations = [
        _scaled(machine.metric_time(statistic="Average", period=SPARSE), "avg_ms", 60_000, "average (minutes)"),
        _scaled(machine.metric_time(statistic="Maximum", period=SPARSE), "max_ms", 60_000, "longest (minutes)"),
    ]
    return [
        cloudwatch.GraphWidget(title=f"{label}: executions", left=counts, width=8, height=6),
        cloudwatch.GraphWidget(
            title=f"{label}: duration",
            left=durations,
            left_y_axis=cloudwatch.YAxisProps(label="minutes", show_units=False, min=0),
            width=4,
            height=6,
        ),
    ]


def model_quality_widgets(config: EnvironmentConfig) -> Widgets:
    """Each registration is a point of the environment's series; each version is a bar of its own."""
    series = [
        cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"environment": config.name, "service": QUALITY_SERVICE},
            statistic="Maximum",
            period=SPARSE,
            label=label,
        )
        for name, label in QUALITY_METRICS
    ]
    widgets: Widgets = [
        cloudwatch.GraphWidget(
            title="Quality of each registered version, over time (test data)",
            left=series,
            left_annotations=_floors(config),
            left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
            width=12,
            height=6,
        )
    ]
    for name, label in QUALITY_METRICS[:2]:
        by_version = search(
            METRICS_NAMESPACE,
            ["environment", "service", "version"],
            {"MetricName": name, "environment": config.name},
            "v${PROP('Dim.version')}",
        )
        widgets.append(
            cloudwatch.GraphWidget(
                title=f"{label} by registered version",
                left=[by_version],
                view=cloudwatch.GraphWidgetView.BAR,
                set_period_to_time_range=True,
                left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
                width=6,
                height=6,
            )
        )
    return widgets


def _endpoint_metric(endpoint_name: str, name: str, statistic: str, label: str) -> cloudwatch.Metric:
    """A metric of the endpoint's variant, as the endpoint alarms watch it."""
    return cloudwatch.Metric(
        namespace=SAGEMAKER_NAMESPACE,
        metric_name=name,
        dimensions_map={"EndpointName": endpoint_name, "VariantName": VARIANT},
        statistic=statistic,
        period=TRAFFIC,
        label=label,
    )


def endpoint_widgets(config: EnvironmentConfig, endpoint_name: str) -> Widgets:
    """Invocations and errors, model latency, and instances of the endpoint's variant (AWS/SageMaker)."""

    def metric(name: str, statistic: str, label: str) -> cloudwatch.Metric:
        return _endpoint_metric(endpoint_name, name, statistic, label)

    # ModelLatency is in microseconds; the alarm's threshold is configured in milliseconds.
    latency = [
        _scaled(metric("ModelLatency", statistic, statistic), f"{statistic}_us", 1000, f"{statistic} (ms)")
        for statistic in ("p50", "p99")
    ]
    alarm = cloudwatch.HorizontalAnnotation(
        value=config.endpoint_alarms.max_p99_latency_ms, label="p99 alarm threshold"
    )
    return [
        cloudwatch.GraphWidget(
            title="Endpoint invocations and errors",
            left=[
                metric("Invocations", "Sum", "invocations"),
                metric("Invocation4XXErrors", "Sum", "4xx errors"),
                metric("Invocation5XXErrors", "Sum", "5xx errors"),
            ],
            width=8,
            height=6,
        ),
        cloudwatch.GraphWidget(
            title="Model latency (ms; SageMaker reports microseconds)",
            left=latency,
            left_annotations=[alarm],
            left_y_axis=cloudwatch.YAxisProps(label="ms", show_units=False, min=0),
            width=8,
            height=6,
        ),
        instances_widget(config, endpoint_name),
    ]


def instances_widget(config: EnvironmentConfig, endpoint_name: str) -> cloudwatch.GraphWidget:
    """Instances in service, derived: CloudWatch has no instance-count metric for an endpoint.

    Neither AWS/SageMaker nor Application Auto Scaling publishes one. ``InvocationsPerInstance``
    adds 1/n per request, n being the variant's instances at that moment (SageMaker API Reference,
    ``ScalingPolicyMetric``), so Invocations / InvocationsPerInstance (both Sum) is n while
    requests arrive; with no traffic there is no point, and a period that spans a scaling event
    gives a value in between. The configured bounds are drawn as lines.
    """
    count = cloudwatch.MathExpression(
        expression="invocations / per_instance",
        using_metrics={
            "invocations": _endpoint_metric(endpoint_name, "Invocations", "Sum", "invocations"),
            "per_instance": _endpoint_metric(endpoint_name, "InvocationsPerInstance", "Sum", "per instance"),
        },
        label="instances (Invocations / InvocationsPerInstance; no traffic, no point)",
        period=TRAFFIC,
    )
    scaling = config.autoscaling
    bounds = (
        [
            cloudwatch.HorizontalAnnotation(value=scaling.min_capacity, label="autoscaling min"),
            cloudwatch.HorizontalAnnotation(value=scaling.max_capacity, label="autoscaling max"),
        ]
        if scaling is not None
        else [cloudwatch.HorizontalAnnotation(value=config.endpoint_initial_instance_count, label="fixed count")]
    )
    return cloudwatch.GraphWidget(
        title="Endpoint instances (derived while traffic flows)",
        left=[count],
        left_annotations=bounds,
        left_y_axis=cloudwatch.YAxisProps(label="instances", show_units=False, min=0),
        width=8,
        height=6,
    )


def api_widgets(api_name: str) -> Widgets:
    """The prediction API's requests, errors and latency (AWS/ApiGateway, dimension ApiName: every stage)."""

    def metric(name: str, statistic: str, label: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/ApiGateway",
            metric_name=name,
            dimensions_map={"ApiName": api_name},
            statistic=statistic,
            period=TRAFFIC,
            label=label,
        )

    return [
        cloudwatch.GraphWidget(
            title="API requests and errors",
            left=[
                metric("Count", "Sum", "requests"),
                metric("4XXError", "Sum", "4xx errors"),
                metric("5XXError", "Sum", "5xx errors"),
            ],
            width=12,
            height=6,
        ),
        cloudwatch.GraphWidget(
            title="API latency (ms)",
            left=[metric("Latency", "p50", "p50"), metric("Latency", "p99", "p99")],
            left_y_axis=cloudwatch.YAxisProps(label="ms", show_units=False, min=0),
            width=12,
            height=6,
        ),
    ]


def drift_widgets(config: EnvironmentConfig) -> Widgets:
    """The drift job's metrics: dimension Environment, and Feature per feature (found by SEARCH)."""
    namespace = config.drift_metrics_namespace
    environment = {"Environment": config.name}

    def metric(name: str, label: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=namespace,
            metric_name=name,
            dimensions_map=environment,
            statistic="Maximum",
            period=SPARSE,
            label=label,
        )

    psi = search(namespace, ["Environment", "Feature"], {"MetricName": "PSI", **environment}, "${PROP('Dim.Feature')}")
    tolerance = cloudwatch.HorizontalAnnotation(value=config.drift.tolerance.psi, label="PSI tolerance")
    return [
        cloudwatch.GraphWidget(
            title="PSI per feature",
            left=[psi],
            left_annotations=[tolerance],
            left_y_axis=cloudwatch.YAxisProps(min=0),
            width=12,
            height=6,
        ),
        cloudwatch.GraphWidget(
            title="Drifted features and captured records",
            left=[metric("DriftedFeatures", "drifted features"), metric("InsufficientData", "too little data (1)")],
            right=[metric("CapturedRecords", "captured records")],
            left_y_axis=cloudwatch.YAxisProps(min=0),
            right_y_axis=cloudwatch.YAxisProps(min=0),
            width=6,
            height=6,
        ),
        cloudwatch.GraphWidget(
            title="Live quality (labelled records)",
            left=[metric(name, label) for name, label in LIVE_QUALITY_METRICS],
            left_annotations=_floors(config),
            left_y_axis=cloudwatch.YAxisProps(min=0, max=1),
            width=6,
            height=6,
        ),
    ]
