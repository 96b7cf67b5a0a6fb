"""Named end-to-end stories (``python -m offline run --scenario NAME``): demos that are also tests.

Each story drives the deployed app as its users would (uploads, the model CLI) and then
checks what it promised: which version serves, what the registry holds, what people were
told. It prints what happened and one line per check; it holds when every check does.

* ``worse-model``: run 2 trains on shuffled labels; the gate rejects it and the champion keeps serving.
* ``manual-approval`` (prod settings): the run ends PendingManualApproval; approving it deploys it.
* ``rollback``: two approved versions deploy in turn; rejecting the live one redeploys the previous one.
* ``canary`` and ``bad-canary`` (stage settings): see ``offline.run.rollout_scenarios``.
* ``batch`` and ``drift`` (stage settings): see ``offline.run.loop_scenarios``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from offline.deploy.assembly import REPO_ROOT
from offline.run.progress import Log
from offline.run.session import LocalPipeline, RunResult, feature_row, post_prediction


@dataclass(frozen=True)
class Check:
    what: str
    held: bool
    detail: str = ""


@dataclass
class Story:
    """What a scenario did: its runs, the checks, and lines worth showing."""

    runs: list[RunResult] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def check(self, what: str, held: bool, detail: str = "") -> bool:
        self.checks.append(Check(what, held, detail))
        return held

    @property
    def held(self) -> bool:
        return bool(self.checks) and all(c.held for c in self.checks)


@dataclass(frozen=True)
class Scenario:
    name: str
    #: The cdk.json environment whose settings the story needs.
    env: str
    summary: str
    play: Callable[[LocalPipeline, int, int, Log], Story]


# --- what the stories look at ---------------------------------------------------------------


def versions(pipeline: LocalPipeline) -> dict[int, dict[str, Any]]:
    """The registry's versions by number, as DescribeModelPackage answers."""
    sagemaker = pipeline.aws.client("sagemaker")
    group = output_value(pipeline, "ModelPackageGroupName")
    found: dict[int, dict[str, Any]] = {}
    for page in sagemaker.get_paginator("list_model_packages").paginate(ModelPackageGroupName=group):
        for summary in page["ModelPackageSummaryList"]:
            described = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
            found[int(described["ModelPackageVersion"])] = described
    return found


def output_value(pipeline: LocalPipeline, key: str) -> str:
    for outputs in pipeline.deployment.outputs.values():
        for output in outputs:
            if output.key == key:
                return output.value
    raise LookupError(f"no stack has an output {key}")


def serving_version(pipeline: LocalPipeline, run: RunResult) -> str | None:
    """The ``model_version`` a prediction through the local API reports (None if it did not answer 200)."""
    test_csv = pipeline.workdir / "datasets" / run.dataset / "test.csv"
    status, body = post_prediction(pipeline.api.url, feature_row(test_csv))
    if status != 200:
        return None
    return str(json.loads(body).get("model_version"))


def gate_of(pipeline: LocalPipeline, run: RunResult) -> dict[str, Any]:
    """The quality gate's decision in the run's output (``$.gate``)."""
    output = pipeline.aws.client("stepfunctions").describe_execution(executionArn=run.main.arn).get("output")
    gate: dict[str, Any] = json.loads(output or "{}").get("gate", {})
    return gate


