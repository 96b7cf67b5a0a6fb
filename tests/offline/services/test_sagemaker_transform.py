"""Batch transform offline: the splitting, batching and assembling semantics, then whole jobs.

The first part drives ``offline.services.transform_records`` and ``transform_settings`` with a
fake container (no processes). The second creates transform jobs through the local AWS with
offline IAM on, run against a real ``python -m inference.serve`` in batch mode.
"""

from __future__ import annotations

import inspect
import io
import json
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.sagemaker.models import FakeTransformJob

from offline import moto_patches
from offline.run import processes
from offline.run.active import activate
from offline.run.faults import FaultPlan
from offline.run.local_aws import ACCESS_KEY, LocalAws, running_moto
from offline.services.iam import integrations
from offline.services.iam.enforcement import Iam
from offline.services.sagemaker_processing import UnsupportedJobError
from offline.services.sagemaker_transform import SEE_LOGS, TransformJobRunner
from offline.services.transform_records import (
    MB,
    InvocationError,
    Plan,
    RecordTooLargeError,
    TransformError,
    mini_batches,
    split_records,
    transform_file,
)
from offline.services.transform_settings import batch_environment, effective_plan
from tests.offline.services.iam.conftest import ACCOUNT, REGION, trust
from tests.offline.services_stub import bare_services
from training.feature_schema import FEATURE_NAMES, MODEL_FILE, MODEL_METADATA_FILE

# --- splitting and batching ------------------------------------------------------------------


def test_each_line_is_a_record_and_crlf_ends_a_line_like_lf() -> None:
    assert split_records(b"a,1\r\nb,2\nc,3") == [b"a,1", b"b,2", b"c,3"]
    assert split_records(b"a,1\n") == [b"a,1"]


def test_multi_record_batches_are_consecutive_and_each_body_fits_the_payload() -> None:
    # Given 100 records of 10 to 50 bytes and a 200-byte limit
    records = [b"x" * (10 + i % 41) for i in range(100)]

    ranges = mini_batches(records, max_payload_bytes=200, multi_record=True)

    # Then the ranges cover every record once, in order, and each body (records + newlines) fits
    assert [start for start, _ in ranges] == [0] + [end for _, end in ranges[:-1]]
    assert ranges[-1][1] == 100
    sizes = [sum(len(r) + 1 for r in records[start:end]) for start, end in ranges]
    assert max(sizes) <= 200
    # ...and a batch holds as many records as fit: the next record would not have
    assert all(size + len(records[end]) + 1 > 200 for size, (_, end) in zip(sizes, ranges[:-1], strict=False))


def test_single_record_sends_one_record_per_request() -> None:
    assert mini_batches([b"a", b"b", b"c"], max_payload_bytes=MB, multi_record=False) == [(0, 1), (1, 2), (2, 3)]


def test_a_record_larger_than_max_payload_fails_the_file_naming_it() -> None:
    with pytest.raises(RecordTooLargeError, match="record 2 is 301 bytes"):
        mini_batches([b"a", b"b" * 300], max_payload_bytes=200, multi_record=True)


# --- sending and assembling -------------------------------------------------------------------


def fake_container(delay_for: dict[bytes, float] | None = None) -> Any:
    """Answers each line with ``ok:<line>``; sleeps per first line; counts the requests in flight."""
    state = {"in_flight": 0, "most": 0}
    lock = threading.Lock()

    def invoke(body: bytes) -> bytes:
        with lock:
            state["in_flight"] += 1
            state["most"] = max(state["most"], state["in_flight"])
        lines = split_records(body)
        time.sleep((delay_for or {}).get(lines[0], 0.0))
        with lock:
            state["in_flight"] -= 1
        return b"".join(b"ok:" + line + b"\n" for line in lines)

    invoke.state = state  # type: ignore[attr-defined]
    return invoke


