"""The drift report as CloudWatch metrics, for the dashboard and alarms.

Namespace ``METRICS_NAMESPACE``; every datum has the dimension ``Environment``, the per-column
ones also ``Feature`` (a feature name, or ``probability`` for the prediction):

* per column: ``PSI``, ``PValue``, ``MissingRate``, ``Drifted`` (0/1);
* overall: ``CapturedRecords``, ``DriftedFeatures``, ``InsufficientData`` (0/1);
* with labels: ``LivePrecision``, ``LiveRecall``, ``LiveRocAuc``, ``LivePrAuc``.

A figure the report has no value for (null: no live values, no labels of both classes) is left
out: CloudWatch refuses NaN. PutMetricData takes at most 1,000 metrics and 1 MB per request
(CloudWatch API Reference, "PutMetricData",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html); the
data is sent in chunks of :data:`CHUNK` datums, far inside both (a report has about 45).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

#: Datums per PutMetricData call: half the documented 1,000, and a few KB per call.
CHUNK: Final = 500

_PER_COLUMN: Final = (("PSI", "psi"), ("PValue", "p_value"), ("MissingRate", "missing_rate"))
_GROUND_TRUTH: Final = (
    ("LivePrecision", "precision"),
    ("LiveRecall", "recall"),
    ("LiveRocAuc", "roc_auc"),
    ("LivePrAuc", "pr_auc"),
)


def _datum(name: str, value: float, dimensions: list[dict[str, str]], unit: str = "None") -> dict[str, Any]:
    return {"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": unit}


def metric_data(report: Mapping[str, Any], environment: str) -> list[dict[str, Any]]:
    """The datums of a report (see the module docstring)."""
    env = [{"Name": "Environment", "Value": environment or "unknown"}]
    data: list[dict[str, Any]] = []
    columns = [*report["features"], *([report["prediction"]] if report.get("prediction") else [])]
    for column in columns:
        dimensions = [*env, {"Name": "Feature", "Value": column["name"]}]
        for metric, key in _PER_COLUMN:
            if column.get(key) is not None:
                data.append(_datum(metric, column[key], dimensions))
        data.append(_datum("Drifted", 1.0 if column["drifted"] else 0.0, dimensions))
    data.append(_datum("CapturedRecords", report["records"], env, "Count"))
    data.append(_datum("DriftedFeatures", len(report["drifted_features"]), env, "Count"))
    data.append(_datum("InsufficientData", 1.0 if report["status"] == "insufficient_data" else 0.0, env))
    truth = report.get("ground_truth") or {}
    for metric, key in _GROUND_TRUTH:
        if truth.get(key) is not None:
            data.append(_datum(metric, truth[key], env))
    return data


def publish(
    report: Mapping[str, Any], *, namespace: str, environment: str, client: Any = None, chunk: int = CHUNK
) -> dict[str, Any]:
    """Put the report's metrics; return what was sent (``datums``, ``calls``) for the report."""
    if client is None:
        import boto3  # type: ignore[import-untyped, unused-ignore]

        client = boto3.client("cloudwatch")
    data = metric_data(report, environment)
    calls = 0
    for start in range(0, len(data), chunk):
        client.put_metric_data(Namespace=namespace, MetricData=data[start : start + chunk])
        calls += 1
    return {"status": "published", "namespace": namespace, "datums": len(data), "calls": calls}
