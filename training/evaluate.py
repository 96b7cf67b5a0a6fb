# ruff: noqa: N803, N806 - X is the feature matrix, as in scikit-learn
"""The evaluation job, under SageMaker Processing's container contract.

``python -m training.evaluate`` scores the newly trained model (the challenger) and, when
there is one, the live model (the champion) on the same held-out test data. Paths are below
``PROCESSING_DIR`` (default ``/opt/ml/processing``, where SageMaker mounts a Processing job's
``ProcessingInputs`` and collects its ``ProcessingOutputs``):

* ``input/test/``: the ``test`` channel, CSV files as the training channels hold them
  (see ``training.channels``);
* ``input/challenger/model.tar.gz``: the training job's artifact;
* ``input/champion/model.tar.gz``: optional; an absent or empty folder means no champion;
* ``evaluation/evaluation.json``: the report written (``schema_version`` 1).

Each model is loaded by ``inference.model.load_model``, the loader the serving container uses,
so it is scored exactly as it would serve: its ONNX graph under onnxruntime, at its own threshold (from its
metadata). PR-AUC (average precision) is the primary metric: the data is imbalanced.

Env: ``RUN_ID``, ``CHAMPION_VERSION`` (the champion's model package version, or ``""``) and,
optionally, ``MLFLOW_TRACKING_URI`` / ``MLFLOW_EXPERIMENT_NAME``: the comparison is then logged
into the challenger's MLflow run (see ``training.tracking``; a server that is down never fails
the job). On any error it prints one line ``ERROR: <reason>`` to stderr and exits 1: SageMaker
has no failure-file convention for Processing jobs, so that line is what a person reads.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import tempfile
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from inference.model import ModelLoadError, Scorer, load_model
from training.channels import InputError, read_channel
from training.feature_schema import LEGACY_PICKLE_FILE, MODEL_FILE, MODEL_METADATA_FILE
from training.processing_job import run_reporting_errors
from training.tracking import evaluation_logger, track

FloatArray = npt.NDArray[np.float64]

SCHEMA_VERSION: Final = 1
PRIMARY_METRIC: Final = "pr_auc"
REPORT_FILE: Final = "evaluation.json"
MODEL_ARCHIVE: Final = "model.tar.gz"
METRIC_NAMES: Final = ("pr_auc", "roc_auc", "precision", "recall", "f1")
#: A FailureReason holds at most 1,024 characters (SageMaker API Reference, DescribeProcessingJob).


class EvaluationError(Exception):
    """Something the job cannot evaluate; the message is the one line it reports."""


@dataclass(frozen=True, slots=True)
class ProcessingPaths:
    """Where the Processing job finds its inputs and writes its report."""

    test: Path
    challenger: Path
    champion: Path
    output: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ProcessingPaths:
        """The layout below ``PROCESSING_DIR`` (default ``/opt/ml/processing``)."""
        root = Path(env.get("PROCESSING_DIR") or "/opt/ml/processing")
        return cls(
            test=root / "input/test",
            challenger=root / "input/challenger",
            champion=root / "input/champion",
            output=root / "evaluation",
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """One model to score, as serving loads it, with the metadata the report repeats."""

    score: Scorer
    threshold: float
    model_version: str
    mlflow_run_id: str | None


def find_archive(directory: Path, role: str) -> Path | None:
    """The model archive in ``directory`` (``model.tar.gz``, else its only ``*.tar.gz``); ``None`` if empty."""
    named = directory / MODEL_ARCHIVE
    if named.is_file():
        return named
    archives = sorted(directory.glob("*.tar.gz")) if directory.is_dir() else []
    if len(archives) == 1:
        return archives[0]
    if archives:
        raise EvaluationError(f"the {role} input {directory} holds several archives and no {MODEL_ARCHIVE}")
    if directory.is_dir() and any(directory.iterdir()):
        raise EvaluationError(f"the {role} input {directory} holds files but no {MODEL_ARCHIVE}")
    return None


def extract(archive: Path, into: Path, role: str) -> None:
    """Unpack a model archive; refuse members that would land outside ``into`` or are not plain data."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise EvaluationError(f"the {role} model archive {archive.name} cannot be unpacked: {err}") from None


