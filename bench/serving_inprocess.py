"""In-process timings for the serving benchmark, in a process of their own with one OpenMP thread.

``python -m bench.serving_inprocess --model-dir D --estimator E --mlflow-model M --rows R`` (run by
``bench.serving`` with ``OMP_NUM_THREADS=1``) prints one JSON document:

* ``scoring_ms``: median time to score 1, 100, 10,000 and 100,000 rows with our runtime
  (``inference.model.load_model(D).score``) and with the estimator's ``predict_proba``, the two
  calls alternating so that a busy moment of a shared machine hits both; the 1-row figures are the
  floors a server's latency is held to;
* ``max_difference``: the largest gap between the two's probabilities over those rows;
* ``mlflow_ms``: median time of MLflow's whole ``/invocations`` handler (parse, ``predict_proba``,
  render) on one row and on 100 rows in each input format, to pick the fastest JSON one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Final

import numpy as np

from bench.serving_bodies import MLFLOW_JSON_FORMATS, body

SIZES: Final = (1, 100, 10_000, 100_000)
#: Repeats per size: enough for a stable median, about ten seconds in all.
REPEATS: Final = {1: 500, 100: 200, 10_000: 20, 100_000: 5}


def _time(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def scoring(score: Callable[[Any], Any], predict_proba: Callable[[Any], Any], features: Any) -> dict[str, Any]:
    """Median milliseconds of both scorers per size, and their largest probability difference."""
    table: dict[str, dict[str, float]] = {}
    for n in SIZES:
        rows = np.ascontiguousarray(np.resize(features, (n, features.shape[1])), dtype=np.float64)
        score(rows)  # warm-up
        predict_proba(rows)
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(REPEATS[n]):
            ours.append(_time(partial(score, rows)))
            theirs.append(_time(partial(predict_proba, rows)))
        table[str(n)] = {"ours": statistics.median(ours), "predict_proba": statistics.median(theirs)}
    rows = np.ascontiguousarray(np.resize(features, (SIZES[-1], features.shape[1])), dtype=np.float64)
    difference = float(np.max(np.abs(score(rows) - predict_proba(rows)[:, 1])))
    return {"scoring_ms": table, "max_difference": difference}


def mlflow_timings(mlflow_model: Path, lines: list[str], repeats: int = 200) -> dict[str, dict[str, float]]:
    """Median ms of MLflow's ``invocations`` per input format, for 1 and 100 rows (CSV with a header too)."""
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    model = mlflow.pyfunc.load_model(str(mlflow_model))
    schema = model.metadata.get_input_schema()
    forms = {"csv": "csv+header", **{name: f"mlflow:{name}" for name in MLFLOW_JSON_FORMATS}}
    timings: dict[str, dict[str, float]] = {}
    for name, form in forms.items():
        timings[name] = {}
        for n in (1, 100):
            text, content_type = body(form, lines[:n])
            data = text.encode()
            answer = scoring_server.invocations(data, content_type, model, schema)
            if answer.status != 200:
                raise RuntimeError(f"MLflow refused the {name} body: {answer.status} {answer.response!r:.300}")
            call = partial(scoring_server.invocations, data, content_type, model, schema)
            samples = [_time(call) for _ in range(repeats if n == 1 else repeats // 4)]
            timings[name][str(n)] = statistics.median(samples)
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    """Print the timings as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.serving_inprocess", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--estimator", type=Path, required=True)
    parser.add_argument("--mlflow-model", type=Path, required=True)
    parser.add_argument("--rows", type=Path, required=True, help="CSV rows of the 8 features, no header")
    args = parser.parse_args(argv)
    import joblib

    from inference.model import load_model

    lines = args.rows.read_text().splitlines()
    features = np.array([[float(v) for v in line.split(",")] for line in lines], dtype=np.float64)
    model = load_model(args.model_dir)
    estimator = joblib.load(args.estimator)
    result: dict[str, Any] = {"runtime": model.runtime}
    result |= scoring(model.score, estimator.predict_proba, features)
    result["mlflow_ms"] = mlflow_timings(args.mlflow_model, lines)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
