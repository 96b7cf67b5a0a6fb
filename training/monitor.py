"""The drift job, under SageMaker Processing's container contract.

``python3 -m training.monitor`` compares what the live endpoint saw with the live model's
training baseline. Paths are below ``PROCESSING_DIR`` (default ``/opt/ml/processing``, where
SageMaker mounts a Processing job's ``ProcessingInputs`` and collects its ``ProcessingOutputs``):

* ``input/capture/``: the endpoint's data capture files (``*.jsonl``, any depth; see
  ``training.drift.capture``);
* ``input/model/model.tar.gz``: the live model's artifact, holding ``baseline.json`` (see
  ``training.baseline``) and ``model.json`` (its version and threshold);
* ``input/labels/``: optional label CSVs (``event_id,is_fraud``; see ``training.drift.ground_truth``);
* ``output/drift_report.json`` and ``output/drift_report.html``: what it writes.

Environment: ``WINDOW_START`` / ``WINDOW_END`` (ISO 8601 UTC; records whose ``inferenceTime`` is
outside ``[start, end)`` are ignored), ``MIN_RECORDS``, ``PSI_THRESHOLD``, ``P_VALUE``,
``MIN_DRIFTED_FEATURES``, ``ENVIRONMENT``, ``ENDPOINT_NAME``, ``MODEL_VERSION``, ``MIN_PR_AUC``,
``MIN_ROC_AUC``, and ``METRICS_NAMESPACE``: when set, the report's figures are put to CloudWatch
with boto3's default credentials (see ``training.drift.cloudwatch``). A CloudWatch failure is
recorded in the report (``metrics.status`` ``failed``) and printed, but does not fail the job:
the report is what decides retraining, and SageMaker uploads the outputs only of a job that
succeeds.

Drift is a finding, not an error: the job exits 0 whatever the status. On an error it prints one
line ``ERROR: <reason>`` to stderr, last, and exits 1 (SageMaker has no failure-file convention
for Processing jobs, so that line is what a person reads). ``docs/drift.md`` explains the method.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from training.baseline import BASELINE_FILE
from training.baseline import SCHEMA_VERSION as BASELINE_SCHEMA
from training.drift import cloudwatch, html_report
from training.drift.capture import capture_files, read_capture
from training.drift.ground_truth import LabelsError, ground_truth, read_labels
from training.drift.report import build_report, scored_by_model
from training.drift.settings import MonitorPaths, MonitorSettings, SettingsError
from training.feature_schema import FEATURE_NAMES, MODEL_METADATA_FILE
from training.processing_job import run_reporting_errors

MODEL_ARCHIVE: Final = "model.tar.gz"
REPORT_JSON: Final = "drift_report.json"
REPORT_HTML: Final = "drift_report.html"
#: A FailureReason holds at most 1,024 characters (SageMaker API Reference, DescribeProcessingJob).


class MonitorError(Exception):
    """Something that stops the job; the message is the one line it reports."""


def _archive(directory: Path) -> Path:
    named = directory / MODEL_ARCHIVE
    archives = [named] if named.is_file() else sorted(directory.glob("*.tar.gz")) if directory.is_dir() else []
    if len(archives) != 1:
        found = "several archives" if archives else "no archive"
        raise MonitorError(f"the live model input {directory} holds {found}; it needs {MODEL_ARCHIVE}")
    return archives[0]


def load_model_files(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(baseline, metadata)`` read from the live model's archive, without unpacking it to disk."""
    archive = _archive(directory)
    wanted = {BASELINE_FILE: None, MODEL_METADATA_FILE: None}
    found: dict[str, Any] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if name in wanted and member.isfile():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        found[name] = json.loads(handle.read().decode("utf-8"))
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as err:
        raise MonitorError(f"the live model archive {archive.name} cannot be read: {err}") from None
    if BASELINE_FILE not in found:
        raise MonitorError(
            f"the live model archive {archive.name} has no {BASELINE_FILE}: the model was trained before "
            "training wrote baselines; retrain it to monitor drift"
        )
    if MODEL_METADATA_FILE not in found:
        raise MonitorError(f"the live model archive {archive.name} has no {MODEL_METADATA_FILE}")
    baseline = found[BASELINE_FILE]
    names = [column.get("name") for column in baseline.get("features", [])]
    if baseline.get("schema_version") != BASELINE_SCHEMA or names != list(FEATURE_NAMES):
        raise MonitorError(
            f"the {BASELINE_FILE} of {archive.name} does not match this job (schema version "
            f"{baseline.get('schema_version')}, features {', '.join(map(str, names))})"
        )
    return baseline, found[MODEL_METADATA_FILE]


def _publish(report: dict[str, Any], settings: MonitorSettings) -> dict[str, Any]:
    if not settings.metrics_namespace:
        return {"status": "off"}
    try:
        return cloudwatch.publish(report, namespace=settings.metrics_namespace, environment=settings.environment)
    except Exception as err:  # boto3's errors are many; none may cost the report
        reason = " ".join(f"{type(err).__name__}: {err}".split())[:300]
        print(f"WARNING: drift metrics not published to CloudWatch: {reason}", file=sys.stderr, flush=True)
        return {"status": "failed", "namespace": settings.metrics_namespace, "reason": reason}


def run(env: Mapping[str, str]) -> dict[str, Any]:
    """Read, compare, decide; write the JSON and HTML reports; return the report."""
    started = time.perf_counter()
    try:
        settings = MonitorSettings.from_env(env)
    except SettingsError as err:
        raise MonitorError(str(err)) from None
    paths = MonitorPaths.from_env(env)
    baseline, metadata = load_model_files(paths.model)
    files = capture_files(paths.capture)
    captured = read_capture(paths.capture, settings.window_start, settings.window_end)
    print(
        f"read {captured.rows:,} rows in {captured.requests:,} capture records from {len(files)} files "
        f"(left out: {dict(captured.skipped) or 'nothing'})",
        flush=True,
    )
    versions = {str(v) for v in (settings.model_version, metadata.get("model_version")) if v}
    eligible = scored_by_model(captured, versions)
    try:
        labels = read_labels(paths.labels)
    except LabelsError as err:
        raise MonitorError(str(err)) from None
    truth = None
    if labels is not None:
        if not isinstance(metadata.get("threshold"), int | float):
            raise MonitorError(f"the live model's {MODEL_METADATA_FILE} has no numeric threshold to score labels at")
        truth = ground_truth(captured, labels, eligible, float(metadata["threshold"]), settings.floors)
    report = build_report(captured, baseline, metadata, settings, truth, eligible)
    report["metrics"] = _publish(report, settings)
    paths.output.mkdir(parents=True, exist_ok=True)
    (paths.output / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (paths.output / REPORT_HTML).write_text(html_report.render(report), encoding="utf-8")
    print(f"{report['status']}: {report['summary']}", flush=True)
    print(f"wrote {paths.output / REPORT_JSON} and {REPORT_HTML} in {time.perf_counter() - started:.2f} s", flush=True)
    return report


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the job; on any error print one ``ERROR:`` line to stderr and return 1."""
    return run_reporting_errors(run, os.environ if env is None else env, MonitorError)


if __name__ == "__main__":
    sys.exit(main())
