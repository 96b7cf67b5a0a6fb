"""What the inference proxy Lambda costs on top of calling SageMaker directly: cold start and per call.

``python -m bench.proxy_overhead`` (about a minute on 2 cores) measures, in a Lambda-like
environment (``LAMBDA_TASK_ROOT`` set, the stack's ``POWERTOOLS_*`` variables, fake credentials),
each measurement in a fresh interpreter (``bench/proxy_worker.py``):

1. **cold start**: importing the handler module and creating its sagemaker-runtime client, then its
   first invocation against a stub client, for ``lambdas.inference_proxy.app`` and for a bare boto3
   handler (``bench/proxy_bare_handler.py``: boto3 and the client at import, nothing else); several
   runs, interleaved, median and spread. Target: the proxy at most 1.3x the bare handler.
2. **warm overhead**: the handler invoked with an API Gateway proxy event (one CSV row, a signed
   request's headers) against a stub client whose ``invoke_endpoint`` answers at once, minus a direct
   call of the same stub; medians over thousands of calls, with tracing off (tests, offline mode) and
   in Lambda with an unsampled and a sampled X-Ray trace. Target: at most 0.1 ms per call.
3. that the handler still emits what it must: an EMF document per call, an X-Ray subsegment for the
   SageMaker call when sampled, a structured log line with the correlation id.

It prints the tables and the verdicts and writes them into ``docs/benchmarks.md`` (its own section).
``--compare REF`` also measures the proxy as it was at git revision REF (its ``lambdas`` files from
``git archive``; the shared schema from the working tree), interleaved with the current one.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from bench.docs import machine as describe_machine
from bench.docs import write_section
from bench.proxy_report import ColdRun, Variant, WarmRun, document, render, verdicts

REPO: Final = Path(__file__).resolve().parents[1]
DOC: Final = REPO / "docs" / "benchmarks.md"
SECTION: Final = "proxy-overhead"
WORKER: Final = REPO / "bench" / "proxy_worker.py"
#: The trace header Lambda sets; only the ``Sampled`` flag differs between the modes (the warm worker gives
#: each invocation its own trace id and parent, keeping the flag).
TRACE_ROOT: Final = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"
TRACING_MODES: Final = ("off", "not sampled", "sampled")
PROXY_FILES: Final = ("lambdas/__init__.py", "lambdas/common", "lambdas/inference_proxy")


def lambda_environment(pythonpath: str, tracing: str, daemon_port: int) -> dict[str, str]:
    """The variables Lambda and the stack (stacks/components/python_function.py) give the function."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "POWERTOOLS_", "_X_AMZN", "PYTHON", "LAMBDA_", "OFFLINE_"))
    }
    env = {
        **inherited,
        "PYTHONPATH": pythonpath,
        "LAMBDA_TASK_ROOT": str(REPO),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": "inference_proxy",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "ASIABENCHMARK",
        "AWS_SECRET_ACCESS_KEY": "benchmark",
        "AWS_SESSION_TOKEN": "benchmark",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon_port}",
        "POWERTOOLS_SERVICE_NAME": "inference_proxy",
        "POWERTOOLS_METRICS_NAMESPACE": "FraudPipeline",
        "ENDPOINT_NAME": "fraud-detector-bench",
    }
    if tracing == "off":
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    else:
        env["_X_AMZN_TRACE_ID"] = f"{TRACE_ROOT};Sampled={'1' if tracing == 'sampled' else '0'}"
    return env


def extract(ref: str, into: Path) -> str:
    """The proxy's files at git revision ``ref`` under ``into``; returns the short commit."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, *PROXY_FILES], cwd=REPO, check=True, capture_output=True
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return commit


def run_worker(args: Sequence[str], env: dict[str, str], work: Path, stdout: Path | None = None) -> dict[str, Any]:
    """One fresh interpreter running ``bench/proxy_worker.py args OUT``; its JSON result."""
    out = work / "result.json"
    with open(stdout or os.devnull, "w", encoding="utf-8") as sink:
        subprocess.run(
            [sys.executable, str(WORKER), *args, str(out)], env=env, stdout=sink, stderr=subprocess.PIPE, check=True
        )
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def measure_cold(variants: list[Variant], runs: int, work: Path, daemon_port: int) -> dict[str, list[ColdRun]]:
    """``runs`` cold starts per variant, the order rotated every run; one unrecorded run each first."""
    results: dict[str, list[ColdRun]] = {v.label: [] for v in variants}
    for run in range(-1, runs):
        for variant in variants[run % len(variants) :] + variants[: run % len(variants)]:
            env = lambda_environment(variant.pythonpath, "sampled", daemon_port)
            result = run_worker(["cold", variant.target], env, work)
            if run >= 0:  # the first run compiles the .pyc files
                results[variant.label].append(ColdRun(init=result["init"], first=result["first"]))
    return results


def measure_warm(
    variants: list[Variant], rounds: int, batches: int, calls: int, work: Path
) -> dict[tuple[str, str], list[WarmRun]]:
    """Per (variant, tracing mode), one worker per round; the variants alternate."""
    results: dict[tuple[str, str], list[WarmRun]] = {}
    proxies = [v for v in variants if v.target == "proxy"]
    for _ in range(rounds):
        for mode in TRACING_MODES:
            for variant in proxies:
                stdout = work / "stdout.log"
                env = lambda_environment(variant.pythonpath, mode, 0)
                result = run_worker(["warm", str(batches), str(calls)], env, work, stdout)
                results.setdefault((variant.label, mode), []).append(WarmRun.parse(result, stdout.read_text("utf-8")))
                print(f"  warm {variant.label:28} tracing {mode:11} done", flush=True)
    return results


@contextlib.contextmanager
def _daemon() -> Iterator[int]:
    """A UDP socket standing in for the X-Ray daemon during the cold starts (nothing reads it); its port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def main(argv: Sequence[str] | None = None) -> int:
    """Measure; print the tables and verdicts; write them into ``docs/benchmarks.md``."""
    parser = argparse.ArgumentParser(prog="python -m bench.proxy_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="cold starts per handler")
    parser.add_argument("--rounds", type=int, default=2, help="warm workers per handler and tracing mode")
    parser.add_argument("--batches", type=int, default=10, help="alternating handler/direct batches per worker")
    parser.add_argument("--calls", type=int, default=1000, help="calls per batch")
    parser.add_argument("--compare", metavar="REF", help="also measure the proxy at this git revision")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args(argv)
    machine = describe_machine()
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        work = Path(tmp)
        variants = [
            Variant("bare boto3 handler", "bare", f"{REPO / 'bench'}{os.pathsep}{REPO}"),
            Variant("proxy (working tree)", "proxy", str(REPO)),
        ]
        commit = None
        if args.compare:
            old = work / "before"
            commit = extract(args.compare, old)
            variants.append(Variant(f"proxy @ {commit}", "proxy", f"{old}{os.pathsep}{REPO}"))
        print(f"cold starts: {args.runs} per handler ...", flush=True)
        with _daemon() as port:
            cold = measure_cold(variants, args.runs, work, port)
        print(f"warm calls: {args.rounds} x {args.batches} x {args.calls:,} per handler and tracing mode ...")
        warm = measure_warm(variants, args.rounds, args.batches, args.calls, work)
    tables = render(variants, cold, warm)
    lines = verdicts(variants, cold, warm)
    print("\n" + tables + "\n\n" + "\n".join(lines))
    if not args.no_write:
        write_section(DOC, SECTION, document(tables, lines, machine, commit))
        print(f"\nwrote {DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
