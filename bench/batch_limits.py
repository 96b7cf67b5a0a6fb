"""The largest batch one prediction request can hold, measured against AWS's limits.

``python -m bench.batch_limits`` (about two minutes on 2 cores):

1. trains the model with the real job (``python -m training.train``) and the production
   hyperparameters (``training.hyperparameters`` defaults: 200 trees, depth 8);
2. starts the real model server, ``python -m inference.serve``, on 127.0.0.1;
3. for batches of 1,000 to 100,000 synthetic rows (``training.synthetic``, values written as a
   client's JSON encoder writes them: full precision), in each body form (CSV, JSON lists, JSON
   objects), measures what each hop of the deployed path carries and how long it takes:

   * the request body, and the API Gateway proxy event the Lambda receives (the body as a JSON
     string, plus a signed request's headers and request context);
   * the proxy's validation of the body (``training.feature_schema.read_payload``, the code the
     Lambda runs), in-process here and scaled to the Lambda's CPU share at its memory size;
   * the model server's answer time over real HTTP (median of 3) and the answer's size, and the
     Lambda's proxy response that carries it back;

4. compares them with the limits on that path and finds, per form, the largest batch that fits:
   API Gateway's REST payload (10 MB) and integration timeout (29 s), Lambda's synchronous
   invocation payload (6 MB, request and response), SageMaker InvokeEndpoint's body (6 MB, request
   and response) and the proxy's read timeout;
5. prints the tables and writes them into ``docs/benchmarks.md`` (its own section only).

Sizes grow linearly with rows, so sizes past the largest measured batch are extrapolated by a
least-squares line; so is time past ``MAX_ROWS_PER_REQUEST`` (the server refuses more).
Options: ``--train-rows``, ``--repeat``, ``--no-write``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from bench.docs import machine as describe_machine
from bench.docs import write_section
from bench.training_job import run_training_job
from lambdas.inference_proxy.logic import READ_TIMEOUT_SECONDS
from offline.services.api_gateway import api_gateway_event
from training.feature_schema import (
    API_GATEWAY_MAX_PAYLOAD_BYTES,
    FEATURE_NAMES,
    FEATURES,
    MAX_PAYLOAD_BYTES,
    MAX_ROWS_PER_REQUEST,
    read_payload,
)

REPO: Final = Path(__file__).resolve().parents[1]
DOC: Final = REPO / "docs" / "benchmarks.md"
SECTION: Final = "batch-limits"

#: AWS Lambda Developer Guide, "Lambda quotas": 6 MB invocation payload, request and response
#: (synchronous); https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
LAMBDA_PAYLOAD_BYTES: Final = 6 * 1024 * 1024
#: API Gateway Developer Guide, "Amazon API Gateway quotas": integration timeout 50 ms - 29 s (REST).
API_GATEWAY_TIMEOUT_SECONDS: Final = 29.0
#: The proxy Lambda's memory (stacks/components/inference_api.py) and the memory that buys one vCPU
#: (Lambda Developer Guide, "Configure Lambda function memory": 1,769 MB is one vCPU).
LAMBDA_MEMORY_MB: Final = 512
ONE_VCPU_MB: Final = 1769
#: What a real event carries beyond the local one: SigV4 headers (Authorization, X-Amz-Date,
#: X-Amz-Security-Token: a session token alone is ~1 KB) twice (headers and multiValueHeaders), and
#: requestContext's identity, account, API and domain fields.
EVENT_ALLOWANCE_BYTES: Final = 8 * 1024
ROWS: Final = (1_000, 10_000, 25_000, 50_000, 75_000, MAX_ROWS_PER_REQUEST)
FORMS: Final = ("CSV", "JSON lists", "JSON objects")


@dataclass(frozen=True)
class Measurement:
    """One batch in one form, hop by hop."""

    rows: int
    request_bytes: int
    event_bytes: int
    validate_seconds: float | None  # None: over a limit, so neither validated nor sent
    server_seconds: float | None
    answer_bytes: int | None
    response_bytes: int | None


def _values(rows: int, seed: int) -> list[list[float | int]]:
    from training.synthetic import generate

    X, _ = generate(rows, seed=seed)  # noqa: N806 - the feature matrix, as in scikit-learn
    whole = [feature.kind in ("int", "bool") for feature in FEATURES]
    return [[int(v) if w else v for v, w in zip(row, whole, strict=True)] for row in X.tolist()]


def body(form: str, values: list[list[float | int]]) -> tuple[bytes, str]:
    """The request body for ``values`` in ``form``, and its content type."""
    if form == "CSV":
        return "".join(",".join(repr(v) for v in row) + "\n" for row in values).encode(), "text/csv"
    if form == "JSON lists":
        return json.dumps({"instances": values}).encode(), "application/json"
    named = [dict(zip(FEATURE_NAMES, row, strict=True)) for row in values]
    return json.dumps({"instances": named}).encode(), "application/json"


def event_bytes(payload: bytes, content_type: str) -> int:
    """The size of the proxy event API Gateway would send the Lambda for this body."""
    headers = {"Content-Type": content_type, "Host": "abc123.execute-api.us-east-1.amazonaws.com"}
    event = api_gateway_event("POST", "/predict", headers, payload, "v1", "/predict")
    return len(json.dumps(event).encode()) + EVENT_ALLOWANCE_BYTES


def response_bytes(answer: bytes) -> int:
    """The size of the Lambda's proxy response carrying ``answer`` (what Powertools returns)."""
    envelope = {
        "statusCode": 200,
        "body": answer.decode(),
        "isBase64Encoded": False,
        "multiValueHeaders": {"Content-Type": ["application/json"]},
    }
    return len(json.dumps(envelope).encode())


