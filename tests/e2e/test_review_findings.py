"""The AWS review's findings, each run offline the way it would have hit a real account.

* 1: Step Functions tags the training job it starts, so the role needs ``sagemaker:AddTags``;
* 2: the build asks ECR whether its tag exists, skips an existing image, and stops (rather
  than pushing over an immutable tag) when it cannot tell;
* 4: an endpoint still busy from an earlier deploy is waited out, then updated;
* 5: a throttled FindEndpoint or CheckEndpoint is retried, not a failed run;
* 6: a job that emits no metric has no ``FinalMetricDataList``, and the run still succeeds.

(The Failed-endpoint recovery of finding 4 and the notifier fallback of finding 7 are in
``test_offline_run.py``; the alarm topic policy of finding 3 in ``test_alarm_actions.py``.)
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from offline.deploy.assembly import Assembly
from offline.run.progress import silent
from offline.run.session import LocalPipeline, RunResult
from tests.e2e.iam_mutations import find, observe, without_action

pytestmark = pytest.mark.slow

ROWS = 4000
BUILD = "TrainingImageBuildProjectRole"


def history(pipeline: LocalPipeline, execution_arn: str) -> list[dict[str, Any]]:
    sfn = pipeline.aws.client("stepfunctions")
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events += page["events"]
    return events


def entered(result: RunResult) -> set[str]:
    return {timing.state for timing in result.timings}


def test_without_add_tags_the_training_step_fails_naming_it(assembly: Assembly, workdir: Path) -> None:
    # The training job statement (the evaluation job has its own, with its own AddTags)
    statement = find(assembly, "retraining state machine role", "sagemaker:CreateTrainingJob")
    outcome = observe(without_action(assembly, statement, "sagemaker:AddTags"), workdir, scenario="run")
    assert outcome.where == "Train"
    assert outcome.message.startswith("SageMaker.AmazonSageMakerException")
    assert "is not authorized to perform: sagemaker:AddTags on resource: arn:aws:sagemaker:" in outcome.message


def test_without_describe_images_the_build_stops_instead_of_pushing(assembly: Assembly, workdir: Path) -> None:
    statement = find(assembly, BUILD, "ecr:DescribeImages")
    outcome = observe(without_action(assembly, statement, "ecr:DescribeImages"), workdir, scenario="run")
    assert outcome.where == "BuildTrainingImage"
    assert "could not look up" in outcome.message
    assert "ecr:DescribeImages" in outcome.named_actions()
    assert "docker push" not in outcome.message


class Busy:
    """One local AWS: a first run with its endpoint lookups throttled, then a run meeting a busy endpoint."""

    def __init__(
        self,
        first: RunResult,
        first_history: list[dict[str, Any]],
        deploy_history: list[dict[str, Any]],
        second: RunResult,
        rebuild: dict[str, Any],
        quiet_job: dict[str, Any],
    ) -> None:
        self.first = first
        self.first_history = first_history
        self.deploy_history = deploy_history
        self.second = second
        self.rebuild = rebuild
        self.quiet_job = quiet_job


@pytest.fixture(scope="module")
def busy(assembly: Assembly, tmp_path_factory: pytest.TempPathFactory) -> Busy:
    workdir = tmp_path_factory.mktemp("busy")
    with LocalPipeline(assembly, workdir=workdir, log=silent, max_wait_seconds=0.3) as pipeline:
        for state in ("FindEndpoint", "CheckEndpoint"):
            pipeline.faults.arm("throttle", state)
        first = pipeline.run(rows=ROWS, seed=21)
        first_history = history(pipeline, first.main.arn)
        (deployment,) = first.deployments
        deploy_history = history(pipeline, deployment.arn)
        rebuild = _rebuild_training_image(pipeline)
        quiet_job = _train_without_metric_definitions(pipeline, first_history)
        second = _run_while_updating(pipeline)
    return Busy(first, first_history, deploy_history, second, rebuild, quiet_job)


def _train_without_metric_definitions(pipeline: LocalPipeline, first_history: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's training job again, as SageMaker would run it with no MetricDefinitions."""
    (scheduled,) = [
        e
        for e in first_history
        if e["type"] == "TaskScheduled" and "createTrainingJob" in str(e["taskScheduledEventDetails"])
    ]
    parameters = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])
    parameters["TrainingJobName"] = "fraud-dev-quiet-job"
    parameters["AlgorithmSpecification"]["MetricDefinitions"] = []
    parameters.pop("Tags", None)
    sagemaker = pipeline.aws.client("sagemaker")
    sagemaker.create_training_job(**parameters)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = sagemaker.describe_training_job(TrainingJobName="fraud-dev-quiet-job")
        if job["TrainingJobStatus"] != "InProgress":
            return job
        time.sleep(0.2)
    raise TimeoutError("the training job did not finish")


