"""The safe-rollout stories: a canary that goes through, and one that the alarms roll back.

Both run stage's settings (``rollout.traffic`` CANARY, 2 instances, a canary of 1) under
steady local traffic through the REST API, and read the endpoint's traffic steps from the
local SageMaker hosting (``EndpointFleet.timeline``) against who answered each request.

* ``canary``: version 2 is as good as version 1 (trained on the same data), is rolled out in
  canary steps and serves; no request fails.
* ``bad-canary``: version 2's model server fails half of its requests (fault injection, off by
  default); the 5xx alarm fires during the canary's bake, SageMaker rolls the update back, the
  deployment says which alarm and rejects the version, and version 1 keeps serving.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from offline.run.progress import Log
from offline.run.scenarios import Story, output_value, serving_version, versions
from offline.run.session import LocalPipeline, RunResult, feature_row, post_prediction
from offline.run.traffic import Answer, SteadyTraffic, render_split
from offline.services.sagemaker_rollout import TrafficStep
from offline.services.scaling_advice import scaling_decisions

#: The share of the challenger's requests its server fails in ``bad-canary``.
FAULT_RATE = 0.5
#: Seconds between two requests of the steady traffic.
INTERVAL = 0.04


@dataclass
class Rollout:
    """What happened around run 2's rollout: both runs, the endpoint's traffic steps, every answer."""

    first: RunResult
    second: RunResult
    started: float  # time.time() when the steady traffic started
    steps: list[TrafficStep]
    answers: list[Answer]
    split: str

    def step(self, words: str) -> TrafficStep | None:
        """The first traffic step whose event mentions ``words``."""
        return next((step for step in self.steps if words in step.event), None)

    def served(self, start: float, end: float) -> dict[str, int]:
        """Answers between ``start`` and ``end`` by the version that gave them ("failed" for the others)."""
        counts: dict[str, int] = {}
        for answer in self.answers:
            if start <= answer.at < end:
                key = f"v{answer.version}" if answer.status == 200 else "failed"
                counts[key] = counts.get(key, 0) + 1
        return counts

    def log(self, log: Log) -> None:
        lines = ["traffic steps of the endpoint (seconds after the steady traffic started):"]
        for step in self.steps:
            shares = ", ".join(f"{config} {share:.0%}" for config, share in step.shares.items())
            lines.append(f"  {step.at - self.started:6.1f} s  {step.event}  [{shares}]")
        lines.append("who answered, second by second:")
        lines.append(self.split)
        log("\n".join(lines))


def _roll_out_version_2(
    pipeline: LocalPipeline, rows: int, seed: int, log: Log, name: str, *, fault_rate: float = 0.0
) -> Rollout:
    """Run 1 (creates the endpoint), then run 2 on the same data under steady traffic.

    ``fault_rate``: the share of requests version 2's model server fails (fault injection).
    """
    log(f"scenario {name}, step 1: run 1 trains version 1; the endpoint is created (no canary: nothing to shift from)")
    first = pipeline.run(rows=rows, seed=seed)
    test_csv = pipeline.workdir / "datasets" / first.dataset / "test.csv"
    payloads = [feature_row(test_csv, index) for index in range(20)]
    endpoint = output_value(pipeline, "EndpointName")
    log(f"scenario {name}, step 2: steady traffic through the API, one request every {INTERVAL * 1000:.0f} ms")
    with SteadyTraffic(
        lambda i: post_prediction(pipeline.api.url, payloads[i % len(payloads)]), interval=INTERVAL
    ) as traffic:
        started = time.time()
        log(f"scenario {name}, step 3: run 2 trains version 2 on the same data; its approval rolls it out")
        if fault_rate:
            pipeline.fleet.inject_errors(fault_rate)
        second = pipeline.run(rows=rows, seed=seed)
        time.sleep(1.5)  # traffic after the rollout ended: who serves then
    pipeline.metrics.flush()
    for decision in scaling_decisions(
        account=pipeline.aws.account, region=pipeline.aws.region, time_scale=pipeline.time_scale
    ):
        log(decision.line())
    steps = [step for step in pipeline.fleet.timeline(endpoint) if step.at >= started]
    rollout = Rollout(first, second, started, steps, list(traffic.record.answers), render_split(traffic.record))
    rollout.log(log)
    return rollout


def _new_share(step: TrafficStep) -> float:
    """Version 2's share of traffic at ``step`` (its endpoint config is named ``...-config-v2-<hash>``)."""
    return sum(share for config, share in step.shares.items() if "-v2-" in config)


def _deployment_statuses(run: RunResult) -> list[str]:
    return [deployment.status for deployment in run.deployments]


def _notification(run: RunResult, words: str) -> str:
    found = [n.subject + "\n" + n.message for n in run.notifications if words in n.subject]
    return found[-1] if found else ""