def _timed(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), result


def _post(port: int, payload: bytes, content_type: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("POST", "/invocations", body=payload, headers={"Content-Type": content_type})
        answer = connection.getresponse()
        data = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"the server answered {answer.status}: {data[:300]!r}")
        return data
    finally:
        connection.close()


def measure(form: str, rows: int, port: int, repeat: int) -> Measurement:
    """Send ``rows`` rows in ``form`` to the server on ``port``, hop by hop."""
    payload, content_type = body(form, _values(rows, seed=rows))
    validate = server_seconds = answer = None
    if len(payload) <= MAX_PAYLOAD_BYTES and rows <= MAX_ROWS_PER_REQUEST:
        validate, _ = _timed(lambda: read_payload(payload, content_type), repeat)
        server_seconds, answer = _timed(lambda: _post(port, payload, content_type), repeat)
    return Measurement(
        rows=rows,
        request_bytes=len(payload),
        event_bytes=event_bytes(payload, content_type),
        validate_seconds=validate,
        server_seconds=server_seconds,
        answer_bytes=len(answer) if answer is not None else None,
        response_bytes=response_bytes(answer) if answer is not None else None,
    )


def _linear(points: Sequence[tuple[int, float]], limit: float) -> int:
    """The largest row count whose value stays within ``limit``, by a least-squares line through the points."""
    rows = [float(r) for r, _ in points]
    values = [v for _, v in points]
    slope, intercept = statistics.linear_regression(rows, values)
    return int((limit - intercept) / slope) if slope > 0 else sys.maxsize


@dataclass(frozen=True)
class Fit:
    """The largest batch in one form under each limit, and overall."""

    by_request: int
    by_answer: int
    by_time: int

    @property
    def largest(self) -> int:
        return min(self.by_request, self.by_answer, self.by_time)


def lambda_seconds(validate_seconds: float) -> float:
    """Validation time on the proxy Lambda: CPU in proportion to memory, one vCPU at 1,769 MB."""
    return validate_seconds * max(1.0, ONE_VCPU_MB / LAMBDA_MEMORY_MB)


def fit(measurements: Sequence[Measurement]) -> Fit:
    """The largest batch each limit admits, extrapolated linearly from the largest measurements."""
    request = [(m.rows, float(max(m.event_bytes, m.request_bytes))) for m in measurements]
    sent = [m for m in measurements if m.server_seconds is not None]
    answer = [(m.rows, float(max(m.answer_bytes or 0, m.response_bytes or 0))) for m in sent]
    budget = min(API_GATEWAY_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)
    took = [(m.rows, lambda_seconds(m.validate_seconds or 0.0) + (m.server_seconds or 0.0)) for m in sent]
    request_limit = min(LAMBDA_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES, API_GATEWAY_MAX_PAYLOAD_BYTES)
    return Fit(
        by_request=_linear(request, request_limit),
        by_answer=_linear(answer, min(LAMBDA_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES)) if len(answer) > 1 else 0,
        by_time=_linear(took, budget) if len(took) > 1 else 0,
    )


