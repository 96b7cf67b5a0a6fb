"""Batch scoring throughput: the batch transform path against ``predict_proba`` in one process.

``python -m bench.batch_transform`` (``make bench`` runs it after ``bench.serving``; a few minutes
on 2 cores):

1. trains the model with the real job (``python -m training.train``) and the production
   hyperparameters, on ``--train-rows`` rows;
2. writes 1,000,000 synthetic rows (``training.synthetic``, seeded; every value at full
   precision) as one CSV input file, as a batch would land under ``batch/incoming/<name>/``;
3. starts the real model server as a transform container (``python -m inference.serve`` with
   ``SAGEMAKER_BATCH=true``, ``SAGEMAKER_MAX_PAYLOAD_IN_MB=6``,
   ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS=2``) and runs the file through the transform
   emulation's own code (``offline.services.transform_records.transform_file``: SplitType Line,
   MultiRecord mini-batches up to 6 MB, 2 in flight, JoinSource Input), timing the whole file:
   splitting, HTTP, parsing and scoring in the server, joining;
4. times the floor: the model's ``predict_proba`` on the same rows, in this process, already in
   memory (no parsing, no HTTP), the best of 3 runs with scikit-learn's OpenMP threads on every core
   and 3 on one (on a busy machine spinning threads stall);
5. checks the transform output: one line per input row, in order, each the input row followed
   by ``probability,label,error`` with no error, the probabilities within 1e-6 of the floor's;
6. prints rows/s for both and their ratio, and writes them into ``docs/benchmarks.md`` (its own
   section only).

Only loopback traffic, no AWS. Options: ``--rows``, ``--train-rows``, ``--no-write``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from bench.batch_limits import _free_port, _start_server, _stop, _train
from bench.docs import machine as describe_machine
from bench.docs import write_section
from offline.services.transform_container import invoker
from offline.services.transform_records import Plan, transform_file
from training.feature_schema import LEGACY_PICKLE_FILE, N_FEATURES

REPO: Final = Path(__file__).resolve().parents[1]
DOC: Final = REPO / "docs" / "benchmarks.md"
SECTION: Final = "batch-transform"
MAX_PAYLOAD_MB: Final = 6
MAX_CONCURRENT_TRANSFORMS: Final = 2
TOLERANCE: Final = 1e-6
FLOOR_REPEATS: Final = 3
_CHUNK: Final = 50_000


@dataclass(frozen=True)
class Result:
    rows: int
    input_mb: float
    transform_seconds: float
    floor_seconds: float
    mini_batches: int
    max_difference: float
    #: One mini-batch answered in process: the whole answer (parse, score, render) and the scoring alone.
    batch_rows: int
    answer_seconds: float
    score_seconds: float

    @property
    def transform_rate(self) -> float:
        return self.rows / self.transform_seconds

    @property
    def floor_rate(self) -> float:
        return self.rows / self.floor_seconds


def input_file(rows: int, seed: int) -> tuple[bytes, Any]:
    """The CSV input (feature rows, no header, no label) and the same rows as a matrix."""
    from training.synthetic import generate

    X, _ = generate(rows, seed=seed)  # noqa: N806 - the feature matrix, as in scikit-learn
    row = ",".join(["%r"] * N_FEATURES) + "\n"
    blocks = (X[i : i + _CHUNK] for i in range(0, rows, _CHUNK))
    return "".join((row * len(block)) % tuple(block.ravel().tolist()) for block in blocks).encode(), X


def start_batch_server(model_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """The model server as SageMaker starts a transform container; returns once ``/ping`` answers."""
    batch = {
        "SAGEMAKER_BATCH": "true",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": str(MAX_PAYLOAD_MB),
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": str(MAX_CONCURRENT_TRANSFORMS),
    }
    return _start_server(model_dir, port, log, batch)


def check(output: bytes, data: bytes, floor: Any) -> float:
    """The largest probability difference; raises AssertionError when the output is not the input, joined, in order."""
    inputs = data.decode().splitlines()
    lines = output.decode().splitlines()
    if len(lines) != len(inputs):
        raise AssertionError(f"the output has {len(lines)} lines for {len(inputs)} input rows")
    probabilities = np.empty(len(lines))
    for index, (line, source) in enumerate(zip(lines, inputs, strict=True)):
        head, probability, label, error = line.rsplit(",", 3)
        if head != source or error or label not in ("0", "1"):
            raise AssertionError(f"output line {index + 1} is not input row {index + 1} with its answer: {line!r}")
        probabilities[index] = float(probability)
    difference = float(np.max(np.abs(probabilities - floor)))
    if difference > TOLERANCE:
        raise AssertionError(f"probabilities differ from predict_proba by up to {difference:g} (> {TOLERANCE:g})")
    return difference


def measure(model_dir: Path, work: Path, rows: int) -> Result:
    """Transform ``rows`` rows through the server, then time the floor, then check the output."""
    import joblib
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    data, X = input_file(rows, seed=2027)  # noqa: N806
    plan = Plan(max_payload_mb=MAX_PAYLOAD_MB, max_concurrent_transforms=MAX_CONCURRENT_TRANSFORMS, join_input=True)
    port = _free_port()
    server = start_batch_server(model_dir, port, work / "server.log")
    calls: list[int] = []

    def counted(body: bytes) -> bytes:
        calls.append(len(body))
        return send(body)

    send = invoker(port, content_type="text/csv", accept="text/csv")
    try:
        started = time.perf_counter()
        output = transform_file(data, plan, counted)
        transform_seconds = time.perf_counter() - started
    finally:
        _stop(server)
    # The fitted estimator the training job keeps beside the model (serving never reads it).
    classifier = joblib.load(model_dir.parent / "output/data" / LEGACY_PICKLE_FILE)
    classifier.predict_proba(X[:1000])  # warm up OpenMP and the code paths, as the server's load does
    floor_seconds, floor = float("inf"), None
    # The best of a few runs, with OpenMP on every core and on one: its threads stall on a busy machine.
    for threads in (None, 1) * FLOOR_REPEATS:
        with threadpool_limits(threads):
            started = time.perf_counter()
            floor = classifier.predict_proba(X)[:, 1]
            floor_seconds = min(floor_seconds, time.perf_counter() - started)
    difference = check(output, data, floor)
    batch_rows, answer_seconds, score_seconds = server_breakdown(model_dir, data, calls[0])
    return Result(
        rows,
        len(data) / 1e6,
        transform_seconds,
        floor_seconds,
        len(calls),
        difference,
        batch_rows,
        answer_seconds,
        score_seconds,
    )


def server_breakdown(model_dir: Path, data: bytes, size: int) -> tuple[int, float, float]:
    """The server's work on the first mini-batch, in this process: (rows, whole answer s, scoring alone s)."""
    from inference.batch import answer_csv_lines
    from inference.model import load_model

    body = data[:size]
    model = load_model(model_dir)
    X = np.loadtxt(body.decode().splitlines(), delimiter=",", ndmin=2)  # noqa: N806
    started = time.perf_counter()
    answer_csv_lines(model, body)
    answer_seconds = time.perf_counter() - started
    started = time.perf_counter()
    model.score(X)
    return len(X), answer_seconds, time.perf_counter() - started