def models_cli(pipeline: LocalPipeline, env: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m pipeline models ...`` in a child process pointed at the local AWS, as a user would run it."""
    environment = {**os.environ, **pipeline.aws.environment(), "AWS_DEFAULT_REGION": pipeline.aws.region}
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "models", *args, "--env", env],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def after(pipeline: LocalPipeline, action: Callable[[], None]) -> list[str]:
    """Do ``action``, then follow the executions its events start until they end; their statuses."""
    first = len(pipeline.bridge.deliveries)
    action()
    pipeline.wait_until_settled(first)
    return [pipeline.progress.status(d.execution_arn) for d in pipeline.bridge.deliveries[first:]]


def _registered(run: RunResult) -> str:
    texts = [n.subject + "\n" + n.message for n in run.notifications if "version" in n.subject.lower()]
    return texts[-1] if texts else ""


# --- the stories ------------------------------------------------------------------------------


def worse_model(pipeline: LocalPipeline, rows: int, seed: int, log: Log) -> Story:
    story = Story()
    log("scenario worse-model, step 1: a good dataset trains the champion")
    first = pipeline.run(rows=rows, seed=seed)
    story.runs.append(first)
    story.check("run 1 registered an approved version and deployed it", first.succeeded and bool(first.deployments))
    log("scenario worse-model, step 2: a dataset with shuffled labels trains a challenger")
    second = pipeline.run(rows=rows, seed=seed + 1, shuffle_labels=True)
    story.runs.append(second)
    gate = gate_of(pipeline, second)
    registry = versions(pipeline)
    story.check("run 2 ended (the pipeline worked)", second.succeeded)
    story.check(
        "the gate rejected the challenger",
        gate.get("decision") == "rejected",
        str(gate.get("reason", "no gate decision in the run's output")),
    )
    story.check(
        "the registry keeps version 2 as Rejected, for audit",
        registry.get(2, {}).get("ModelApprovalStatus") == "Rejected",
    )
    serving = serving_version(pipeline, second)
    story.check(
        "the champion (version 1) still serves", serving == "1", f"a prediction reports model_version {serving}"
    )
    text = _registered(second)
    story.check("the notification says it was rejected and why", "reject" in text.lower() and "PR-AUC" in text)
    log(_gate_table(gate))
    return story


def manual_approval(pipeline: LocalPipeline, rows: int, seed: int, log: Log) -> Story:
    story = Story()
    log("scenario manual-approval: a run with prod's settings (approval: manual)")
    run = pipeline.run(rows=rows, seed=seed)
    story.runs.append(run)
    registry = versions(pipeline)
    story.check("the run succeeded", run.succeeded)
    story.check(
        "version 1 waits as PendingManualApproval, and nothing deployed it",
        registry.get(1, {}).get("ModelApprovalStatus") == "PendingManualApproval" and not run.deployments,
    )
    text = _registered(run)
    command = next((line.strip() for line in text.splitlines() if "make approve" in line), "")
    story.check("the notification gives the approve command", "VERSION=1" in command, command)
    log(f"scenario manual-approval: approving as the notification says ({command or 'no command found'})")
    approval: list[subprocess.CompletedProcess[str]] = []
    statuses = after(
        pipeline, lambda: approval.append(models_cli(pipeline, "prod", "approve", "1", "--reason", "scenario"))
    )
    done = approval[0]
    story.check(
        "python -m pipeline models approve answered 0", done.returncode == 0, (done.stdout + done.stderr).strip()
    )
    story.check("the approval started a deployment that succeeded", statuses == ["SUCCEEDED"], ", ".join(statuses))
    serving = serving_version(pipeline, run)
    story.check("version 1 serves", serving == "1", f"a prediction reports model_version {serving}")
    return story


def rollback(pipeline: LocalPipeline, rows: int, seed: int, log: Log) -> Story:
    story = Story()
    for number in (1, 2):
        log(f"scenario rollback, step {number}: run {number} trains and deploys version {number}")
        run = pipeline.run(rows=rows, seed=seed + number - 1)
        story.runs.append(run)
        served = serving_version(pipeline, run)
        story.check(
            f"version {number} was approved and serves",
            run.succeeded and served == str(number),
            f"a prediction reports model_version {served}",
        )
    log("scenario rollback, step 3: rejecting the live version 2")
    rejection: list[subprocess.CompletedProcess[str]] = []
    statuses = after(
        pipeline,
        lambda: rejection.append(
            models_cli(pipeline, "dev", "reject", "2", "--reason", "scenario: bad on live traffic")
        ),
    )
    done = rejection[0]
    story.check(
        "python -m pipeline models reject answered 0", done.returncode == 0, (done.stdout + done.stderr).strip()
    )
    story.check("the rejection started a deployment that succeeded", statuses == ["SUCCEEDED"], ", ".join(statuses))
    served = serving_version(pipeline, story.runs[-1])
    story.check("version 1 serves again", served == "1", f"a prediction reports model_version {served}")
    return story


def _gate_table(gate: dict[str, Any]) -> str:
    challenger, champion = gate.get("challenger") or {}, gate.get("champion") or {}
    lines = ["quality gate (same test data):", f"  {'metric':10} {'challenger':>10} {'champion':>10}"]
    for metric in ("pr_auc", "roc_auc", "precision", "recall", "threshold"):
        theirs = champion.get(metric)
        lines.append(
            f"  {metric:10} {challenger.get(metric, float('nan')):10.4f} "
            + (f"{theirs:10.4f}" if isinstance(theirs, int | float) else f"{'-':>10}")
        )
    lines.append(f"  decision: {gate.get('decision')}: {gate.get('reason')}")
    return "\n".join(lines)


def _rollout(name: str, module: str = "rollout_scenarios") -> Callable[[LocalPipeline, int, int, Log], Story]:
    """The rollout and loop stories live in their own modules (imported when played: they import this one)."""

    def play(pipeline: LocalPipeline, rows: int, seed: int, log: Log) -> Story:
        import importlib

        stories = importlib.import_module(f"offline.run.{module}")
        story: Story = getattr(stories, name)(pipeline, rows, seed, log)
        return story

    return play


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("worse-model", "dev", "run 2 trains on shuffled labels; the gate rejects it", worse_model),
        Scenario("manual-approval", "prod", "prod waits for approval; approving deploys it", manual_approval),
        Scenario("rollback", "dev", "rejecting the live version redeploys the previous one", rollback),
        Scenario("canary", "stage", "version 2 rolls out in canary steps under steady traffic", _rollout("canary")),
        Scenario(
            "bad-canary", "stage", "version 2 fails requests; the alarm rolls the canary back", _rollout("bad_canary")
        ),
        Scenario(
            "batch", "dev", "a 100,000-row file is scored by batch transform", _rollout("batch", "loop_scenarios")
        ),
        Scenario("drift", "stage", "shifted live traffic; the drift job retrains", _rollout("drift", "loop_scenarios")),
    )
}


def report(name: str, story: Story, log: Log) -> None:
    lines = [f"scenario {name}: {'HELD' if story.held else 'DID NOT HOLD'}"]
    for check in story.checks:
        lines.append(f"  {'✓' if check.held else '✗'} {check.what}" + (f": {check.detail}" if check.detail else ""))
    log("\n".join(lines))
