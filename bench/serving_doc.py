"""The top of ``docs/benchmarks.md``: the serving benchmark's section and training speed (``bench.serving``).

Other scripts' marked sections (``bench.docs``, e.g. batch-limits) are kept as they are.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.docs import cpu_model, load_average, sections
from bench.serving_inprocess import REPEATS
from bench.serving_report import Target

ONE_ROW_REPEATS = REPEATS[1]

_FORMS = {
    "csv": "CSV rows, no header",
    "csv+header": "CSV with a header line (MLflow's CSV reader takes the first line for the column names)",
    "instances": 'JSON `{"instances": [[...], ...]}`',
}


@dataclass(frozen=True)
class Run:
    """Everything the section reports, from one run."""

    machine: str
    stamp: str
    workers: int
    rounds: int
    duration: int
    warmup: int
    evaluation: dict[str, Any]
    train_wall: float
    #: (name, description, body form) of each server, in table order.
    servers: Sequence[tuple[str, str, str]]
    runtime: str
    floor_ms: tuple[float, float]
    max_difference: float
    start_times: Sequence[float]
    mlflow_json: str
    load_table: str
    worker_table: str
    scoring_table: str
    mlflow_table: str
    targets: Sequence[Target]
    #: Median req/s at 1-row c=16 of ``ours`` and of ``ours-granian`` (the same service under granian).
    against_granian: tuple[float, float] = (float("nan"), float("nan"))


def machine() -> str:
    """Cores, CPU model, kernel, Python, wrk and the load average now (the machine may be shared)."""
    banner = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split()
    wrk = f"wrk {banner[1].split('/')[-1]}" if len(banner) > 1 else "wrk"
    return (
        f"{os.cpu_count()} cores, {cpu_model()}, Linux {platform.release()}, Python {platform.python_version()}, "
        f"{wrk}; load average at start {load_average()} (a shared machine)"
    )


def _form(form: str) -> str:
    if form.startswith("mlflow:"):
        return f'MLflow JSON `{{"{form.removeprefix("mlflow:")}": ...}}`, its fastest JSON input (table below)'
    return _FORMS.get(form, form)


def _granian_figures(ours: float, granian: float) -> str:
    """How ``ours-granian`` compared with ``ours`` at 1-row c=16 in this run, in words."""
    if not ours > 0 or not granian > 0:
        return "was not measured in this run"
    if granian > ours:
        return f"answered {granian / ours - 1:.0%} more requests a second ({granian:,.0f} against {ours:,.0f})"
    return f"was not faster in this run ({granian:,.0f} against {ours:,.0f} requests a second)"


def http_layer(run: Run) -> str:
    """What ``ours``'s HTTP layer is, and why it is not granian although granian is faster."""
    ours, granian = run.against_granian
    return f"""**Our HTTP layer.** `ours` runs the service (`inference.app`) as ASGI (`inference.asgi`)
under uvicorn with its C HTTP parser (httptools, llhttp) and its libuv event loop (uvloop), one
process per worker with its own model session. The master binds one `SO_REUSEPORT` listener per
worker and hands it to the worker it spawns (`inference.supervisor`), so the kernel spreads the
connections over the workers. A request the parser cannot read (a `Content-Length` that is not a
number, a request line or method that is not HTTP's, an unsupported `Transfer-Encoding`, a broken
chunk, headers over 64 KB or not all there after 75 s) gets a 4xx JSON `{{"error": "..."}}` naming what to fix, and
the connection is closed (`inference.http_protocol`). The common request (`GET /ping`, a
`POST /invocations` of up to 64 KB with a `Content-Length`) is answered by the protocol itself from
the service, without uvicorn's ASGI task and messages (`inference.direct`); the others go to the
ASGI app. `ours-granian` is the same service under the server before this one, with its settings:
at 1-row c=16 it {_granian_figures(ours, granian)}.
Granian answers a request it cannot parse itself, with an empty 400, and no option changes that
body. The issue requires every bad-input behaviour to be kept, and a client error is a 4xx JSON
`{{"error": ...}}` in this project (`inference.app`), so `ours` does not use granian{_price(ours, granian)}."""


def _price(ours: float, granian: float) -> str:
    """What the difference between ``ours`` and ``ours-granian`` means, when granian was the faster."""
    if granian > ours > 0:
        return ": the difference between the two rows is the price of JSON answers to bad HTTP"
    return ""