def _rebuild_training_image(pipeline: LocalPipeline) -> dict[str, Any]:
    """Start the training image's build again, with the tag the first run pushed."""
    (project,) = [name for name in pipeline.codebuild._projects if "TrainingImageBuild" in name]
    build = pipeline.codebuild.start(project)
    deadline = time.monotonic() + 60
    while build["buildStatus"] == "IN_PROGRESS" and time.monotonic() < deadline:
        time.sleep(0.1)
    log = next((pipeline.workdir / "builds").glob(f"{build['id'].replace(':', '-')}/build.log")).read_text()
    return {"status": build["buildStatus"], "log": log}


def _run_while_updating(pipeline: LocalPipeline) -> RunResult:
    """Mark the live endpoint Updating (a deploy in progress) until the next run has waited once."""
    from moto.sagemaker.models import sagemaker_backends

    (endpoint,) = sagemaker_backends[pipeline.aws.account][pipeline.aws.region].endpoints.values()
    endpoint.endpoint_status = "Updating"
    sfn = pipeline.aws.client("stepfunctions")

    def waited_once() -> bool:
        for execution in sfn.list_executions(stateMachineArn=pipeline.deployment_machine.arn, statusFilter="RUNNING")[
            "executions"
        ]:
            if "WaitBeforeLookingAgain" in json.dumps(history(pipeline, execution["executionArn"]), default=str):
                return True
        return False

    def finish() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not waited_once():
            time.sleep(0.2)
        endpoint.endpoint_status = "InService"

    threading.Thread(target=finish, daemon=True).start()
    return pipeline.run(rows=ROWS, seed=22)


def test_a_throttled_lookup_is_retried_not_a_failed_run(busy: Busy) -> None:
    assert busy.first.main.status == "SUCCEEDED"
    throttled = [
        e["taskFailedEventDetails"]
        for e in busy.deploy_history
        if e["type"] == "TaskFailed" and "Rate exceeded" in str(e["taskFailedEventDetails"].get("cause"))
    ]
    # Both lookups were throttled once, reported as AWS names aws-sdk SageMaker errors, and retried
    assert [t["error"] for t in throttled] == ["SageMaker.SageMakerException"] * 2


def test_a_job_without_metrics_leaves_final_metric_data_list_out(busy: Busy) -> None:
    # Given the run's own job, which reported its metrics
    (succeeded,) = [e for e in busy.first_history if e["type"] == "TaskSucceeded" and "createTrainingJob" in str(e)]
    assert "FinalMetricDataList" in json.loads(succeeded["taskSucceededEventDetails"]["output"])
    # Then a completed job that captured no metric has no such field (what the ResultSelector must not select)
    assert busy.quiet_job["TrainingJobStatus"] == "Completed"
    assert "FinalMetricDataList" not in busy.quiet_job


def test_an_existing_image_is_not_built_or_pushed_again(busy: Busy) -> None:
    assert busy.rebuild["status"] == "SUCCEEDED"
    assert "already exists; nothing to build" in busy.rebuild["log"]


def test_a_busy_endpoint_is_waited_out_then_updated(busy: Busy) -> None:
    assert busy.second.main.status == "SUCCEEDED"
    assert {"WaitBeforeLookingAgain", "UpdateEndpoint"} <= entered(busy.second)
    assert "CreateEndpoint" not in entered(busy.second)
