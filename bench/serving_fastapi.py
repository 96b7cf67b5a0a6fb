"""The second peer of the serving benchmark: the FastAPI server a user would write around the estimator.

Bench only. It loads the fitted scikit-learn estimator (``BENCH_SKLEARN_MODEL``, the
``model.joblib`` training writes to ``<SM_PREFIX>/output/data/``), takes
``{"instances": [[8 features], ...]}`` in JSON through a pydantic model, and answers
``predict_proba``'s fraud column. Served by ``uvicorn --workers N`` with httptools; the benchmark
runs it with ``OMP_NUM_THREADS=1`` and ``TCP_NODELAY`` (``bench.serving_apps.NoDelayHttpTools``).
"""

from __future__ import annotations

import os

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

model = joblib.load(os.environ["BENCH_SKLEARN_MODEL"])
app = FastAPI()


class Instances(BaseModel):
    """The request: rows of the 8 features, in the schema's order (null: a missing value)."""

    instances: list[list[float | None]]


@app.get("/ping")
def ping() -> dict[str, str]:
    """Health check."""
    return {"status": "ok"}


@app.post("/invocations")
def invocations(request: Instances) -> dict[str, list[float]]:
    """Fraud probabilities for the rows."""
    rows = np.array(request.instances, dtype=np.float64)
    probabilities: list[float] = model.predict_proba(rows)[:, 1].tolist()
    return {"probabilities": probabilities}
