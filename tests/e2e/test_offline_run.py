"""``python -m offline run`` end to end: the synthesized app on a local AWS.

The happy path uploads one dataset, then two back to back, against one local AWS: the
second of those lands while the first trains, waits in line, and is trained next; both skip
the image builds and update the endpoint in place while requests keep flowing. Every
failable Task state of the synthesized definition is then made to fail, each on a fresh
local AWS.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from offline.deploy.assembly import Assembly, SynthError
from offline.run import processes
from offline.run.faults import UnknownStateError, failable_states
from offline.run.progress import silent
from offline.run.session import ExecutionResult, LocalPipeline, RunResult
from tests.e2e.conftest import state_machine_definition, synthesized_app

pytestmark = pytest.mark.slow

ROWS = 4000


#: States a run meets only while recovering from a broken endpoint; ``test_recovery`` fails them.
RECOVERY_STATES = {"DeleteFailedEndpoint"}
#: States whose failure does not fail the run (the model already serves); tests/e2e/test_version_cleanup.py.
NON_FATAL_STATES = {"CleanUpOldVersions"}
#: States a second run meets only when the endpoint's instance type changes (scaling is deregistered first).
INSTANCE_TYPE_CHANGE_STATES = {"FindScaling", "DeregisterScaling"}
#: States a second run meets only when SageMaker rolls its update back (its new fleet never becomes healthy).
ROLLBACK_STATES = {"ExplainRollback", "NotifyRolledBack"}
#: The drift and batch state machines' states: tests/e2e/test_loop_faults.py fails each on one shared pipeline.
LOOP_STATES = frozenset(
    {
        "PrepareDrift",
        "DriftJob",
        "DecideDrift",
        "NotifyDrift",
        "PrepareBatch",
        "FindBatchVersion",
        "DescribeBatchVersion",
        "CreateBatchModel",
        "Transform",
        "SummarizeBatch",
        "NotifyBatch",
        "DeleteBatchModel",
        "DeleteBatchModelAfterFailure",
    }
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "failing_state" in metafunc.fixturenames:
        try:
            states = failable_states(state_machine_definition(synthesized_app()))
        except SynthError:
            # Reported by the test itself (the fixture synthesizes again), not as a collection error.
            states = ["<synth failed>"]
        metafunc.parametrize(
            "failing_state",
            [s for s in states if s not in RECOVERY_STATES | NON_FATAL_STATES | LOOP_STATES],
        )


def entered(result: RunResult) -> set[str]:
    return {timing.state for timing in result.timings}


class HappyPath:
    def __init__(self, first: RunResult, second: RunResult, prediction: Any, leftovers: list[Any]) -> None:
        self.first = first
        self.second = second
        self.prediction = prediction
        self.leftovers = leftovers


@pytest.fixture(scope="module")
def happy(tmp_path_factory: pytest.TempPathFactory) -> HappyPath:
    assembly = synthesized_app()
    workdir = tmp_path_factory.mktemp("happy")
    with LocalPipeline(assembly, workdir=workdir, log=silent) as pipeline:
        first = pipeline.run(rows=ROWS, seed=5)
        prediction = pipeline.predict(workdir / "datasets" / first.dataset / "test.csv")
        second = pipeline.run(rows=ROWS, seed=6, probe=True, datasets=2)
    return HappyPath(first, second, prediction, processes.running())


def test_the_first_run_registers_an_approved_version_that_deploys(happy: HappyPath):
    assert happy.first.main.status == "SUCCEEDED"
    subjects = [n.subject for n in happy.first.notifications]
    assert "[FraudPipeline dev] version 1 approved" in subjects
    assert "[FraudPipeline dev] version 1 deployed to fraud-detector-dev" in subjects
    assert [d.status for d in happy.first.deployments] == ["SUCCEEDED"]


def test_a_dataset_starts_one_execution_when_its_marker_lands(happy: HappyPath):
    # Given train, validation and then the marker uploaded
    # Then only the marker started an execution, and nothing failed on the way
    (execution,) = happy.first.executions
    assert execution.object_key == f"incoming/{happy.first.dataset}/_SUCCESS"
    assert not [n for n in happy.first.notifications if "FAILED" in n.subject]


def test_a_dataset_landing_during_a_run_waits_in_line_and_is_trained_next(happy: HappyPath):
    # Given two datasets completed back to back
    first, second = happy.second.executions
    assert [e.object_key for e in happy.second.executions] == [
        f"incoming/{name}/_SUCCESS" for name in happy.second.datasets
    ]
    # Then the second waited for the first, and both trained and deployed
    assert first.queued_behind is None
    assert second.queued_behind == first.arn.rsplit(":", 1)[-1]
    assert (first.status, second.status) == ("SUCCEEDED", "SUCCEEDED")
    subjects = [n.subject for n in happy.second.notifications]
    assert sum(" deployed to " in subject for subject in subjects) == 2
    # And the wait was announced once, naming the dataset it will train on
    (queued,) = [n for n in happy.second.notifications if " queued behind " in n.subject]
    assert f"incoming/{happy.second.datasets[1]}/ (checked complete)" in queued.message


def test_the_first_run_builds_both_images_and_creates_the_endpoint(happy: HappyPath):
    assert {"BuildTrainingImage", "BuildInferenceImage", "CreateEndpoint"} <= entered(happy.first)


def test_a_prediction_goes_through_the_local_api(happy: HappyPath):
    assert happy.prediction.status == 200
    answer = json.loads(happy.prediction.body)
    # The answer names the registry version serving
    assert answer["model_version"] == "1"
    assert answer["predictions"][0]["label"] in (0, 1)
    assert 0.0 <= answer["predictions"][0]["probability"] <= 1.0


def test_the_second_run_skips_both_builds_and_updates_the_endpoint(happy: HappyPath):
    states = entered(happy.second)
    assert happy.second.main.status == "SUCCEEDED"
    assert "UpdateEndpoint" in states
    assert not {"BuildTrainingImage", "BuildInferenceImage", "CreateEndpoint"} & states


def test_requests_during_the_update_all_succeed(happy: HappyPath):
    assert happy.second.probe is not None
    assert happy.second.probe.sent > 0
    assert happy.second.probe.failed == 0, happy.second.probe.errors[:3]


def test_no_process_outlives_the_local_aws(happy: HappyPath):
    assert happy.leftovers == []


def expected_names(definition: dict[str, Any], state: str) -> set[str]:
    """Names a failure notification may give for a fault at ``state``.

    A state inside a Parallel fails its Parallel; an endpoint that goes to Failed is noticed
    by the polling states, as in AWS (CreateEndpoint/UpdateEndpoint themselves succeed).
    """
    names = {state}
    for name, top in definition["States"].items():
        for branch in top.get("Branches", []):
            if state in branch["States"]:
                names.add(name)
    resource = str(_find(definition, state).get("Resource", ""))
    if resource.endswith(("createEndpoint", "updateEndpoint")):
        names |= {"CheckEndpoint", "VerifyLiveConfig"}
    return names


def _find(definition: dict[str, Any], state: str) -> dict[str, Any]:
    if state in definition["States"]:
        return dict(definition["States"][state])
    for top in definition["States"].values():
        for branch in top.get("Branches", []):
            if state in branch["States"]:
                return dict(branch["States"][state])
    raise KeyError(state)


def _output(pipeline: LocalPipeline, key: str) -> str:
    values = {str(o.value) for outputs in pipeline.deployment.outputs.values() for o in outputs if o.key == key}
    (value,) = values  # several stacks may output the same value (EndpointName)
    return value


def _change_the_endpoint_instance_type(pipeline: LocalPipeline) -> None:
    """What an operator does between runs: another instance type in the run settings (SSM)."""
    ssm = pipeline.aws.client("ssm")
    name = _output(pipeline, "RunSettingsParameter")
    settings = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    settings["endpoint_instance_type"] = "ml.m5.xlarge"
    ssm.put_parameter(Name=name, Value=json.dumps(settings), Overwrite=True)


class Lines:
    """A ``Log`` that keeps what a user would have read."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str, at: Any = None) -> None:
        self.lines += text.splitlines()


