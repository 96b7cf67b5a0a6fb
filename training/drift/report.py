"""The drift report: every column compared, the decision, and one human line.

Status (the key the drift decision Lambda reads):

* ``insufficient_data`` when fewer than ``min_records`` rows were captured in the window. Too
  little data is never "no drift": the figures are still computed (and drawn) when there are any
  rows, but no column is called drifted;
* ``drift`` when at least ``min_drifted_features`` **features** drifted;
* ``no_drift`` otherwise.

The predicted probability is compared as a column too (``prediction``) and shown, but it does not
count towards ``drifted_features``: a model's output moves when its inputs do, and retraining is
decided on the inputs. Only rows that the model under judgement scored are compared with its
baseline (their response's ``model_version`` is ``MODEL_VERSION`` or the archive's own version,
or names none): during a canary or after a deployment, the other model's answers are left out
and counted as ``prediction_rows_other_model``.
"""

from __future__ import annotations

import datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from training.drift.capture import CapturedRows
from training.drift.settings import MonitorSettings
from training.drift.statistics import compare_column

BoolArray = npt.NDArray[np.bool_]

SCHEMA_VERSION: Final = 1
STATUSES: Final = ("drift", "no_drift", "insufficient_data")


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def scored_by_model(captured: CapturedRows, versions: set[str]) -> BoolArray:
    """The rows with a probability from one of ``versions`` (or from a response naming no version)."""
    known = np.array([v is None or v in versions for v in captured.model_versions], dtype=bool)
    return known & np.isfinite(captured.probability) if captured.rows else np.zeros(0, dtype=bool)


def compare_all(
    captured: CapturedRows, baseline: dict[str, Any], eligible: BoolArray, settings: MonitorSettings, decide: bool
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The report entries of the features and of the predicted probability."""
    features = [
        compare_column(
            column,
            captured.values[:, j],
            missing=captured.missing[:, j],
            invalid=captured.invalid[:, j],
            tolerance=settings.tolerance,
            decide=decide,
        )
        for j, column in enumerate(baseline["features"])
    ]
    prediction = compare_column(
        baseline["prediction"],
        np.where(eligible, captured.probability, np.nan),
        missing=~np.isfinite(captured.probability),
        invalid=np.zeros(captured.rows, dtype=bool),
        tolerance=settings.tolerance,
        decide=decide,
    )
    return features, prediction


def summary_line(report: dict[str, Any], settings: MonitorSettings) -> str:
    """One line a person reads in a notification."""
    records, status = report["records"], report["status"]
    if status == "insufficient_data":
        line = (
            f"insufficient data: {records:,} captured rows in the window, fewer than the "
            f"{settings.min_records:,} needed to judge drift"
        )
    elif status == "drift":
        names = report["drifted_features"]
        line = f"drift in {len(names)} of {len(report['features'])} features ({', '.join(names)}) over {records:,} rows"
    else:
        tol = settings.tolerance
        line = (
            f"no drift: {len(report['features'])} features within tolerance (PSI < {tol.psi:g} "
            f"or p >= {tol.p_value:g}) over {records:,} rows"
        )
    if report["prediction"]["drifted"]:
        line += "; the predicted probability drifted too"
    truth = report.get("ground_truth")
    if truth and truth["labelled"]:
        line += (
            f"; live precision {truth['precision']:.3f}, recall {truth['recall']:.3f} "
            f"on {truth['labelled']:,} labelled rows"
        )
        if truth["below_floor"]:
            line += f" ({', '.join(truth['below_floor'])} below the floor)"
    return line


def build_report(
    captured: CapturedRows,
    baseline: dict[str, Any],
    metadata: dict[str, Any],
    settings: MonitorSettings,
    ground_truth: dict[str, Any] | None,
    eligible: BoolArray,
) -> dict[str, Any]:
    """The report document (the keys of the contract, plus what the HTML page and people use)."""
    enough = captured.rows >= settings.min_records
    features, prediction = compare_all(captured, baseline, eligible, settings, decide=enough)
    drifted = [f["name"] for f in features if f["drifted"]]
    if not enough:
        status = "insufficient_data"
    else:
        status = "drift" if len(drifted) >= settings.min_drifted_features else "no_drift"
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "status": status,
        "summary": "",
        "records": captured.rows,
        "min_records": settings.min_records,
        "requests": captured.requests,
        "skipped": dict(sorted(captured.skipped.items())),
        "window": {"start": _iso(settings.window_start), "end": _iso(settings.window_end)},
        "endpoint": settings.endpoint or None,
        "environment": settings.environment or None,
        "model_version": settings.model_version or str(metadata.get("model_version") or "unknown"),
        "model_artifact_version": metadata.get("model_version"),
        "tolerance": {
            "psi": settings.tolerance.psi,
            "p_value": settings.tolerance.p_value,
            "min_drifted_features": settings.min_drifted_features,
        },
        "drifted_features": drifted,
        "features": features,
        "prediction": prediction,
        "prediction_rows_other_model": int((np.isfinite(captured.probability) & ~eligible).sum()),
        "ground_truth": ground_truth,
        "generated_at": _iso(datetime.datetime.now(tz=datetime.UTC)),
    }
    report["summary"] = summary_line(report, settings)
    return report
