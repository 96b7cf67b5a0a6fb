"""Serving benchmark: our server against MLflow's scoring server, a FastAPI peer and our own app elsewhere.

``make bench`` (``python -m bench.serving``):

1. trains the model with the real job (``python -m training.train``), reporting training speed;
   it writes ``model.onnx`` (served) and the fitted estimator (``output/data/model.joblib``),
   which is saved as an MLflow sklearn model (``predict_proba``) and served by the peers;
2. in a process with one OpenMP thread (``bench.serving_inprocess``): our runtime against
   ``predict_proba`` at 1 to 100,000 rows (the 1-row times are the floors), and MLflow's
   handler per input format, to give MLflow its fastest JSON input;
3. times ``python -m inference.serve`` from spawn to ``/ping`` 200 (median of 3);
4. starts every server of ``bench.serving_peers`` once, with the same worker count, and measures
   them in interleaved rounds with ``wrk`` (``bench.serving_load``): one CSV row at concurrency 1
   and 16, 100 rows at concurrency 4, with each worker's CPU;
5. prints the tables and the targets (``bench.serving_report``) and writes them into
   ``docs/benchmarks.md`` (``bench.serving_doc``).

Defaults: 3 rounds of 5 s per measurement after 1 s of warm-up, about 10 minutes in all.
``--quick``: 1 round of 2 s on a model trained on 50,000 rows, and the doc is not written.
A server that does not start ends the run with status 1 and the tail of its log; a target not
met does not (it is printed NOT met).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from bench import serving_doc
from bench.serving_bodies import body
from bench.serving_load import Load, Measurement, measure, run_wrk, wait_for_workers
from bench.serving_peers import REPO, Peer, ServerStartError, Setup, base_env, peers, start, start_seconds, stop
from bench.serving_report import (
    C16,
    OURS,
    OURS_GRANIAN,
    SCENARIOS,
    fastest_json,
    load_table,
    median_rps,
    mlflow_table,
    scoring_table,
    targets,
    worker_table,
)
from bench.training_job import run_training_job

DOC: Final = REPO / "docs" / "benchmarks.md"
WARMUP_SECONDS: Final = 1
START_RUNS: Final = 3


def _train(work: Path, train_rows: int) -> tuple[Path, Path, dict[str, Any], float, list[str]]:
    """Model dir, estimator path, evaluation, job seconds, and the test split's feature rows (CSV lines)."""
    root, wall = run_training_job(work, round(train_rows / 0.7), "bench")
    data = work / "data"
    estimator = root / "output/data/model.joblib"
    if not estimator.is_file():
        raise SystemExit(f"bench: training wrote no {estimator}: the peers serve that estimator")
    evaluation = json.loads((root / "output/data/evaluation.json").read_text())
    with (data / "test.csv").open(encoding="utf-8") as test:
        next(test)  # the header
        lines = [line.rstrip("\n").rsplit(",", 1)[0] for _, line in zip(range(100_000), test, strict=False)]
    return root / "model", estimator, evaluation, wall, lines


def _save_mlflow(estimator: Path, target: Path) -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no usage events from a benchmark
    import joblib
    import mlflow.sklearn

    mlflow.sklearn.save_model(
        joblib.load(estimator), str(target), pyfunc_predict_fn="predict_proba", serialization_format="cloudpickle"
    )


