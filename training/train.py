# ruff: noqa: N806 - X is the feature matrix, as in scikit-learn
"""The training job, under SageMaker's training container contract.

``python -m training.train`` (the image's ``train`` entry point) reads:

* the ``train`` and ``validation`` channels: ``SM_CHANNEL_TRAIN`` /
  ``SM_CHANNEL_VALIDATION``, else ``/opt/ml/input/data/<channel>``; every
  ``*.csv`` below the channel directory, in sorted order, each with the header
  ``<features in schema order>,is_fraud`` (see ``training.channels``);
* hyperparameters: ``SM_HPS`` (JSON) if set, else ``hyperparameters.json`` in
  ``SM_INPUT_CONFIG_DIR`` (else ``/opt/ml/input/config``; see ``training.hyperparameters``);
* ``DATA_VERSION``, ``CODE_VERSION``, ``RUN_ID`` and SageMaker's ``TRAINING_JOB_NAME``;
* ``SM_NUM_CPUS``, when set, caps the threads scikit-learn uses;
* ``MLFLOW_TRACKING_URI`` (and ``MLFLOW_EXPERIMENT_NAME``, ``ENVIRONMENT``), when set: the run
  is logged to MLflow (see ``training.tracking``; a server that is down never fails the job).

``SM_PREFIX`` (not a SageMaker variable; for local runs) moves the whole
``/opt/ml`` default layout under another directory.

It writes, into ``SM_MODEL_DIR`` (else ``/opt/ml/model``, the model.tar.gz a
serving container loads): ``model.onnx`` (the model as ONNX, held to scikit-learn's
probabilities within 1e-6 by ``training.onnx_export``; training fails rather than write a
model that disagrees), ``model.json`` (version, feature names, threshold, library versions,
MLflow run id or null), ``baseline.json`` (the drift job's reference, see
``training.baseline``) and a copy of ``evaluation.json``; into ``SM_OUTPUT_DATA_DIR`` (else
``/opt/ml/output/data``, the job's output.tar.gz): ``evaluation.json`` (with the MLflow
status and the export's agreement) and ``model.joblib``, the fitted scikit-learn estimator,
for people and notebooks (serving never reads a pickle); and to stdout
the metric lines of ``training.metrics_contract``. On any error it writes a short reason to
``failure`` in ``SM_OUTPUT_DIR`` (else ``/opt/ml/output``) — SageMaker shows it
as the job's FailureReason — and exits non-zero.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import traceback
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from training.baseline import build_baseline, write_baseline
from training.channels import InputError, read_channel
from training.feature_schema import FEATURE_NAMES, LABEL, LEGACY_PICKLE_FILE, MODEL_FILE, MODEL_METADATA_FILE
from training.hyperparameters import HyperparameterError, Hyperparameters, parse_hyperparameters
from training.metrics_contract import format_metric_line
from training.onnx_export import ExportError, export_checked
from training.tracking import track, training_logger

FloatArray = npt.NDArray[np.float64]

EVALUATION_FILE: Final = "evaluation.json"
FAILURE_FILE: Final = "failure"
#: SageMaker keeps at most 1 KiB of the failure reason; stay well inside it.
_MAX_FAILURE_CHARS: Final = 900
#: A problem with the job's inputs; the message becomes the job's FailureReason.
TrainingError = InputError


@dataclass(frozen=True, slots=True)
class JobPaths:
    """Where SageMaker puts the job's inputs and expects its outputs."""

    train: Path
    validation: Path
    model_dir: Path
    output_data_dir: Path
    output_dir: Path
    hyperparameters_file: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> JobPaths:
        """Resolve the SageMaker layout from ``SM_*`` variables, falling back to ``/opt/ml``."""
        prefix = Path(env.get("SM_PREFIX", "/opt/ml"))

        def pick(var: str, default: Path) -> Path:
            value = env.get(var)
            return Path(value) if value else default

        return cls(
            train=pick("SM_CHANNEL_TRAIN", prefix / "input/data/train"),
            validation=pick("SM_CHANNEL_VALIDATION", prefix / "input/data/validation"),
            model_dir=pick("SM_MODEL_DIR", prefix / "model"),
            output_data_dir=pick("SM_OUTPUT_DATA_DIR", prefix / "output/data"),
            output_dir=pick("SM_OUTPUT_DIR", prefix / "output"),
            hyperparameters_file=pick("SM_INPUT_CONFIG_DIR", prefix / "input/config") / "hyperparameters.json",
        )