def test_answers_are_joined_to_their_input_lines_in_order_whatever_order_they_arrive() -> None:
    # Given 6 one-record batches (SingleRecord) where the first ones answer last, 3 at a time
    data = b"".join(f"r{i},{i}\n".encode() for i in range(6))
    invoke = fake_container({b"r0,0": 0.3, b"r1,1": 0.2, b"r2,2": 0.1})
    plan = Plan(multi_record=False, max_concurrent_transforms=3, join_input=True)

    output = transform_file(data, plan, invoke)

    # Then each output line is the input line, a comma and its answer, in input order
    assert output.decode().splitlines() == [f"r{i},{i},ok:r{i},{i}" for i in range(6)]
    # ...and at most MaxConcurrentTransforms requests were in flight, more than one at a time
    assert invoke.state["most"] == 3


def test_without_join_the_answers_are_assembled_one_per_line() -> None:
    output = transform_file(b"a\nb\n", Plan(join_input=False, assemble_lines=True), fake_container())

    assert output == b"ok:a\nok:b\n"


def test_a_container_error_on_a_mini_batch_fails_the_file() -> None:
    def refusing(body: bytes) -> bytes:
        raise InvocationError(400, b'{"error": "bad"}')

    with pytest.raises(InvocationError, match="ClientError: 400"):
        transform_file(b"a\nb\n", Plan(join_input=True), refusing)


def test_an_answer_with_the_wrong_number_of_lines_cannot_be_joined() -> None:
    with pytest.raises(TransformError, match="answered 1 lines for the 2 records 1-2"):
        transform_file(b"a\nb\n", Plan(join_input=True), lambda body: b"one\n")


# --- the job's settings -------------------------------------------------------------------------


def job_record(**overrides: Any) -> Any:
    """A transform job as moto records it, with the batch state machine's request."""
    fields: dict[str, Any] = {
        "max_concurrent_transforms": 2,
        "max_payload_in_mb": 6,
        "batch_strategy": "MultiRecord",
        "transform_input": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/in/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "transform_output": {"S3OutputPath": "s3://b/out/", "Accept": "text/csv", "AssembleWith": "Line"},
        "data_processing": {"JoinSource": "Input"},
    }
    return SimpleNamespace(**(fields | overrides))


def test_the_request_wins_then_the_container_then_the_defaults() -> None:
    container = {"MaxConcurrentTransforms": 4, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 3}

    asked = effective_plan(job_record(), container)
    unset = effective_plan(job_record(max_concurrent_transforms=0, max_payload_in_mb=None, batch_strategy=None), {})
    from_container = effective_plan(
        job_record(max_concurrent_transforms=None, max_payload_in_mb=None, batch_strategy=None), container
    )

    assert (asked.max_concurrent_transforms, asked.max_payload_mb, asked.multi_record) == (2, 6, True)
    assert (unset.max_concurrent_transforms, unset.max_payload_mb, unset.multi_record) == (1, 6, True)
    assert (from_container.max_concurrent_transforms, from_container.max_payload_mb) == (4, 3)
    assert not from_container.multi_record
    assert (asked.join_input, asked.split_lines, asked.assemble_lines) == (True, True, True)


def test_the_container_gets_only_the_batch_variables_the_request_set() -> None:
    assert batch_environment(job_record()) == {
        "SAGEMAKER_BATCH": "true",
        "SAGEMAKER_MAX_PAYLOAD_IN_MB": "6",
        "SAGEMAKER_BATCH_STRATEGY": "MULTI_RECORD",
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS": "2",
    }
    unset = job_record(max_concurrent_transforms=0, max_payload_in_mb=None, batch_strategy=None)
    assert batch_environment(unset) == {"SAGEMAKER_BATCH": "true"}


def test_what_offline_mode_does_not_emulate_is_refused_by_name() -> None:
    job = job_record(data_processing={"JoinSource": "Input", "InputFilter": "$[1:]"})

    with pytest.raises(UnsupportedJobError, match=r"DataProcessing.InputFilter \$\[1:\]"):
        effective_plan(job, {})


def test_moto_keeps_every_request_member_the_runner_reads() -> None:
    # Pins moto's FakeTransformJob: the runner reads these attributes and drives the status.
    assert {
        "transform_job_name",
        "model_name",
        "max_concurrent_transforms",
        "model_client_config",
        "max_payload_in_mb",
        "batch_strategy",
        "environment",
        "transform_input",
        "transform_output",
        "data_processing",
        "tags",
    } <= set(inspect.signature(FakeTransformJob.__init__).parameters)