STACK_TRACE_MARKS = ("stackTrace", "Traceback (most recent call last)", 'File "/')


def test_a_fault_fails_the_run_with_a_notification_naming_the_state(
    assembly: Assembly, definition: dict[str, Any], workdir: Path, failing_state: str
):
    # Given a local AWS where the state fails the way AWS would
    log = Lines()
    with LocalPipeline(assembly, workdir=workdir, fail_at=failing_state, log=log) as pipeline:
        # When a dataset arrives (a state only met on a redeploy, such as UpdateEndpoint,
        # needs a first successful run)
        result = pipeline.run(rows=ROWS, seed=3)
        if result.succeeded and failing_state == "NotifySkipped":
            # Only a rejection of the live version with nothing to roll back to says "skipped"
            result = _reject_the_live_version(pipeline, result)
        elif result.succeeded and failing_state not in entered(result):
            if failing_state in INSTANCE_TYPE_CHANGE_STATES:
                _change_the_endpoint_instance_type(pipeline)
            if failing_state in ROLLBACK_STATES:
                pipeline.faults.arm("endpoint", _output(pipeline, "EndpointName"))
            result = pipeline.run(rows=ROWS, seed=4)

    # Then the run ends FAILED, SNS carried an error naming the state, and nothing is left running
    assert result.failed
    assert all(e.status == "FAILED" for e in result.failed)
    failures = [n for n in result.notifications if "FAILED at" in n.subject]
    assert failures, [n.subject for n in result.notifications]
    named = {n.subject.split("FAILED at ", 1)[1].split(":", 1)[0] for n in failures}
    assert named & expected_names(definition, failing_state)
    assert processes.running() == []
    # And no notification carries a stack trace
    for note in result.notifications:
        assert not [mark for mark in STACK_TRACE_MARKS if mark in note.message], note.message
    # And the progress was compact, a failed state's line giving its reason rather than a JSON document
    assert not [line for line in log.lines if line.endswith(("(Choice)", "(Pass)", "(Wait)"))]
    for line in (line for line in log.lines if " ✗ " in line):
        assert '{"' not in line, line


