"""``python -m offline run``: the whole pipeline on this machine, then one prediction.

It synthesizes the app for ``--env`` (or takes ``--assembly DIR`` as it is), starts a local
AWS (moto on 127.0.0.1) with IAM enforced, creates the stacks' resources, uploads a
synthetic dataset to the data bucket (train, validation, then the ``_SUCCESS`` marker) and
follows the execution the marker starts: image builds, training, the endpoint. Then it
sends one prediction through the local API and says where to look next.
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
from offline.run import processes, report, scenarios
from offline.run.faults import UnknownStateError
from offline.run.progress import Printer
from offline.run.scenarios import SCENARIOS
from offline.run.session import LocalPipeline, RunResult
from offline.run.usage import ERROR_PATH_STATES, MIN_ROWS, NORMAL_PATH_STATES, usage_error
from offline.run.workdir_lock import WorkdirBusyError, locked

DEFAULT_ROWS = 4000
EXIT_INTERRUPTED = 130

EPILOG = f"""\
--fail-at STATE makes that state fail the way AWS would (a build ends FAILED, a training
job's container writes `failure`, an endpoint goes to Failed, a Lambda raises). States, in
the order a run meets them:
  {", ".join(NORMAL_PATH_STATES)}
and, only run after another failure (naming one also fails Initiate):
  {", ".join(ERROR_PATH_STATES)}
With --runs 2 or more, only the first run meets the fault; the next shows the recovery.

--scenario NAME plays a story end to end and checks that it held (see --scenario above).

exit status:
  0    every run succeeded and the prediction answered 200, or the --scenario held
       (--serve: then stopped by Ctrl-C)
  1    a run failed, the prediction did not answer 200, the scenario did not hold, synth failed,
       or the local deploy failed
  2    usage error: a bad option, an unknown --env or --fail-at state, a busy --workdir
  130  interrupted by Ctrl-C before the end
"""


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m offline", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run the pipeline offline end to end",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--env", help="the cdk.json environment to synthesize (default dev, or the one the --scenario needs)"
    )
    run.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help="play a named story end to end and check it held: "
        + "; ".join(f"{s.name} ({s.summary})" for s in SCENARIOS.values()),
    )
    run.add_argument(
        "--assembly",
        type=Path,
        metavar="DIR",
        help="run this cloud assembly (what `make synth` or `cdk synth` wrote) instead of synthesizing: "
        "exactly what `make deploy` would deploy",
    )
    run.add_argument(
        "--rows",
        type=int,
        default=DEFAULT_ROWS,
        help=f"rows of synthetic data, at least {MIN_ROWS} (default {DEFAULT_ROWS})",
    )
    run.add_argument("--seed", type=int, default=7, help="seed of the synthetic data (default 7)")
    run.add_argument("--runs", type=int, default=1, help="pipeline runs against the same local AWS (default 1)")
    run.add_argument("--fail-at", metavar="STATE", help="make that state fail the way AWS would (see below)")
    run.add_argument(
        "--serve",
        action="store_true",
        help="keep the local AWS and API up after the run, showing executions started from another shell "
        "(Ctrl-C stops)",
    )
    run.add_argument(
        "--workdir", type=Path, default=REPO_ROOT / ".offline", help="scratch directory (default .offline)"
    )
    run.add_argument(
        "--max-wait", type=float, default=2.0, help="longest real sleep of a Wait state or Retry (default 2 s)"
    )
    run.add_argument(
        "--no-tracking",
        action="store_true",
        help="do not start the local MLflow tracking server (training then logs nothing to MLflow)",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="also show Choice, Pass, Wait and Succeed states")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    options = parser().parse_args(argv)
    if options.env is None:
        options.env = SCENARIOS[options.scenario].env if options.scenario else "dev"
    problem = usage_error(options)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if threading.current_thread() is threading.main_thread():
        processes.install_signal_handlers()
    log = Printer()
    started = time.monotonic()
    try:
        with locked(options.workdir):
            code = _run(options, log)
    except WorkdirBusyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        log("interrupted (Ctrl-C): every local server and child process stopped")
        code = EXIT_INTERRUPTED
    finally:
        processes.stop_all()
    log(f"total wall time {time.monotonic() - started:.1f}s; exit status {code}")
    return code


def _run(options: argparse.Namespace, log: Printer) -> int:
    assembly = _assembly(options, log)
    if assembly is None:
        return 1
    try:
        with LocalPipeline(
            assembly,
            workdir=options.workdir,
            fail_at=options.fail_at,
            log=log,
            max_wait_seconds=options.max_wait,
            verbose=options.verbose,
            tracking=not options.no_tracking,
        ) as pipeline:
            report.describe_local_aws(pipeline, log)
            if pipeline.faults.also_failing:
                log(
                    f"--fail-at {options.fail_at}: that state only runs after another failure, so "
                    f"{pipeline.faults.also_failing} fails too"
                )
            if options.scenario:
                code, last = _scenario(pipeline, options, log)
            else:
                code, last = _runs(pipeline, options, log)
                if code == 0 and last is not None:
                    code = _predict(pipeline, last, log)
            report.report_denials(pipeline, log)
            report.final_summary(pipeline, last, log)
            if code == 0 and options.serve:
                _serve(pipeline, log)
            return code
    except UnknownStateError as error:
        # Only an --assembly from another version of the app gets here: the usage check knows this one's states.
        log(f"error: {error}")
        return 2
    except ProvisionError as error:
        log(f"deploy failed, as CloudFormation would fail it: {error}")
        return 1


def _assembly(options: argparse.Namespace, log: Printer) -> Assembly | None:
    """The cloud assembly to run: ``--assembly DIR`` as it is, else a fresh synth of ``--env``."""
    started = time.monotonic()
    if options.assembly is not None:
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


def _runs(pipeline: LocalPipeline, options: argparse.Namespace, log: Printer) -> tuple[int, RunResult | None]:
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
    result: RunResult | None = None
    while number < total:
        number += 1
        log(f"=== run {number}/{total}: uploading a dataset of {options.rows} rows ===")
        # Requests during a redeploy show the update never drops one, if a model was serving.
        result = pipeline.run(rows=options.rows, seed=options.seed + number - 1, probe=serving)
        serving = serving or result.succeeded
        report.run_summary(result, log, verbose=options.verbose)
        armed = pipeline.faults.state is not None
        reached |= {timing.state for timing in result.timings}
        if not result.succeeded:
            if not armed or options.runs == 1:
                return 1, result
            pipeline.faults.disarm()
            log(f"run {number} failed as injected (--fail-at {options.fail_at}); the next run goes without faults")
            total = max(total, number + 1)
        elif armed and number == total and options.fail_at not in reached:
            # e.g. UpdateEndpoint: only a redeploy meets it.
            log(f"--fail-at {options.fail_at}: this run did not reach that state; running once more")
            total += 1
    return 0, result


def _scenario(pipeline: LocalPipeline, options: argparse.Namespace, log: Printer) -> tuple[int, RunResult | None]:
    """Play ``--scenario``; 0 when every check of the story held."""
    story = SCENARIOS[options.scenario].play(pipeline, options.rows, options.seed, log)
    for number, result in enumerate(story.runs, start=1):
        log(f"--- run {number} of the scenario ---")
        report.run_summary(result, log, verbose=options.verbose)
    scenarios.report(options.scenario, story, log)
    return (0 if story.held else 1), (story.runs[-1] if story.runs else None)


def _predict(pipeline: LocalPipeline, last: RunResult, log: Printer) -> int:
    prediction = pipeline.predict(report.last_dataset_test_csv(pipeline, last))
    log(
        f"POST {pipeline.api.url}/predict  Content-Type: text/csv\n  {prediction.request}\n"
        f"→ {prediction.status} {prediction.body}"
    )
    return 0 if prediction.status == 200 else 1


def _serve(pipeline: LocalPipeline, log: Printer) -> None:
    """Keep everything up, following executions started from another shell, until Ctrl-C."""
    url = f"{pipeline.api.url}/predict"
    log(
        f"serving; try:\n  curl -s -X POST {url} -H 'Content-Type: text/csv' --data '{report.EXAMPLE_ROW}'\n"
        "executions started from another shell (make retrain, an upload) are shown here. Ctrl-C stops."
    )
    others: list[str] = []
    try:
        while True:
            others += pipeline.follow_new_executions()
            pipeline.progress.poll()
            time.sleep(1)
    except KeyboardInterrupt:
        statuses = [f"{arn.rsplit(':', 1)[-1]} {pipeline.progress.status(arn)}" for arn in others]
        log(
            "stopped (Ctrl-C). While serving: "
            + (f"{len(others)} execution(s) started: {', '.join(statuses)}" if others else "no execution started")
            + ". Every local server and child process is stopped."
        )


if __name__ == "__main__":
    sys.exit(main())
