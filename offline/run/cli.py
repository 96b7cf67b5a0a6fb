"""``python -m offline run``: the whole pipeline on this machine, then one prediction.

Exit status: 0 when every execution succeeded and the prediction answered 200; 1 when an
execution failed (``--fail-at`` makes one fail on purpose); 2 for a usage error such as an
unknown ``--fail-at`` state.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from offline.deploy.assembly import REPO_ROOT, Assembly, SynthError, load, synthesize
from offline.deploy.deployment import ProvisionError
from offline.run import processes
from offline.run.faults import UnknownStateError
from offline.run.progress import Printer, StateTiming
from offline.run.session import LocalPipeline, RunResult

DEFAULT_ROWS = 4000


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m offline", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the pipeline offline end to end")
    run.add_argument("--env", default="dev", help="the cdk.json environment to synthesize (default dev)")
    run.add_argument(
        "--assembly",
        type=Path,
        metavar="DIR",
        help="run this cloud assembly (what `make synth` or `cdk synth` wrote) instead of synthesizing: "
        "exactly what `make deploy` would deploy",
    )
    run.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"rows of synthetic data (default {DEFAULT_ROWS})")
    run.add_argument("--seed", type=int, default=7, help="seed of the synthetic data (default 7)")
    run.add_argument("--serve", action="store_true", help="keep the local API up after the run (Ctrl-C stops)")
    run.add_argument("--fail-at", metavar="STATE", help="make that state fail the way AWS would")
    run.add_argument("--runs", type=int, default=1, help="pipeline runs against the same local AWS (default 1)")
    run.add_argument("--workdir", type=Path, default=REPO_ROOT / ".offline", help="scratch directory")
    run.add_argument(
        "--max-wait", type=float, default=2.0, help="longest real sleep of a Wait state or Retry (default 2 s)"
    )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        processes.install_signal_handlers()
    log = Printer()
    started = time.monotonic()
    assembly = _assembly(options, log)
    if assembly is None:
        return 2
    code = 1
    try:
        with LocalPipeline(
            assembly, workdir=options.workdir, fail_at=options.fail_at, log=log, max_wait_seconds=options.max_wait
        ) as pipeline:
            _describe_local_aws(pipeline, log)
            if pipeline.faults.also_failing:
                log(
                    f"--fail-at {options.fail_at}: that state only runs after another failure, so "
                    f"{pipeline.faults.also_failing} fails too"
                )
            code = _runs(pipeline, options, log)
            if code == 0:
                code = _predict(pipeline, options, log)
            _report_denials(pipeline, log)
            if code == 0 and options.serve:
                _serve(pipeline, log)
    except UnknownStateError as error:
        log(f"error: {error}")
        return 2
    except ProvisionError as error:
        log(f"deploy failed, as CloudFormation would fail it: {error}")
        return 1
    finally:
        processes.stop_all()
    log(f"total wall time {time.monotonic() - started:.1f}s; exit status {code}")
    return code


def _assembly(options: argparse.Namespace, log: Printer) -> Assembly | None:
    """The cloud assembly to run: ``--assembly DIR`` as it is, else a fresh synth of ``--env``."""
    started = time.monotonic()
    if options.assembly is not None:
        if not (options.assembly / "manifest.json").is_file():
            log(f"error: --assembly {options.assembly} is not a cloud assembly (it has no manifest.json)")
            return None
        assembly = load(options.assembly)
        log(f"running the cloud assembly {options.assembly}: {', '.join(s.name for s in assembly.stacks)}")
        return assembly
    log(f"synthesizing the app for env {options.env} ...")
    try:
        assembly = synthesize(options.env, options.workdir / f"cdk.out-{options.env}")
    except SynthError as error:
        log(str(error))
        return None
    log(f"synthesized {', '.join(s.name for s in assembly.stacks)} in {time.monotonic() - started:.1f}s")
    return assembly


def _describe_local_aws(pipeline: LocalPipeline, log: Printer) -> None:
    url = pipeline.aws.endpoint_url
    log(
        f"local AWS (moto) at {url}; from another shell:\n"
        f"  export AWS_ENDPOINT_URL={url} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
        f"AWS_DEFAULT_REGION={pipeline.aws.region}\n"
        f"  aws stepfunctions list-executions --state-machine-arn {pipeline.state_machine.arn}\n"
        f"  aws s3 ls s3://{pipeline.data_location()[0]} --recursive; aws sagemaker list-endpoints\n"
        f"local API at {pipeline.api.url}/predict"
    )


def _runs(pipeline: LocalPipeline, options: argparse.Namespace, log: Printer) -> int:
    """Run the pipeline ``--runs`` times; 0 when the last run succeeded and no other run failed.

    With ``--fail-at`` and one run, that run fails (exit 1). With more runs, the fault applies
    to the first run that reaches the state; the runs after it go without faults and show
    the recovery (a run is added when the fault only struck the last one). A state the runs
    never reach (UpdateEndpoint needs a redeploy) also adds a run.
    """
    total = options.runs
    reached: set[str] = set()
    number = 0
    serving = False
    while number < total:
        number += 1
        log(f"=== run {number}/{total}: uploading a dataset of {options.rows} rows ===")
        # Requests during a redeploy show the update never drops one, if a model was serving.
        result = pipeline.run(rows=options.rows, seed=options.seed + number - 1, probe=serving)
        serving = serving or result.succeeded
        _summary(result, log)
        armed = pipeline.faults.state is not None
        reached |= {timing.state for timing in result.timings}
        if not result.succeeded:
            if not armed or options.runs == 1:
                return 1
            pipeline.faults.disarm()
            log(f"run {number} failed as injected (--fail-at {options.fail_at}); the next run goes without faults")
            total = max(total, number + 1)
        elif armed and number == total and options.fail_at not in reached:
            # e.g. UpdateEndpoint: only a redeploy meets it.
            log(f"--fail-at {options.fail_at}: this run did not reach that state; running once more")
            total += 1
    return 0


def _report_denials(pipeline: LocalPipeline, log: Printer) -> None:
    """Every call offline IAM refused: in AWS each would have been an AccessDenied too."""
    seen: dict[tuple[str, str, str], str] = {}
    for denial in pipeline.iam.authorizer.denials():
        role = (denial.role_arn or denial.principal).rsplit("/", 1)[-1]
        seen.setdefault((role, denial.action, denial.resource), denial.reason)
    if not seen:
        return
    lines = [
        f"  {role} is not authorized to perform: {action} on resource: {resource} {reason}"
        for (role, action, resource), reason in seen.items()
    ]
    log(f"IAM refused {len(seen)} call(s), as AWS would:\n" + "\n".join(lines))


def _summary(result: RunResult, log: Printer) -> None:
    for failure in result.trigger_failures:
        log(f"no execution started: EventBridge could not invoke the state machine: {failure}")
    for execution in result.executions:
        skipped = f" ({execution.skip_reason})" if execution.skip_reason else ""
        log(f"execution {execution.arn.rsplit(':', 1)[-1]} from {execution.object_key}: {execution.status}{skipped}")
    log("per-state timings of the run that did the work:\n" + _timing_table(result.timings))
    if result.probe is not None:
        log(
            f"requests through the local API during the run (endpoint update in place): "
            f"{result.probe.sent} sent, {result.probe.failed} failed"
        )
    log(f"run finished in {result.seconds:.1f}s: {'SUCCEEDED' if result.succeeded else 'FAILED'}")


def _timing_table(timings: list[StateTiming]) -> str:
    if not timings:
        return "  (none)"
    width = max(len(t.state) for t in timings)
    rows = []
    for timing in timings:
        marker = "  (task error)" if timing.outcome == "failed" else ""
        rows.append(f"  {timing.state.ljust(width)}  {timing.seconds:7.2f}s{marker}")
    return "\n".join(rows)


def _predict(pipeline: LocalPipeline, options: argparse.Namespace, log: Printer) -> int:
    test_csv = pipeline.workdir / "datasets" / _last_dataset(pipeline) / "test.csv"
    prediction = pipeline.predict(test_csv)
    log(
        f"POST {pipeline.api.url}/predict  Content-Type: text/csv\n  {prediction.request}\n"
        f"→ {prediction.status} {prediction.body}"
    )
    return 0 if prediction.status == 200 else 1


def _last_dataset(pipeline: LocalPipeline) -> str:
    datasets = sorted((pipeline.workdir / "datasets").iterdir(), key=lambda p: p.stat().st_mtime)
    return datasets[-1].name


def _serve(pipeline: LocalPipeline, log: Printer) -> None:
    url = f"{pipeline.api.url}/predict"
    log(
        f"serving; try:\n  curl -s -X POST {url} -H 'Content-Type: application/json' "
        f"-d '{{\"instances\": [[120.5, 23, 900.0, 1, 9, 30, 1, 0.8]]}}'\nCtrl-C stops."
    )
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        log("stopping")


if __name__ == "__main__":
    sys.exit(main())