def _in_process(setup: Setup, rows: Path) -> dict[str, Any]:
    """``bench.serving_inprocess``'s timings, run with one OpenMP thread."""
    command = [sys.executable, "-m", "bench.serving_inprocess", "--model-dir", str(setup.model_dir)]
    command += ["--estimator", str(setup.estimator), "--mlflow-model", str(setup.mlflow_model), "--rows", str(rows)]
    done = subprocess.run(
        command, env=base_env() | {"OMP_NUM_THREADS": "1"}, cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: the in-process timings failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


Results = dict[str, dict[str, list[Measurement]]]


def _rounds(servers: Sequence[Peer], lines: list[str], args: argparse.Namespace, work: Path) -> Results:
    """Start every server, measure them in ``args.rounds`` interleaved rounds, stop them all."""
    results: Results = {s.name: {p.name: [] for p in servers} for s in SCENARIOS}
    running = []
    try:
        for peer in servers:
            print(f"  starting {peer.name} ...", flush=True)
            running.append(start(peer, work))
        for server in running:
            found = wait_for_workers(server.process.pid, args.workers)
            if len(found) != args.workers:
                print(f"  note: {server.peer.name} has {len(found)} worker processes, not {args.workers}", flush=True)
        for k in range(args.rounds):
            print(f"round {k + 1} of {args.rounds}", flush=True)
            shift = k % len(running)
            for server in running[shift:] + running[:shift]:
                for scenario in SCENARIOS:
                    load = Load(*body(server.peer.body, lines[: scenario.rows]), scenario.connections)
                    run_wrk(server.url, load, WARMUP_SECONDS, work)
                    m = measure(server.url, server.process.pid, load, args.duration, work)
                    results[scenario.name][server.peer.name].append(m)
                    print(
                        f"  {server.peer.name:15} {scenario.name:17} {m.requests_per_second:9,.0f} req/s  "
                        f"p50 {m.p50_ms:7.2f} ms  p99 {m.p99_ms:7.2f} ms  failed {m.failures}  "
                        f"CPU/worker {' '.join(f'{c:.2f}' for c in m.worker_cpu)}",
                        flush=True,
                    )
    finally:
        for server in running:
            stop(server)
    return results


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, help="rounds of measurements, servers interleaved (default 3)")
    parser.add_argument("--duration", type=int, help="seconds per measurement, after 1 s of warm-up (default 5)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes per server")
    parser.add_argument("--train-rows", type=int, help="training rows (default 1,000,000)")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 round, 2 s, 50,000 training rows; implies --no-write"
    )
    args = parser.parse_args(argv)
    defaults = {"rounds": 1, "duration": 2, "train_rows": 50_000} if args.quick else {}
    defaults = {"rounds": 3, "duration": 5, "train_rows": 1_000_000} | defaults
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.no_write = args.no_write or args.quick
    if args.rounds < 1 or args.duration < 1 or args.workers < 1:
        parser.error("--rounds, --duration and --workers must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the tables and targets, and write ``docs/benchmarks.md``."""
    args = _arguments(argv)
    if shutil.which("wrk") is None:
        print("bench needs wrk, the HTTP load generator: apt-get install -y wrk (Debian/Ubuntu), brew install wrk")
        return 1
    machine = serving_doc.machine()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        print(f"training on {args.train_rows:,} rows ...", flush=True)
        model_dir, estimator, evaluation, train_wall, lines = _train(work, args.train_rows)
        fit_rps = evaluation["train_rows_per_second"]
        print(f"  fit {evaluation['fit_seconds']:.1f} s ({fit_rps:,.0f} rows/s); whole job {train_wall:.1f} s")
        _save_mlflow(estimator, work / "mlflow_model")
        (work / "rows.csv").write_text("\n".join(lines) + "\n")
        setup = Setup(model_dir, estimator, work / "mlflow_model", args.workers, mlflow_json="")
        print("in-process timings (one OpenMP thread) ...", flush=True)
        timed = _in_process(setup, work / "rows.csv")
        setup = Setup(model_dir, estimator, work / "mlflow_model", args.workers, fastest_json(timed["mlflow_ms"]))
        servers = peers(setup)
        try:
            print(f"start time of ours ({START_RUNS} runs) ...", flush=True)
            starts = [start_seconds(servers[0], work) for _ in range(START_RUNS)]
            results = _rounds(servers, lines, args, work)
        except ServerStartError as err:
            print(f"bench: a server did not start: {err}", file=sys.stderr)
            return 1
    scoring = {int(n): (t["ours"], t["predict_proba"]) for n, t in timed["scoring_ms"].items()}
    names = [p.name for p in servers]
    run = serving_doc.Run(
        machine=machine,
        stamp=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        workers=args.workers,
        rounds=args.rounds,
        duration=args.duration,
        warmup=WARMUP_SECONDS,
        evaluation=evaluation,
        train_wall=train_wall,
        servers=[(p.name, p.description, p.body) for p in servers],
        runtime=timed["runtime"],
        floor_ms=scoring[1],
        max_difference=timed["max_difference"],
        start_times=starts,
        mlflow_json=setup.mlflow_json,
        load_table=load_table(results, names, {p.name: p.ceiling for p in servers}, {p.name: p.body for p in servers}),
        worker_table=worker_table(results, names),
        scoring_table=scoring_table(scoring, timed["runtime"]),
        mlflow_table=mlflow_table(timed["mlflow_ms"], setup.mlflow_json),
        targets=targets(results, scoring[1][0], scoring),
        against_granian=(median_rps(results, C16, OURS), median_rps(results, C16, OURS_GRANIAN)),
    )
    print(f"\n{serving_doc.serving_section(run)}")
    print(f"\nstart time of ours: median {statistics.median(starts):.2f} s")
    if not args.no_write:
        serving_doc.write(DOC, run)
        print(f"\nwrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