def _train(work: Path, rows: int) -> Path:
    """The model dir of a real training job on ``rows`` synthetic rows."""
    return run_training_job(work, rows, "bench-batch")[0] / "model"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_server(
    model_dir: Path, port: int, log: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``python -m inference.serve`` on ``port`` (with ``extra_env``); returns once ``/ping`` answers 200."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SAGEMAKER_"))}
    env |= {
        "SM_MODEL_DIR": str(model_dir),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SERVE_HOST": "127.0.0.1",
        "PYTHONPATH": str(REPO),
        **(extra_env or {}),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "inference.serve"], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}: see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    _stop(process)
    raise RuntimeError("the server did not answer /ping within 120 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 1024 / 1024:.2f}"


def _rows(value: int) -> str:
    return "unbounded" if value == sys.maxsize else f"{value:,}"


def tables(results: dict[str, list[Measurement]], fits: dict[str, Fit]) -> str:
    """The measurements and the verdict, as Markdown tables."""
    lines = [
        "| form | rows | request MB | Lambda event MB | validate s (here / Lambda) | server s | answer MB "
        "| Lambda response MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for form, measurements in results.items():
        for m in measurements:
            server = "-" if m.server_seconds is None else f"{m.server_seconds:.2f}"
            validate = "-"
            if m.validate_seconds is not None:
                validate = f"{m.validate_seconds:.2f} / {lambda_seconds(m.validate_seconds):.2f}"
            lines.append(
                f"| {form} | {m.rows:,} | {_mb(m.request_bytes)} | {_mb(m.event_bytes)} | {validate} | {server} | "
                f"{_mb(m.answer_bytes)} | {_mb(m.response_bytes)} |"
            )
    lines += [
        "",
        "| form | largest batch by the request (6 MB) | by the answer (6 MB) | by time (20 s read, 29 s API) "
        "| **largest batch that fits** |",
        "|---|---:|---:|---:|---:|",
    ]
    for form, f in fits.items():
        lines.append(
            f"| {form} | {_rows(f.by_request)} | {_rows(f.by_answer)} | {_rows(f.by_time)} | **{_rows(f.largest)}** |"
        )
    return "\n".join(lines)


def document(table: str, results: dict[str, list[Measurement]], fits: dict[str, Fit], machine: str) -> str:
    """The ``docs/benchmarks.md`` section."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    csv = fits["CSV"]
    largest = results["CSV"][-1]
    csv_row_bytes = round((largest.response_bytes or 0) / largest.rows)
    return f"""## Largest batch per request

Written by `python -m bench.batch_limits`; rerun it to refresh. Latest run: {stamp}.
**Machine:** {machine}.

The real model server (`python -m inference.serve`, a model trained by `python -m training.train` with
the production hyperparameters: 200 trees, depth 8) scored synthetic batches written at full precision
(`repr` of each float, as a JSON encoder writes them). For each hop of the deployed path the table gives
what it carries: the request body; the API Gateway proxy event the Lambda receives (the body as a JSON
string, plus {EVENT_ALLOWANCE_BYTES // 1024} KB for a signed request's headers and context); the proxy's
validation (`read_payload`, the Lambda's own code) here and scaled to the Lambda's CPU share at
{LAMBDA_MEMORY_MB} MB ({ONE_VCPU_MB} MB is one vCPU); the server's answer time over HTTP (median of 3) and
size; and the Lambda proxy response that carries the answer back. A dash: over a limit, not sent.

{table}

Limits on the path (each is cited where the code enforces it): API Gateway REST payload 10 MB and
integration timeout 29 s; Lambda synchronous invocation payload 6 MB, request and response; SageMaker
InvokeEndpoint body 6 MB, request and response, and 60 s; the proxy's own read timeout,
{READ_TIMEOUT_SECONDS} s. Sizes grow linearly with rows; the "largest batch" columns extrapolate a
least-squares line through the measurements (time past {MAX_ROWS_PER_REQUEST:,} rows too: the server
refuses more).

**Result.** In CSV the largest batch that fits is **{_rows(csv.largest)} rows**, bound by
{"the answer: Lambda's and SageMaker's 6 MB response" if csv.largest == csv.by_answer else "the request"};
time is far from binding (the limit by time is {_rows(csv.by_time)} rows). JSON lists hold
{_rows(fits["JSON lists"].largest)} rows and JSON objects, whose feature names repeat on every row,
{_rows(fits["JSON objects"].largest)}, bound by the 6 MB request. The API therefore takes at most
**{MAX_ROWS_PER_REQUEST:,} rows** per request (`MAX_ROWS_PER_REQUEST`), below the CSV figure with room
for the longest answer a row can get (54 bytes once escaped, against the ~{csv_row_bytes} measured here),
and at most 6 MB; over either limit the answer is a 413 that names it and points to batch transform.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurement; print the tables and write them into ``docs/benchmarks.md``."""
    parser = argparse.ArgumentParser(prog="python -m bench.batch_limits", description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=200_000, help="rows the model is trained on")
    parser.add_argument("--repeat", type=int, default=3, help="timings per measurement (the median is kept)")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    machine = describe_machine()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        print(f"training on {args.train_rows:,} rows ...", flush=True)
        model_dir = _train(work, args.train_rows)
        port = _free_port()
        server = _start_server(model_dir, port, work / "server.log")
        try:
            results: dict[str, list[Measurement]] = {}
            for form in FORMS:
                results[form] = []
                for rows in ROWS:
                    m = measure(form, rows, port, args.repeat)
                    results[form].append(m)
                    took = "not sent" if m.server_seconds is None else f"server {m.server_seconds:.2f} s"
                    print(f"  {form:12} {rows:>7,} rows  {_mb(m.request_bytes)} MB  {took}", flush=True)
        finally:
            _stop(server)
    fits = {form: fit(measurements) for form, measurements in results.items()}
    table = tables(results, fits)
    print("\n" + table)
    if not args.no_write:
        write_section(DOC, SECTION, document(table, results, fits, machine))
        print(f"\nwrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
