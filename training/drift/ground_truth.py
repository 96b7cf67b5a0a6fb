"""Ground truth arriving later: labels joined with the captured predictions, scored with scikit-learn.

Labels are CSV files below the job's ``input/labels/`` (any depth): a header row naming at least
``event_id`` and ``is_fraud`` (0 or 1), other columns ignored. ``event_id`` is a row key of
``training.drift.capture``: the capture record's ``eventId`` (or the request's ``InferenceId``)
for a single-row request, ``<id>:<index>`` (index from 0) for any row. A row of a value other
than 0/1 is counted as invalid; a later file (in sorted path order) overrides an earlier one's
label for the same key.

Only rows scored by the model under judgement (see ``monitor``) with a paired probability are
joined. Precision and recall are taken at the model's threshold (label 1 when
``probability >= threshold``, as serving labels a row); ROC-AUC and PR-AUC (average precision)
need both classes among the labelled rows, else they are null. ``below_floor`` names the
metrics under the quality gate's floors.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from training.drift.capture import CapturedRows

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

ID_COLUMN: Final = "event_id"
LABEL_COLUMN: Final = "is_fraud"


class LabelsError(ValueError):
    """A labels file the job cannot read at all (e.g. without the two columns)."""


@dataclass(frozen=True, slots=True)
class Labels:
    """Labels by row key, with what was refused."""

    by_key: dict[str, int]
    files: int
    invalid: int


@dataclass(frozen=True, slots=True)
class Floors:
    """The quality gate's floors for the live metrics; ``None`` means no floor."""

    roc_auc: float | None = None
    pr_auc: float | None = None


def label_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*.csv") if p.is_file()) if directory.is_dir() else []


def read_labels(directory: Path) -> Labels | None:
    """Every label below ``directory``; ``None`` when there is no label file at all."""
    files = label_files(directory)
    if not files:
        return None
    by_key: dict[str, int] = {}
    invalid = 0
    for path in files:
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = {name.strip() for name in reader.fieldnames or []}
            if not {ID_COLUMN, LABEL_COLUMN} <= columns:
                raise LabelsError(
                    f"labels file {path.relative_to(directory)} must have a header with the columns "
                    f"{ID_COLUMN} and {LABEL_COLUMN}, got {', '.join(sorted(columns)) or 'none'}"
                )
            for row in reader:
                row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
                key, label = row.get(ID_COLUMN, ""), row.get(LABEL_COLUMN, "")
                if not key or label not in ("0", "1", "0.0", "1.0"):
                    invalid += 1
                    continue
                by_key[key] = int(float(label))
    return Labels(by_key=by_key, files=len(files), invalid=invalid)


def join(captured: CapturedRows, labels: Labels, eligible: BoolArray) -> tuple[FloatArray, FloatArray]:
    """``(y, probability)`` of the eligible captured rows that have a label."""
    y: list[float] = []
    proba: list[float] = []
    for i in np.flatnonzero(eligible):
        for key in captured.keys[i]:
            if key in labels.by_key:
                y.append(float(labels.by_key[key]))
                proba.append(float(captured.probability[i]))
                break
    return np.asarray(y, dtype=np.float64), np.asarray(proba, dtype=np.float64)


def score(y: FloatArray, proba: FloatArray, threshold: float, floors: Floors) -> dict[str, Any]:
    """The ``ground_truth`` entry of the report for the joined rows."""
    from sklearn.metrics import average_precision_score, precision_score, recall_score, roc_auc_score

    result: dict[str, Any] = {
        "labelled": int(y.size),
        "positives": int(y.sum()),
        "threshold": threshold,
        "precision": None,
        "recall": None,
        "roc_auc": None,
        "pr_auc": None,
        "below_floor": [],
    }
    if y.size == 0:
        return result
    predicted = (proba >= threshold).astype(np.float64)
    result["precision"] = float(precision_score(y, predicted, zero_division=0.0))
    result["recall"] = float(recall_score(y, predicted, zero_division=0.0))
    if 0 < y.sum() < y.size:
        result["roc_auc"] = float(roc_auc_score(y, proba))
        result["pr_auc"] = float(average_precision_score(y, proba))
    for name, floor in (("roc_auc", floors.roc_auc), ("pr_auc", floors.pr_auc)):
        if floor is not None and result[name] is not None and result[name] < floor:
            result["below_floor"].append(name)
    return result


def ground_truth(
    captured: CapturedRows, labels: Labels, eligible: BoolArray, threshold: float, floors: Floors
) -> dict[str, Any]:
    """Join and score; add what was read and what matched nothing."""
    y, proba = join(captured, labels, eligible)
    return score(y, proba, threshold, floors) | {
        "labels_read": len(labels.by_key),
        "labels_invalid": labels.invalid,
        "label_files": labels.files,
    }