def load_candidate(archive: Path, workdir: Path, role: str) -> Candidate:
    """Unpack and load one model with the serving loader."""
    directory = workdir / role
    directory.mkdir(parents=True)
    extract(archive, directory, role)
    missing = [name for name in (MODEL_FILE, MODEL_METADATA_FILE) if not (directory / name).is_file()]
    if missing:
        held = ", ".join(sorted(p.name for p in directory.iterdir())) or "nothing"
        legacy = (
            f"; its {LEGACY_PICKLE_FILE} is a pickle written before models were exported to ONNX, and a pickle "
            "is never loaded (loading one runs whatever code it carries)"
            if MODEL_FILE in missing and (directory / LEGACY_PICKLE_FILE).is_file()
            else ""
        )
        raise EvaluationError(
            f"the {role} model archive {archive.name} has no {' or '.join(missing)} at its top level "
            f"(it holds {held}){legacy}"
        )
    try:
        model = load_model(directory)
    except ModelLoadError as err:
        # The loader names files in the scratch folder; name them inside the archive instead.
        reason = str(err).replace(f"{directory}/", f"{archive.name}:").replace(str(directory), archive.name)
        raise EvaluationError(f"the {role} model cannot be loaded: {reason}") from None
    metadata = json.loads((directory / MODEL_METADATA_FILE).read_text(encoding="utf-8"))
    run_id = metadata.get("mlflow_run_id")
    return Candidate(model.score, model.threshold, model.version, str(run_id) if run_id else None)


def score(candidate: Candidate, X: FloatArray, y: FloatArray) -> dict[str, Any]:
    """The candidate's metrics and confusion matrix on ``(X, y)``, at its own threshold."""
    from sklearn.metrics import (
        average_precision_score,
        confusion_matrix,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    proba = candidate.score(X)
    predicted = (proba >= candidate.threshold).astype(np.float64)  # as serving labels a row
    precision, recall, f1, _ = precision_recall_fscore_support(y, predicted, average="binary", zero_division=0.0)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, predicted, labels=[0.0, 1.0]).ravel())
    return {
        "model_version": candidate.model_version,
        "mlflow_run_id": candidate.mlflow_run_id,
        "threshold": candidate.threshold,
        "metrics": {
            "pr_auc": float(average_precision_score(y, proba)),
            "roc_auc": float(roc_auc_score(y, proba)),
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
        },
        "confusion_matrix": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
    }


def _summary(role: str, scored: Mapping[str, Any]) -> str:
    metrics = " ".join(f"{name}={scored['metrics'][name]:.4f}" for name in METRIC_NAMES)
    return f"{role} {scored['model_version']} at threshold {scored['threshold']:.4f}: {metrics}"


def _tracking_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for role in ("challenger", "champion"):
        scored = report[role]
        if scored is not None:
            metrics |= {f"{role}_{name}": value for name, value in scored["metrics"].items()}
            metrics[f"{role}_threshold"] = scored["threshold"]
    return metrics


def run(env: Mapping[str, str]) -> dict[str, Any]:
    """Score the challenger (and the champion), write the report and return it."""
    started = time.perf_counter()
    paths = ProcessingPaths.from_env(env)
    challenger_archive = find_archive(paths.challenger, "challenger")
    if challenger_archive is None:
        raise EvaluationError(f"the challenger model is missing: no {MODEL_ARCHIVE} in {paths.challenger}")
    champion_archive = find_archive(paths.champion, "champion")
    try:
        X, y = read_channel("test", paths.test)
    except InputError as err:
        raise EvaluationError(f"the test data is unusable: {err}") from None

    with tempfile.TemporaryDirectory(prefix="evaluate-") as workdir:
        challenger = score(load_candidate(challenger_archive, Path(workdir), "challenger"), X, y)
        champion = None
        if champion_archive is not None:
            champion = score(load_candidate(champion_archive, Path(workdir), "champion"), X, y)
            champion["package_version"] = env.get("CHAMPION_VERSION") or None

    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": env.get("RUN_ID") or "unknown",
        "test": {"rows": len(y), "positives": int(y.sum())},
        "primary_metric": PRIMARY_METRIC,
        "challenger": challenger,
        "champion": champion,
    }
    print(_summary("challenger", challenger), flush=True)
    if champion is not None:
        print(_summary(f"champion (package version {champion['package_version']})", champion), flush=True)
    else:
        print("no champion: the challenger is scored alone", flush=True)

    tags = {"evaluation_run_id": report["run_id"]}
    if champion is not None:
        tags["champion_package_version"] = champion["package_version"] or "unknown"
    report["mlflow"] = track(
        env,
        evaluation_logger(
            env,
            challenger_run_id=challenger["mlflow_run_id"],
            metrics=_tracking_metrics(report),
            tags=tags,
            report=report,
        ),
        job="evaluation",
    )
    paths.output.mkdir(parents=True, exist_ok=True)
    (paths.output / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {paths.output / REPORT_FILE} in {time.perf_counter() - started:.2f} s", flush=True)
    return report


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the job; on any error print one ``ERROR:`` line to stderr and return 1."""
    return run_reporting_errors(run, os.environ if env is None else env, EvaluationError)


if __name__ == "__main__":
    sys.exit(main())