def canary(pipeline: LocalPipeline, rows: int, seed: int, log: Log) -> Story:
    story = Story()
    rollout = _roll_out_version_2(pipeline, rows, seed, log, "canary")
    story.runs += [rollout.first, rollout.second]
    story.check("run 1 created the endpoint with version 1", serving_version(pipeline, rollout.first) is not None)
    story.check(
        "run 2's deployment succeeded",
        rollout.second.succeeded and _deployment_statuses(rollout.second) == ["SUCCEEDED"],
        ", ".join(_deployment_statuses(rollout.second)),
    )
    canary_step, full_step = rollout.step("canary:"), rollout.step("all traffic to")
    story.check(
        "the update shifted a canary first, then all traffic",
        canary_step is not None and full_step is not None and canary_step.at < full_step.at,
        canary_step.event if canary_step else "no canary step in the endpoint's timeline",
    )
    if canary_step is not None and full_step is not None:
        during = rollout.served(canary_step.at, full_step.at)
        share = _new_share(canary_step)
        new = during.get("v2", 0) / max(1, sum(during.values()))
        story.check(
            "during the canary bake both versions answered, at the canary's share",
            during.get("v1", 0) > 0 and abs(new - share) <= 0.15,
            f"{during}: version 2 answered {new:.0%} (canary share {share:.0%})",
        )
        after = rollout.served(full_step.at + 0.5, float("inf"))
        story.check("after the shift only version 2 answered", set(after) == {"v2"}, str(after))
    failed = [a for a in rollout.answers if a.status != 200]
    story.check(
        "no request failed during the rollout",
        not failed and len(rollout.answers) > 0,
        f"{len(rollout.answers)} requests, {len(failed)} failed" + (f": {failed[0].error}" if failed else ""),
    )
    text = _notification(rollout.second, "deployed")
    story.check("the deployed notification describes the canary", "Rollout:         canary" in text)
    return story


def bad_canary(pipeline: LocalPipeline, rows: int, seed: int, log: Log) -> Story:
    story = Story()
    log(f"scenario bad-canary: version 2's model server will fail {FAULT_RATE:.0%} of its requests")
    rollout = _roll_out_version_2(pipeline, rows, seed, log, "bad-canary", fault_rate=FAULT_RATE)
    story.runs += [rollout.first, rollout.second]
    statuses = _deployment_statuses(rollout.second)
    story.check(
        "run 2's deployment ended rolled back (FAILED: DeploymentRolledBack)",
        bool(statuses) and statuses[0] == "FAILED",
        ", ".join(statuses),
    )
    canary_step, alarm_step = rollout.step("canary:"), rollout.step("in ALARM: rolling back")
    done_step = rollout.step("rolled back:")
    story.check(
        "the 5xx alarm fired during the canary's bake and the update rolled back",
        canary_step is not None and alarm_step is not None and done_step is not None and "5xx" in alarm_step.event,
        alarm_step.event if alarm_step else "no alarm step in the endpoint's timeline",
    )
    if canary_step is not None and done_step is not None:
        bake = rollout.served(canary_step.at, done_step.at)
        total, failed = sum(bake.values()), bake.get("failed", 0)
        share = max(
            (s for c, s in canary_step.shares.items() if "v2" in c or c == max(canary_step.shares)), default=0.5
        )
        story.check(
            "the requests that failed during the bake were the canary's share of them",
            0 < failed <= total * share * FAULT_RATE + 2,
            f"{failed} of {total} requests failed while the canary took {share:.0%} of traffic",
        )
        after = rollout.served(done_step.at, float("inf"))
        story.check(
            "no request failed after the rollback, and version 1 answered them",
            "failed" not in after and set(after) == {"v1"},
            str(after),
        )
        seconds = done_step.at - canary_step.at
        log(
            f"time to rollback: {seconds:.1f} s from the canary's first request to version 1 alone "
            f"({seconds * pipeline.time_scale:.0f} s at AWS's pace, time scaled {pipeline.time_scale:g}x)"
        )
    text = _notification(rollout.second, "rolled back")
    story.check(
        "the rollback notification names the alarm and the canary's figures",
        "fraud-detector-" in text and "5xx-rate" in text and "requests to the new fleet" in text,
        text.splitlines()[0] if text else "no rollback notification",
    )
    registry = versions(pipeline)
    rejected = registry.get(2, {})
    story.check(
        "version 2 is Rejected with the reason, so nothing redeploys it",
        rejected.get("ModelApprovalStatus") == "Rejected"
        and "rolled back by alarm" in rejected.get("ApprovalDescription", ""),
        str(rejected.get("ApprovalDescription", "")),
    )
    served = serving_version(pipeline, rollout.second)
    story.check("version 1 keeps serving", served == "1", f"a prediction reports model_version {served}")
    return story