def _reject_the_live_version(pipeline: LocalPipeline, run: RunResult) -> RunResult:
    """Reject version 1 (live, and the only one): the deployment that follows has nothing to deploy."""
    first_delivery = len(pipeline.bridge.deliveries)
    first_notification = len(pipeline.progress.notifications)
    arn = f"arn:aws:sagemaker:{pipeline.aws.region}:{pipeline.aws.account}:model-package/fraud-dev-models/1"
    pipeline.aws.client("sagemaker").update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
    pipeline.wait_until_settled(first_delivery)
    deliveries = pipeline.bridge.deliveries[first_delivery:]
    return dataclasses.replace(
        run,
        deployments=[
            ExecutionResult(d.execution_arn, pipeline.progress.status(d.execution_arn), d.object_key)
            for d in deliveries
        ],
        notifications=pipeline.progress.notifications[first_notification:],
    )


class Recovery:
    def __init__(self, runs: list[RunResult], prediction: Any) -> None:
        self.runs = runs
        self.prediction = prediction


@pytest.fixture(scope="module")
def recovery(tmp_path_factory: pytest.TempPathFactory) -> Recovery:
    """Run 1 leaves a Failed endpoint; run 2 fails to delete it; run 3 recovers."""
    assembly = synthesized_app()
    definition = state_machine_definition(assembly)
    workdir = tmp_path_factory.mktemp("recovery")
    with LocalPipeline(assembly, workdir=workdir, fail_at="CreateEndpoint", log=silent) as pipeline:
        runs = [pipeline.run(rows=ROWS, seed=5)]
        pipeline.faults.retarget("DeleteFailedEndpoint", definition)
        runs.append(pipeline.run(rows=ROWS, seed=6))
        pipeline.faults.disarm()
        runs.append(pipeline.run(rows=ROWS, seed=7))
        prediction = pipeline.predict(workdir / "datasets" / runs[-1].dataset / "test.csv")
    return Recovery(runs, prediction)


def test_an_endpoint_that_failed_to_create_leaves_the_run_failed(recovery: Recovery):
    first = recovery.runs[0]
    assert [e.status for e in first.failed] == ["FAILED"]
    assert any("FAILED at CheckEndpoint" in n.subject for n in first.notifications)


def test_a_failed_endpoint_is_deleted_before_it_is_recreated(recovery: Recovery):
    # Given the endpoint is Failed, SageMaker allows only DeleteEndpoint on it
    second = recovery.runs[1]
    assert {"DescribeExistingEndpoint", "DeleteFailedEndpoint"} <= entered(second)
    assert "UpdateEndpoint" not in entered(second)
    # When deleting fails, the run says so
    assert [e.status for e in second.failed] == ["FAILED"]
    assert any("FAILED at DeleteFailedEndpoint" in n.subject for n in second.notifications)


def test_the_next_run_recovers_and_serves(recovery: Recovery):
    third = recovery.runs[2]
    assert third.succeeded
    assert {"DeleteFailedEndpoint", "CreateEndpoint"} <= entered(third)
    assert recovery.prediction.status == 200


def test_when_the_notifier_fails_the_fallback_names_the_state_that_failed_first(assembly: Assembly, workdir: Path):
    # Given the notify Lambda fails (which only happens after another failure: Initiate's here)
    log = Lines()
    with LocalPipeline(assembly, workdir=workdir, fail_at="NotifyFailure", log=log, verbose=True) as pipeline:
        assert pipeline.faults.also_failing == "Initiate"
        result = pipeline.run(rows=ROWS, seed=8)
    # Then the plain fallback still reaches people, naming Initiate and its error, and the run fails
    assert result.failed
    assert all(e.status == "FAILED" for e in result.failed)
    (fallback, *_) = [n for n in result.notifications if "plain fallback" in n.message]
    assert fallback.subject == "[FraudPipeline dev] FAILED at Initiate"
    assert "failed at Initiate with InjectedFaultError" in fallback.message
    assert "Traceback" not in fallback.message
    assert "stackTrace" not in fallback.message
    assert processes.running() == []
    # And with verbose, the Pass and Choice states of the error path are shown too
    assert [line for line in log.lines if line.endswith("→ InitiateFailed (Pass)")]


