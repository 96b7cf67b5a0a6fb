# ruff: noqa: N803, N806 - X is the feature matrix, as in scikit-learn
"""The training job, under SageMaker's training container contract.

``python -m training.train`` (the image's ``train`` entry point) reads:

* the ``train`` and ``validation`` channels: ``SM_CHANNEL_TRAIN`` /
  ``SM_CHANNEL_VALIDATION``, else ``/opt/ml/input/data/<channel>``; every
  ``*.csv`` below the channel directory, in sorted order, each with the header
  ``<features in schema order>,is_fraud``;
* hyperparameters: ``SM_HPS`` (JSON) if set, else ``hyperparameters.json`` in
  ``SM_INPUT_CONFIG_DIR`` (else ``/opt/ml/input/config``; see ``training.hyperparameters``);

``SM_PREFIX`` (not a SageMaker variable; for local runs) moves the whole
``/opt/ml`` default layout under another directory.
* ``DATA_VERSION``, ``CODE_VERSION``, ``RUN_ID`` and SageMaker's ``TRAINING_JOB_NAME``;
* ``SM_NUM_CPUS``, when set, caps the threads scikit-learn uses.

It writes, into ``SM_MODEL_DIR`` (else ``/opt/ml/model``): ``model.joblib``,
``model.json`` (version, feature names, threshold, library versions) and a copy
of ``evaluation.json``; into ``SM_OUTPUT_DATA_DIR`` (else
``/opt/ml/output/data``): ``evaluation.json``; and to stdout the metric lines of
``training.metrics_contract``. On any error it writes a short reason to
``failure`` in ``SM_OUTPUT_DIR`` (else ``/opt/ml/output``) — SageMaker shows it
as the job's FailureReason — and exits non-zero.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import time
import traceback
import warnings
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from training.feature_schema import FEATURE_NAMES, FEATURES, LABEL, MODEL_FILE, MODEL_METADATA_FILE
from training.hyperparameters import HyperparameterError, Hyperparameters, parse_hyperparameters
from training.metrics_contract import format_metric_line

FloatArray = npt.NDArray[np.float64]

EVALUATION_FILE: Final = "evaluation.json"
FAILURE_FILE: Final = "failure"
#: SageMaker keeps at most 1 KiB of the failure reason; stay well inside it.
_MAX_FAILURE_CHARS: Final = 900
_HEADER: Final = (*FEATURE_NAMES, LABEL)


class TrainingError(Exception):
    """A problem with the job's inputs; the message becomes the job's FailureReason."""


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


def _check_values(name: str, file: str, X: FloatArray, y: FloatArray) -> None:
    if not np.isfinite(X).all():
        bad = int(np.argwhere(~np.isfinite(X))[0][1])
        raise TrainingError(
            f"channel '{name}' file {file}: column '{FEATURE_NAMES[bad]}' holds empty or non-finite values"
        )
    for i, feature in enumerate(FEATURES):
        column = X[:, i]
        low, high = float(column.min()), float(column.max())
        if low < feature.minimum or high > feature.maximum:
            raise TrainingError(
                f"channel '{name}' file {file}: column '{feature.name}' has values in [{low:g}, {high:g}], "
                f"outside the schema range [{feature.minimum:g}, {feature.maximum:g}]"
            )
    if not np.isin(y, (0.0, 1.0)).all():
        raise TrainingError(f"channel '{name}' file {file}: label '{LABEL}' must be 0 or 1")


def read_channel(name: str, directory: Path) -> tuple[FloatArray, FloatArray]:
    """Read every ``*.csv`` under a channel directory (sorted); check header, values and labels."""
    if not directory.is_dir():
        raise TrainingError(f"channel '{name}' is missing: no directory {directory}")
    files = sorted(p for p in directory.rglob("*.csv") if p.is_file())
    if not files:
        raise TrainingError(f"channel '{name}' is empty: no .csv files in {directory}")
    parts: list[FloatArray] = []
    for path in files:
        shown = str(path.relative_to(directory))
        with path.open("r", encoding="utf-8", newline="") as handle:
            first = handle.readline()
            columns = tuple(c.strip() for c in first.strip().split(","))
            if columns != _HEADER:
                raise TrainingError(
                    f"channel '{name}' file {shown}: header must be '{','.join(_HEADER)}', got '{first.strip()[:120]}'"
                )
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # "input contained no data": checked below
                    data = np.loadtxt(handle, delimiter=",", dtype=np.float64, ndmin=2)
            except ValueError as err:
                raise TrainingError(f"channel '{name}' file {shown}: malformed CSV: {str(err)[:200]}") from None
        if data.size == 0:
            continue
        if data.shape[1] != len(_HEADER):
            raise TrainingError(
                f"channel '{name}' file {shown}: rows must have {len(_HEADER)} columns, got {data.shape[1]}"
            )
        _check_values(name, shown, data[:, :-1], data[:, -1])
        parts.append(data)
    if not parts:
        raise TrainingError(f"channel '{name}' is empty: its .csv files hold a header but no rows")
    table = np.concatenate(parts) if len(parts) > 1 else parts[0]
    X, y = np.ascontiguousarray(table[:, :-1]), np.ascontiguousarray(table[:, -1])
    if len(np.unique(y)) < 2:
        raise TrainingError(f"channel '{name}' holds only {LABEL}={int(y[0])} rows; it needs both classes")
    return X, y


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

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    blob = buffer.getvalue()
    version = env.get("TRAINING_JOB_NAME") or f"sha256-{hashlib.sha256(blob).hexdigest()[:16]}"
    paths.model_dir.mkdir(parents=True, exist_ok=True)
    (paths.model_dir / MODEL_FILE).write_bytes(blob)
    metadata = {
        "model_version": version,
        "feature_names": list(FEATURE_NAMES),
        "label": LABEL,
        "threshold": threshold,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "python_version": sys.version.split()[0],
    }
    _write_json(paths.model_dir / MODEL_METADATA_FILE, metadata)

    evaluation = {
        "metrics": metrics,
        "threshold": threshold,
        "threshold_chosen": "auto (max validation F1)" if hps.threshold is None else "hyperparameter",
        "rows": {"train": len(X_train), "validation": len(X_val)},
        "positives": {"train": int(y_train.sum()), "validation": int(y_val.sum())},
        "hyperparameters": hps.as_strings(),
        "model_version": version,
        "training_job_name": env.get("TRAINING_JOB_NAME") or "unknown",
        "data_version": env.get("DATA_VERSION") or "unknown",
        "code_version": env.get("CODE_VERSION") or "unknown",
        "run_id": env.get("RUN_ID") or "unknown",
        "fit_seconds": round(fit_seconds, 3),
        "train_rows_per_second": round(rows_per_second, 1),
        "sklearn_version": sklearn.__version__,
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