def document(result: Result, machine: str, train_rows: int) -> str:
    """The ``docs/benchmarks.md`` section."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    ratio = result.floor_rate / result.transform_rate
    share = result.score_seconds / result.answer_seconds
    transform = (
        f"| batch transform: offline mode's splitting and joining (`transform_records`) over the real server in "
        f"batch mode (MaxPayloadInMB {MAX_PAYLOAD_MB}, MaxConcurrentTransforms {MAX_CONCURRENT_TRANSFORMS}, "
        f"{result.mini_batches} mini-batches) | {result.transform_seconds:.2f} | {result.transform_rate:,.0f} |"
    )
    floor = (
        f"| floor: `predict_proba` on the rows already in memory, one process (best of {2 * FLOOR_REPEATS} runs) "
        f"| {result.floor_seconds:.2f} | {result.floor_rate:,.0f} |"
    )
    return f"""## Batch transform: rows/s against predict_proba

Written by `python -m bench.batch_transform`; rerun it to refresh. Latest run: {stamp}.
**Machine:** {machine}.

{result.rows:,} synthetic rows ({result.input_mb:.1f} MB of CSV, full precision), scored by a model trained by
`python -m training.train` on {train_rows:,} rows with the production hyperparameters (200 trees, depth 8):

| path | seconds | rows/s |
|---|---:|---:|
{transform}
{floor}

The transform path is **{ratio:.1f}x** slower than the floor. Checked on every run: the output has one line
per input row, in order, each the input row followed by `probability,label,error` with an empty error, and
its probabilities are within {TOLERANCE:g} of `predict_proba`'s (largest difference {result.max_difference:.1e}).

Where the server's time goes, one {result.batch_rows:,}-row mini-batch answered in process:
{result.answer_seconds:.2f} s in all, of which scoring ({share:.0%}) {result.score_seconds:.2f} s; the rest is
parsing the CSV text (one `float` per value, every row checked against the schema) and rendering the
answer lines. Beyond that the transform path pays for HTTP, splitting and joining {result.rows:,} lines in
this process, and sharing the 2 cores between this process and the server's 2 workers, where the floor
has the cores to itself. The server scores the model's ONNX export with onnxruntime, whose
probabilities are `predict_proba`'s within 1e-6. In AWS each instance of the job does the same work on its
share of the files; S3 reads and writes are not measured here.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurement; print the figures and write them into ``docs/benchmarks.md``."""
    parser = argparse.ArgumentParser(prog="python -m bench.batch_transform", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows to score")
    parser.add_argument("--train-rows", type=int, default=200_000, help="rows the model is trained on")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    machine = describe_machine()
    with tempfile.TemporaryDirectory(prefix="bench-transform-") as tmp:
        work = Path(tmp)
        print(f"training on {args.train_rows:,} rows ...", flush=True)
        model_dir = _train(work, args.train_rows)
        print(f"scoring {args.rows:,} rows by batch transform, then by predict_proba ...", flush=True)
        result = measure(model_dir, work, args.rows)
    print(
        f"batch transform: {result.transform_seconds:.2f} s, {result.transform_rate:,.0f} rows/s "
        f"({result.mini_batches} mini-batches)\n"
        f"predict_proba:   {result.floor_seconds:.2f} s, {result.floor_rate:,.0f} rows/s\n"
        f"ratio {result.floor_rate / result.transform_rate:.1f}x; output checked, largest difference "
        f"{result.max_difference:.1e}"
    )
    if not args.no_write:
        write_section(DOC, SECTION, document(result, machine, args.train_rows))
        print(f"wrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
