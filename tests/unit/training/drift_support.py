# ruff: noqa: N803 - X is the feature matrix, as in scikit-learn
"""Helpers of the drift tests: a real small training run, capture records as SageMaker writes them."""

from __future__ import annotations

import json
import shutil
import tarfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training import train
from training.synthetic import write_splits

WINDOW_TIME = "2026-11-24T12:00:00Z"


def train_small_model(root: Path, rows: int = 3_000, seed: int = 7) -> Path:
    """Run ``training.train`` in-process on synthetic data; return the model dir (with baseline.json)."""
    data = root / "data"
    write_splits(data, rows=rows, seed=seed)
    for channel in ("train", "validation"):
        (root / "channels" / channel).mkdir(parents=True)
        shutil.copy(data / f"{channel}.csv", root / "channels" / channel / f"{channel}.csv")
    env = {
        "SM_CHANNEL_TRAIN": str(root / "channels/train"),
        "SM_CHANNEL_VALIDATION": str(root / "channels/validation"),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DATA_DIR": str(root / "output/data"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_HPS": json.dumps({"max_iter": "20", "max_depth": "4"}),
        "SM_NUM_CPUS": "1",
        "TRAINING_JOB_NAME": "train-job-1",
    }
    train.run(env)
    return root / "model"


def pack_model(model_dir: Path, archive: Path) -> Path:
    """``model.tar.gz`` as SageMaker packs ``SM_MODEL_DIR``: its files at the top level."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(model_dir.iterdir()):
            tar.add(path, arcname=path.name)
    return archive


def csv_body(X: np.ndarray) -> str:
    return "\n".join(",".join(f"{v:.10g}" for v in row) for row in X)


def capture_record(
    body: str,
    probabilities: Sequence[float] | None,
    *,
    at: str = WINDOW_TIME,
    content_type: str = "text/csv",
    encoding: str = "CSV",
    event_id: str | None = None,
    inference_id: str | None = None,
    model_version: str | None = "train-job-1",
) -> dict[str, Any]:
    """One capture record in SageMaker's format, the output being the serving container's JSON."""
    capture: dict[str, Any] = {
        "endpointInput": {"observedContentType": content_type, "mode": "INPUT", "data": body, "encoding": encoding}
    }
    if probabilities is not None:
        answer: dict[str, Any] = {
            "predictions": [{"probability": float(p), "label": int(p >= 0.5)} for p in probabilities]
        }
        if model_version is not None:
            answer["model_version"] = model_version
        capture["endpointOutput"] = {
            "observedContentType": "application/json",
            "mode": "OUTPUT",
            "data": json.dumps(answer),
            "encoding": "JSON",
        }
    metadata = {"eventId": event_id or str(uuid.uuid4()), "inferenceTime": at}
    if inference_id:
        metadata["inferenceId"] = inference_id
    return {"captureData": capture, "eventMetadata": metadata, "eventVersion": "0"}


def write_capture(directory: Path, records: Sequence[dict[str, Any]], hour: str = "2026/11/24/12") -> Path:
    """Write records as one capture file in SageMaker's layout below ``directory``."""
    folder = directory / "fraud-detector-dev" / "AllTraffic" / hour
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"00-00-000-{uuid.uuid4()}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def scored_records(model: Any, X: np.ndarray, rows_per_request: int, **extra: Any) -> list[dict[str, Any]]:
    """Capture records of ``X`` sent ``rows_per_request`` rows at a time, scored by ``model``."""
    probabilities = model.predict_proba(X)[:, 1]
    return [
        capture_record(csv_body(X[i : i + rows_per_request]), probabilities[i : i + rows_per_request], **extra)
        for i in range(0, len(X), rows_per_request)
    ]