def test_an_unknown_fail_at_state_lists_the_valid_ones(assembly: Assembly, workdir: Path):
    with (
        pytest.raises(UnknownStateError, match=r"choose one of: Initiate, .*Train"),
        LocalPipeline(assembly, workdir=workdir, fail_at="NoSuchState", log=silent),
    ):
        pass
    assert processes.running() == []


def sagemaker_role(pipeline: LocalPipeline) -> str:
    """A role SageMaker may assume, as the app's execution role is."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = pipeline.aws.client("iam").create_role(RoleName="test-sagemaker", AssumeRolePolicyDocument=json.dumps(trust))
    return str(role["Role"]["Arn"])


def test_sagemaker_rejects_what_aws_rejects(assembly: Assembly, workdir: Path):
    with LocalPipeline(assembly, workdir=workdir, log=silent) as pipeline:
        sagemaker = pipeline.aws.client("sagemaker")
        role = sagemaker_role(pipeline)
        container = {"Image": "image", "ModelDataUrl": "s3://bucket/model.tar.gz"}
        variants = [
            {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.t2.medium", "InitialInstanceCount": 1}
        ]
        sagemaker.create_model(ModelName="m", ExecutionRoleArn=role, PrimaryContainer=container)
        sagemaker.create_endpoint_config(EndpointConfigName="c", ProductionVariants=variants)

        # A missing endpoint, and a second model or endpoint config of the same name, are errors
        with pytest.raises(ClientError, match="Could not find endpoint"):
            sagemaker.describe_endpoint(EndpointName="missing")
        with pytest.raises(ClientError, match="Cannot create already existing model"):
            sagemaker.create_model(ModelName="m", ExecutionRoleArn=role, PrimaryContainer=container)
        with pytest.raises(ClientError, match="Cannot create already existing endpoint configuration"):
            sagemaker.create_endpoint_config(EndpointConfigName="c", ProductionVariants=variants)
        with pytest.raises(ClientError, match="Could not find endpoint"):
            sagemaker.update_endpoint(EndpointName="missing", EndpointConfigName="c")
        # And SageMaker refuses a role it cannot assume
        with pytest.raises(ClientError, match="Could not assume role"):
            sagemaker.create_model(
                ModelName="m2", ExecutionRoleArn="arn:aws:iam::123456789012:role/missing", PrimaryContainer=container
            )


def test_a_second_training_job_of_the_same_name_is_resource_in_use(assembly: Assembly, workdir: Path):
    with LocalPipeline(assembly, workdir=workdir, log=silent) as pipeline:
        sagemaker = pipeline.aws.client("sagemaker")
        job: dict[str, Any] = {
            "TrainingJobName": "job",
            "AlgorithmSpecification": {"TrainingImage": "image", "TrainingInputMode": "File"},
            "RoleArn": sagemaker_role(pipeline),
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://nowhere/train/"}},
                }
            ],
            "OutputDataConfig": {"S3OutputPath": "s3://nowhere/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60},
        }
        sagemaker.create_training_job(**job)

        with pytest.raises(ClientError) as raised:
            sagemaker.create_training_job(**job)
        assert raised.value.response["Error"]["Code"] == "ResourceInUse"


def test_a_marker_on_an_incomplete_dataset_fails_once_with_one_clear_notification(assembly: Assembly, workdir: Path):
    # Given a dataset whose validation files were never uploaded, marked complete anyway
    with LocalPipeline(assembly, workdir=workdir, log=silent) as pipeline:
        files = pipeline.generate_dataset("half", rows=ROWS, seed=9)
        bucket, prefix, marker = pipeline.data_location()
        s3 = pipeline.aws.client("s3")
        s3.upload_file(str(files / "train.csv"), bucket, f"{prefix}half/train/train.csv")
        s3.put_object(Bucket=bucket, Key=f"{prefix}half/{marker}", Body=b"")
        # When the marker's run goes
        deadline = time.monotonic() + 30
        started = pipeline.follow_new_executions()
        while not started and time.monotonic() < deadline:
            time.sleep(0.1)
            started = pipeline.follow_new_executions()
        pipeline.wait_until_done()
        statuses = [pipeline.progress.status(arn) for arn in started]
        notifications = list(pipeline.progress.notifications)
    # Then one execution failed at Initiate, and one notification says what to upload, without a trace
    assert statuses == ["FAILED"]
    (note,) = notifications
    assert note.subject == "[FraudPipeline dev] FAILED at Initiate: DatasetError"
    assert f"Reason:  dataset s3://{bucket}/{prefix}half/ is marked complete but has no objects under" in note.message
    assert f"s3://{bucket}/{prefix}half/validation/" in note.message
    assert not [mark for mark in STACK_TRACE_MARKS if mark in note.message], note.message