def test_a_sync_transform_job_makes_the_calls_aws_documents() -> None:
    rows = integrations.INTEGRATIONS["sagemaker:createTransformJob.sync"]

    assert {row.action for row in rows} == {
        "sagemaker:CreateTransformJob",
        "sagemaker:DescribeTransformJob",
        "sagemaker:StopTransformJob",
        "sagemaker:AddTags",
        "sagemaker:ListTags",
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
    }
    deploy = integrations.calls("sagemaker:createTransformJob.sync", "deploy")
    resources = {integrations.resource_of(r, {}, partition="aws", region="r", account="1") for r in deploy}
    assert resources == {"arn:aws:events:r:1:rule/StepFunctionsGetEventsForSageMakerTransformJobsRule"}


# --- whole jobs, through the local AWS ----------------------------------------------------------

BUCKET = "data-bucket"
GOOD = "125.5,14,3.2,0,2,400,1,0.02"
OTHER = "900.0,3,250.0,1,9,20,1,0.3"


def model_archive() -> bytes:
    """A small model in the artifact layout training writes, as ``model.tar.gz``."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from training.onnx_export import to_onnx
    from training.synthetic import generate

    X, y = generate(2_000, seed=5)  # noqa: N806
    classifier = HistGradientBoostingClassifier(max_iter=10, max_depth=4, random_state=0).fit(X, y)
    model = io.BytesIO(to_onnx(classifier))
    metadata = json.dumps({"model_version": "7", "feature_names": list(FEATURE_NAMES), "threshold": 0.2}).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name, content in ((MODEL_FILE, model.getvalue()), (MODEL_METADATA_FILE, metadata)):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return archive.getvalue()


@dataclass
class Local:
    aws: LocalAws
    runner: TransformJobRunner
    faults: FaultPlan
    key_arn: str

    def model(self, name: str, *, list_input: bool = True) -> None:
        """A model whose execution role may read the model and the data, and write the output."""
        statements: list[dict[str, Any]] = [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/*"},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/batch/output/*"},
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": self.key_arn},
        ]
        if list_input:
            statements.append({"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"})
        iam = self.aws.client("iam")
        trust_policy = json.dumps(trust("sagemaker.amazonaws.com"))
        role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=trust_policy)["Role"]["Arn"]
        policy = json.dumps({"Version": "2012-10-17", "Statement": statements})
        iam.put_role_policy(RoleName=f"{name}-role", PolicyName="inline", PolicyDocument=policy)
        self.aws.client("sagemaker").create_model(
            ModelName=name,
            ExecutionRoleArn=role,
            PrimaryContainer={"Image": "inference:local", "ModelDataUrl": f"s3://{BUCKET}/models/model.tar.gz"},
        )

    def request(self, job: str, model: str) -> dict[str, Any]:
        """The batch state machine's CreateTransformJob request, with a 1 MB payload bound."""
        return {
            "TransformJobName": job,
            "ModelName": model,
            "MaxConcurrentTransforms": 2,
            "MaxPayloadInMB": 1,
            "BatchStrategy": "MultiRecord",
            "TransformInput": {
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/batch/incoming/b1/"}
                },
                "ContentType": "text/csv",
                "SplitType": "Line",
            },
            "TransformOutput": {
                "S3OutputPath": f"s3://{BUCKET}/batch/output/{job}/",
                "Accept": "text/csv",
                "AssembleWith": "Line",
                "KmsKeyId": self.key_arn,
            },
            "DataProcessing": {"JoinSource": "Input"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        }

    def transform(self, job: str, model: str) -> dict[str, Any]:
        """Create the transform job directly and wait for it to end."""
        sagemaker = self.aws.client("sagemaker")
        sagemaker.create_transform_job(**self.request(job, model))
        deadline = time.monotonic() + 60
        while True:
            described = dict(sagemaker.describe_transform_job(TransformJobName=job))
            if described["TransformJobStatus"] not in ("InProgress", "Stopping") or time.monotonic() > deadline:
                return described
            time.sleep(0.1)

    def transform_with_step_functions(self, job: str, model: str) -> dict[str, Any]:
        """Run the job as a one-state machine's ``createTransformJob.sync`` task; the execution's description."""
        iam = self.aws.client("iam")
        statement = {
            "Effect": "Allow",
            "Action": [f"sagemaker:{action}" for action in ("CreateTransformJob", "DescribeTransformJob", "AddTags")]
            + ["sagemaker:StopTransformJob", "sagemaker:ListTags"],
            "Resource": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:transform-job/*",
        }
        role = iam.create_role(RoleName="states", AssumeRolePolicyDocument=json.dumps(trust("states.amazonaws.com")))
        policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        iam.put_role_policy(RoleName="states", PolicyName="inline", PolicyDocument=policy)
        task = {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTransformJob.sync", "End": True}
        definition = {"StartAt": "Transform", "States": {"Transform": task | {"Parameters": self.request(job, model)}}}
        sfn = self.aws.client("stepfunctions")
        machine = sfn.create_state_machine(name="batch", definition=json.dumps(definition), roleArn=role["Role"]["Arn"])
        execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
        deadline = time.monotonic() + 60
        while True:
            described = dict(sfn.describe_execution(executionArn=execution))
            if described["status"] != "RUNNING" or time.monotonic() > deadline:
                return described
            time.sleep(0.2)


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    """The local AWS with offline IAM, a transform runner, a KMS-encrypted bucket, a model and a batch in it."""
    with running_moto(account=ACCOUNT, region=REGION) as aws:
        moto_patches.install()
        iam = Iam(account=ACCOUNT, region=REGION, endpoint_url=aws.endpoint_url, operator_key=ACCESS_KEY)
        faults = FaultPlan()
        backend = _backend()
        runner = TransformJobRunner(
            aws=aws,
            workdir=tmp_path_factory.mktemp("work"),
            faults=faults,
            iam=iam,
            describe_model=backend.describe_model,
        )
        services = bare_services(iam=iam, faults=faults)
        setattr(services, "transform", runner)  # noqa: B010 - Services gains the field when session wiring lands
        activate(services)
        try:
            key_arn = str(aws.client("kms").create_key()["KeyMetadata"]["Arn"])
            s3 = aws.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            rows = "".join(f"{GOOD if i % 2 else OTHER}\n" for i in range(40_000))
            for key, body in (
                ("models/model.tar.gz", model_archive()),
                ("batch/incoming/b1/a.csv", f"{','.join(FEATURE_NAMES)}\n{GOOD}\n1,2,3\n{OTHER}\n".encode()),
                ("batch/incoming/b1/big.csv", rows.encode()),
                ("batch/incoming/b1/_SUCCESS", b""),
            ):
                s3.put_object(Bucket=BUCKET, Key=key, Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=key_arn)
            yield Local(aws, runner, faults, key_arn)
        finally:
            runner.wait_idle(timeout=20)
            activate(None)
            processes.stop_all()


def _backend() -> Any:
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[ACCOUNT][REGION]


@pytest.mark.slow
def test_a_sync_task_joins_every_input_line_with_its_answer_and_skips_the_marker(local: Local) -> None:
    # Given a model, and a batch of two CSV files and their _SUCCESS marker
    local.model("model-ok")

    # When the batch state machine's transform task runs
    execution = local.transform_with_step_functions("job-ok", "model-ok")

    # Then the task waited for the job and returned its description
    assert execution["status"] == "SUCCEEDED", execution
    job = json.loads(execution["output"])
    assert (job["TransformJobName"], job["TransformJobStatus"]) == ("job-ok", "Completed")
    assert job["TransformStartTime"] <= job["TransformEndTime"]
    # ...every file got its .out with SSE-KMS under the output key, and the empty marker none
    s3 = local.aws.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="batch/output/job-ok/")
    assert sorted(item["Key"] for item in listed["Contents"]) == [
        "batch/output/job-ok/a.csv.out",
        "batch/output/job-ok/big.csv.out",
    ]
    small = s3.get_object(Bucket=BUCKET, Key="batch/output/job-ok/a.csv.out")
    assert (small["ServerSideEncryption"], small["SSEKMSKeyId"]) == ("aws:kms", local.key_arn)
    header, good, bad, other = small["Body"].read().decode().splitlines()
    assert header == f"{','.join(FEATURE_NAMES)},probability,label,error"
    assert good.startswith(f"{GOOD},0.")
    assert good.endswith(",")
    assert bad.startswith("1,2,3,,,line 3: expected 8 features")
    assert other.startswith(f"{OTHER},")
    # The 1.3 MB file went in several 1 MB mini-batches and came back whole, in order
    big = s3.get_object(Bucket=BUCKET, Key="batch/output/job-ok/big.csv.out")["Body"].read().decode().splitlines()
    assert len(big) == 40_000
    assert all(line.startswith(OTHER if i % 2 == 0 else GOOD) for i, line in enumerate(big))
    assert big[:2] == [other, good]
    log = (local.runner.job_dir("job-ok") / "data-log").read_text()
    assert "MaxConcurrentTransforms=2, MaxPayloadInMB=1, BatchStrategy=MULTI_RECORD" in log


@pytest.mark.slow
def test_a_container_that_answers_500_fails_the_job_and_writes_no_output(local: Local) -> None:
    # Given --fail-at on the transform: every invocation is answered 500, retries included
    local.model("model-faulty")
    local.faults.arm("transform", "job-faulty")

    job = local.transform("job-faulty", "model-faulty")

    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"] == SEE_LOGS
    listed = local.aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="batch/output/job-faulty/")
    assert "Contents" not in listed
    log = (local.runner.job_dir("job-faulty") / "data-log").read_text()
    assert f"[sagemaker logs]: {BUCKET}/batch/incoming/b1/a.csv: ClientError: 500" in log


@pytest.mark.slow
def test_the_job_runs_as_the_models_role_so_a_role_that_cannot_list_the_input_fails_it(local: Local) -> None:
    local.model("model-unlisted", list_input=False)

    job = local.transform("job-unlisted", "model-unlisted")

    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(f"ClientError: Failed to list the input s3://{BUCKET}/batch/incoming/b1/")
    assert f"s3:ListBucket on resource: arn:aws:s3:::{BUCKET}" in job["FailureReason"]
    assert "model-unlisted-role" in job["FailureReason"]


@pytest.mark.slow
def test_a_job_for_a_model_that_does_not_exist_is_refused(local: Local) -> None:
    with pytest.raises(ClientError) as refused:
        local.aws.client("sagemaker").create_transform_job(**local.request("job-nomodel", "no-such-model"))

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "model/no-such-model" in refused.value.response["Error"]["Message"]


@pytest.mark.slow
def test_more_than_100_mb_in_flight_is_refused(local: Local) -> None:
    local.model("model-greedy")
    request = local.request("job-greedy", "model-greedy") | {"MaxPayloadInMB": 60, "MaxConcurrentTransforms": 2}

    with pytest.raises(ClientError) as refused:
        local.aws.client("sagemaker").create_transform_job(**request)

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "must not exceed 100 MB" in refused.value.response["Error"]["Message"]


@pytest.mark.slow
def test_stop_transform_job_stops_a_job_in_progress(local: Local) -> None:
    local.model("model-stopped")
    sagemaker = local.aws.client("sagemaker")
    sagemaker.create_transform_job(**local.request("job-stopped", "model-stopped"))
    assert sagemaker.describe_transform_job(TransformJobName="job-stopped")["TransformJobStatus"] == "InProgress"

    sagemaker.stop_transform_job(TransformJobName="job-stopped")
    local.runner.wait_idle(timeout=30)

    job = sagemaker.describe_transform_job(TransformJobName="job-stopped")
    assert job["TransformJobStatus"] == "Stopped"
    assert "TransformEndTime" in job
    with pytest.raises(ClientError, match="has already ended"):
        sagemaker.stop_transform_job(TransformJobName="job-stopped")