def load_raw_hyperparameters(env: Mapping[str, str], paths: JobPaths) -> dict[str, Any]:
    """``SM_HPS`` when set, else the hyperparameters file, else nothing (all defaults)."""
    if env.get("SM_HPS"):
        source, text = "SM_HPS", env["SM_HPS"]
    elif paths.hyperparameters_file.is_file():
        source, text = str(paths.hyperparameters_file), paths.hyperparameters_file.read_text(encoding="utf-8")
    else:
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise TrainingError(f"hyperparameters in {source} are not valid JSON: {err.msg}") from None
    if not isinstance(document, dict):
        raise TrainingError(f"hyperparameters in {source} must be a JSON object")
    return document


def build_model(hps: Hyperparameters) -> Any:
    """The (unfitted) classifier the hyperparameters describe."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        loss="log_loss",
        learning_rate=hps.learning_rate,
        max_iter=hps.max_iter,
        max_leaf_nodes=hps.max_leaf_nodes,
        max_depth=hps.max_depth,
        min_samples_leaf=hps.min_samples_leaf,
        l2_regularization=hps.l2_regularization,
        max_bins=hps.max_bins,
        early_stopping=hps.early_stopping,
        class_weight=hps.class_weight,
        random_state=hps.random_state,
    )


def choose_threshold(y: FloatArray, proba: FloatArray) -> float:
    """The decision threshold that maximizes F1 on ``(y, proba)``."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y, proba)
    denominator = precision[:-1] + recall[:-1]
    f1 = np.divide(2 * precision[:-1] * recall[:-1], denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(thresholds[int(np.argmax(f1))])


def evaluate(y: FloatArray, proba: FloatArray, threshold: float) -> dict[str, float]:
    """ROC-AUC, PR-AUC, and precision, recall, F1 at ``threshold`` (label = proba >= threshold)."""
    from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

    predicted = (proba >= threshold).astype(np.float64)
    precision, recall, f1, _ = precision_recall_fscore_support(y, predicted, average="binary", zero_division=0.0)
    return {
        "validation:roc_auc": float(roc_auc_score(y, proba)),
        "validation:pr_auc": float(average_precision_score(y, proba)),
        "validation:precision": float(precision),
        "validation:recall": float(recall),
        "validation:f1": float(f1),
        "validation:threshold": float(threshold),
    }


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _thread_limit(env: Mapping[str, str]) -> AbstractContextManager[Any]:
    """Cap OpenMP threads at ``SM_NUM_CPUS`` when it is set (the framework toolkit and offline mode set it).

    Without a cap scikit-learn uses every core, right on a dedicated training instance; on a shared
    machine OpenMP threads spinning against other processes can make a small fit 20x slower.
    """
    raw = env.get("SM_NUM_CPUS", "").strip()
    if not raw.isdigit() or int(raw) < 1:
        return nullcontext()
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    limit: AbstractContextManager[Any] = threadpool_limits(limits=int(raw))
    return limit


def run(env: Mapping[str, str]) -> dict[str, Any]:
    """Train, evaluate and write the artifacts; return the evaluation document."""
    import joblib
    import sklearn

    paths = JobPaths.from_env(env)
    hps = parse_hyperparameters(load_raw_hyperparameters(env, paths))
    X_train, y_train = read_channel("train", paths.train)
    X_val, y_val = read_channel("validation", paths.validation)

    model = build_model(hps)
    with _thread_limit(env):
        started = time.perf_counter()
        model.fit(X_train, y_train)
        fit_seconds = time.perf_counter() - started
        proba = model.predict_proba(X_val)[:, 1]
    rows_per_second = len(X_train) / fit_seconds if fit_seconds > 0 else float("inf")
    print(f"trained on {len(X_train)} rows in {fit_seconds:.2f} s ({rows_per_second:,.0f} rows/s)", flush=True)

    threshold = hps.threshold if hps.threshold is not None else choose_threshold(y_val, proba)
    metrics = evaluate(y_val, proba, threshold)
    for name, value in metrics.items():
        print(format_metric_line(name, value), flush=True)

    try:
        blob, agreement = export_checked(model, X_val, threshold, seed=hps.random_state + 1)
    except ExportError as err:
        raise TrainingError(f"the model cannot be exported to ONNX: {err}") from None
    print(
        f"exported {MODEL_FILE} ({len(blob) / 1024:,.0f} KB): probabilities within {agreement.max_difference:.2g} "
        f"of scikit-learn's on {agreement.rows} rows (with missing and extreme values)",
        flush=True,
    )
    version = env.get("TRAINING_JOB_NAME") or f"sha256-{hashlib.sha256(blob).hexdigest()[:16]}"
    paths.model_dir.mkdir(parents=True, exist_ok=True)
    (paths.model_dir / MODEL_FILE).write_bytes(blob)
    paths.output_data_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, paths.output_data_dir / LEGACY_PICKLE_FILE)
    lineage = {
        "training_job_name": env.get("TRAINING_JOB_NAME") or "unknown",
        "data_version": env.get("DATA_VERSION") or "unknown",
        "code_version": env.get("CODE_VERSION") or "unknown",
        "run_id": env.get("RUN_ID") or "unknown",
    }
    tracking = track(
        env,
        training_logger(
            env,
            params=hps.as_strings(),
            # MLflow accepts ":" in names except on Windows, and its older releases not at all.
            metrics={name.replace(":", "_"): value for name, value in metrics.items()},
            tags={**lineage, "model_version": version},
            model=model,
            X_example=X_val[:5],
        ),
        job="training",
    )
    metadata = {
        "model_version": version,
        "feature_names": list(FEATURE_NAMES),
        "label": LABEL,
        "threshold": threshold,
        "model_file": MODEL_FILE,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": sys.version.split()[0],
        "mlflow_run_id": tracking.get("run_id"),
    }
    _write_json(paths.model_dir / MODEL_METADATA_FILE, metadata)
    # The drift job's reference: the training features and the validation probabilities.
    write_baseline(paths.model_dir, build_baseline(X_train, proba, seed=hps.random_state))

    evaluation = {
        "metrics": metrics,
        "threshold": threshold,
        "threshold_chosen": "auto (max validation F1)" if hps.threshold is None else "hyperparameter",
        "rows": {"train": len(X_train), "validation": len(X_val)},
        "positives": {"train": int(y_train.sum()), "validation": int(y_val.sum())},
        "hyperparameters": hps.as_strings(),
        "model_version": version,
        **lineage,
        "fit_seconds": round(fit_seconds, 3),
        "train_rows_per_second": round(rows_per_second, 1),
        "sklearn_version": sklearn.__version__,
        "onnx_agreement": {
            "rows": agreement.rows,
            "max_difference": agreement.max_difference,
            "label_differences": agreement.label_differences,
            "rows_within_tolerance_of_threshold": agreement.near_threshold,
        },
        "mlflow": tracking,
    }
    _write_json(paths.output_data_dir / EVALUATION_FILE, evaluation)
    _write_json(paths.model_dir / EVALUATION_FILE, evaluation)
    return evaluation


def write_failure(output_dir: Path, reason: str) -> None:
    """Write the FailureReason SageMaker shows for the job (short, first line first)."""
    text = reason if len(reason) <= _MAX_FAILURE_CHARS else reason[: _MAX_FAILURE_CHARS - 3] + "..."
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / FAILURE_FILE).write_text(text, encoding="utf-8")


def main(env: Mapping[str, str] | None = None) -> int:
    """Run the job; on failure write ``failure`` and return a non-zero exit code."""
    environ = os.environ if env is None else env
    output_dir = JobPaths.from_env(environ).output_dir
    try:
        run(environ)
    except (TrainingError, HyperparameterError) as err:
        reason = str(err)
        print(f"training failed: {reason}", file=sys.stderr, flush=True)
        write_failure(output_dir, reason)
        return 1
    except Exception as err:
        traceback.print_exc()
        write_failure(output_dir, f"internal error: {type(err).__name__}: {err}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