def serving_section(run: Run) -> str:
    """The serving section's Markdown."""
    servers = "\n".join(f"- `{name}`: {description}; body: {_form(form)}." for name, description, form in run.servers)
    ours_floor, their_floor = run.floor_ms
    starts = ", ".join(f"{s:.2f}" for s in run.start_times)
    median_start = statistics.median(run.start_times)
    rounds = f"{run.rounds} round{'s' if run.rounds != 1 else ''}"
    return f"""## Serving: ours against MLflow's scoring server and a FastAPI peer

One model, trained by `python -m training.train` on {run.evaluation["rows"]["train"]:,} rows, served on
127.0.0.1 by each server below with {run.workers} worker processes. The servers are started once and
stay up for the whole run, measured in {rounds}: in each round every server once in each scenario,
one server after the other (the order rotates by one server per round). A measurement is `wrk -t1`
with keep-alive connections for {run.duration} s after a {run.warmup} s warm-up. The tables give the
median over the rounds and, in brackets, the lowest and the highest. Every request carries the same
rows: the first row of the test split (1-row scenarios) or its first 100 rows, in the form each server
takes.

{servers}

{http_layer(run)}

**Floor:** scoring one row in process with one OpenMP thread: our runtime ({run.runtime},
`inference.model.load_model(dir).score` on a (1, 8) float64 array) {ours_floor:.3f} ms; the estimator's
`predict_proba` {their_floor:.3f} ms (median of {ONE_ROW_REPEATS} calls each, alternating).

**Start:** `python -m inference.serve`, spawn to the first `/ping` 200: median {median_start:.2f} s
(runs: {starts} s).

{run.load_table}

The last column is the server whose HTTP layer is the same but whose answer is fixed (no parsing, no
scoring): that layer's ceiling on this machine, measured in the same rounds. `const-uvicorn` has
`ours`'s layer exactly (the same supervisor, listeners and uvicorn configuration); for
`mlflow-shipped`, `mlflow-fair` and `fastapi-peer` it is the nearest one: they run uvicorn's command
line, whose workers share one listening socket, with uvicorn's own httptools protocol (`TCP_NODELAY`
added for the last two, `bench.serving_apps.NoDelayHttpTools`) and uvloop, which uvicorn picks when
it is installed. "ours / this" divides `ours`'s median req/s in that scenario by the row's.

CPU of each worker process while the 1-row c=16 load ran (1.00 = one core busy the whole time; mean
over the rounds; `/proc/<pid>/stat` of the leaf processes under each server):

{run.worker_table}

Scoring time in one process, one thread each, the same rows (median; {run.runtime} against the
estimator's `predict_proba`); the two's probabilities differ by at most {run.max_difference:.1e} over
100,000 rows:

{run.scoring_table}

MLflow's whole `/invocations` handler (parse, `predict_proba`, render) in process, one thread, per
input format; `mlflow-fair` gets the fastest JSON one ({run.mlflow_json}), `mlflow-shipped` CSV:

{run.mlflow_table}

Targets (all from this run):
{chr(10).join(target.line() for target in run.targets)}

Reading the figures: wrk runs on the same {os.cpu_count()} cores as the servers, for every server
alike, and the machine may be shared, so absolute figures move between runs; compare within a round
or the ratios. `mlflow-shipped` runs with uvicorn's access log and scikit-learn's OpenMP threads on
every core; `mlflow-fair` is the same scoring app with no access log and one OpenMP thread, so the two
rows show what those settings change. Both have `TCP_NODELAY`: uvloop, which uvicorn picks when it is
installed (it is here, as `ours`'s event loop), sets it on every connection; on asyncio, uvicorn's
`--workers` mode would leave it off (its listening socket has protocol 0, and asyncio sets it only on
`IPPROTO_TCP` sockets), hence `NoDelayHttpTools` for `mlflow-fair` and `fastapi-peer`. Their workers
share one listening socket, so the kernel may hand most of the c=16 connections to one of them, and
whether it does varies from run to run. A worker listed as idle used less than a third of the busiest
worker's CPU: that server carried the c=16 load on fewer processes than it
has, which lowers its throughput in that row."""


def training_section(run: Run) -> str:
    """The training-speed section's Markdown."""
    evaluation = run.evaluation
    hps = evaluation["hyperparameters"]
    return f"""## Training speed

`python -m training.train` on {evaluation["rows"]["train"]:,} training rows ({len(hps)}
hyperparameters at their defaults: {hps["max_iter"]} iterations, max depth
{hps["max_depth"]}): fit {evaluation["fit_seconds"]:.1f} s =
**{evaluation["train_rows_per_second"]:,.0f} rows/s**; the whole job (reading CSV, fit, evaluation,
artifacts) {run.train_wall:.1f} s, with scikit-learn's OpenMP threads on all {os.cpu_count()} cores. On a shared
machine cap them (`SM_NUM_CPUS=1`, which offline mode sets, or `OMP_NUM_THREADS=1`): OpenMP threads
spinning against other processes' load made a 14,000-row fit 25x slower here (10.6 s against 0.4 s)."""


def write(doc: Path, run: Run) -> None:
    """Rewrite the top of ``doc`` (header, serving, training speed); keep other scripts' sections."""
    kept = sections(doc.read_text(encoding="utf-8")) if doc.exists() else {}
    others = "".join(f"\n{block}" for block in kept.values())
    doc.write_text(
        f"""# Benchmarks

Written by `make bench` (`python -m bench.serving`); rerun it to refresh. Latest run: {run.stamp}.

**Machine:** {run.machine}.

{serving_section(run)}

{training_section(run)}
{others}""",
        encoding="utf-8",
    )
