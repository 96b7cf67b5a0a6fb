"""SageMaker Processing jobs offline: created through the local AWS, run as the job's role, driven by status.

The container is ``tests.offline.fixtures.processing_container``, which follows the same
Processing contract as the product's evaluation code (``PROCESSING_DIR``, ``ERROR:`` lines).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from offline import moto_patches
from offline.run import processes
from offline.run.active import activate
from offline.run.faults import FaultPlan
from offline.run.local_aws import ACCESS_KEY, LocalAws, running_moto
from offline.services.iam import integrations
from offline.services.iam.enforcement import Iam
from offline.services.sagemaker_processing import ProcessingJobRunner
from tests.offline.services.iam.conftest import ACCOUNT, REGION, trust
from tests.offline.services_stub import bare_services

pytestmark = pytest.mark.slow

BUCKET = "data-bucket"
CONTAINER = ["python3", "-m", "tests.offline.fixtures.processing_container"]
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/training:abc"
REPOSITORY = f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/training"
JOBS = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/*"


@dataclass
class Local:
    aws: LocalAws
    runner: ProcessingJobRunner
    faults: FaultPlan
    key_arn: str
    workdir: Path

    def role(self, name: str, statements: list[dict[str, Any]], *, service: str = "sagemaker.amazonaws.com") -> str:
        client = self.aws.client("iam")
        arn = str(client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust(service)))["Role"]["Arn"])
        policy = {"Version": "2012-10-17", "Statement": statements}
        client.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(policy))
        return arn

    def job_role(self, *, read_inputs: bool = True) -> str:
        """What a processing job's role needs: the image, the inputs, the outputs and the bucket key."""
        statements: list[dict[str, Any]] = [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                "Resource": REPOSITORY,
            },
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{BUCKET}"},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/outputs/*"},
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": self.key_arn},
        ]
        if read_inputs:
            statements.append(
                {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/inputs/*"}
            )
        return self.role("reader" if read_inputs else "no-reads", statements)

    def describe(self, name: str) -> dict[str, Any]:
        return dict(self.aws.client("sagemaker").describe_processing_job(ProcessingJobName=name))

    def wait(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.describe(name)
            if job["ProcessingJobStatus"] not in ("InProgress", "Stopping") or time.monotonic() > deadline:
                return job
            time.sleep(0.1)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    """The local AWS with offline IAM, a processing runner, a KMS-encrypted bucket and inputs in it."""
    with running_moto(account=ACCOUNT, region=REGION) as aws:
        moto_patches.install()
        iam = Iam(account=ACCOUNT, region=REGION, endpoint_url=aws.endpoint_url, operator_key=ACCESS_KEY)
        faults = FaultPlan()
        runner = ProcessingJobRunner(aws=aws, workdir=tmp_path, faults=faults, iam=iam)
        activate(bare_services(iam=iam, faults=faults, processing=runner))
        try:
            key_arn = str(aws.client("kms").create_key()["KeyMetadata"]["Arn"])
            s3 = aws.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            s3.put_bucket_encryption(
                Bucket=BUCKET,
                ServerSideEncryptionConfiguration={
                    "Rules": [
                        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}}
                    ]
                },
            )
            for key, body in (
                ("inputs/test/a.csv", b"x,is_fraud\n1,0\n"),
                ("inputs/test/more/b.csv", b"x,is_fraud\n2,1\n"),
                ("inputs/model/model.tar.gz", b"not really a tarball"),
            ):
                s3.put_object(Bucket=BUCKET, Key=key, Body=body)
            yield Local(aws, runner, faults, key_arn, tmp_path)
        finally:
            runner.wait_idle(timeout=10)
            activate(None)
            processes.stop_all()


def job_request(name: str, role: str, mode: str, key_arn: str | None = None, **extra: Any) -> dict[str, Any]:
    output_config: dict[str, Any] = {
        "Outputs": [
            {
                "OutputName": "evaluation",
                "S3Output": {
                    "S3Uri": f"s3://{BUCKET}/outputs/{name}/",
                    "LocalPath": "/opt/ml/processing/output",
                    "S3UploadMode": "EndOfJob",
                },
            }
        ]
    }
    if key_arn:
        output_config["KmsKeyId"] = key_arn
    return {
        "ProcessingJobName": name,
        "RoleArn": role,
        "AppSpecification": {"ImageUri": IMAGE, "ContainerEntrypoint": CONTAINER, "ContainerArguments": [mode]},
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
        },
        "ProcessingInputs": [
            {
                "InputName": "test",
                "S3Input": {
                    "S3Uri": f"s3://{BUCKET}/inputs/test/",
                    "LocalPath": "/opt/ml/processing/input/test",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
            {
                "InputName": "challenger",
                "S3Input": {
                    "S3Uri": f"s3://{BUCKET}/inputs/model/model.tar.gz",
                    "LocalPath": "/opt/ml/processing/input/challenger",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            },
        ],
        "ProcessingOutputConfig": output_config,
        **extra,
    }


def create(local: Local, request: dict[str, Any]) -> dict[str, Any]:
    return dict(local.aws.client("sagemaker").create_processing_job(**request))


# --- the job -------------------------------------------------------------------------------


def test_a_job_downloads_its_inputs_runs_the_module_and_uploads_its_outputs_with_the_key(local: Local) -> None:
    # Given a job whose container copies its inputs to its output and echoes its environment
    role = local.job_role()
    request = job_request(
        "copy-job",
        role,
        "copy",
        local.key_arn,
        Environment={"RUN_ID": "run-1", "ECHO": "RUN_ID,PROCESSING_DIR,PYTHONPATH,AWS_ACCESS_KEY_ID"},
    )

    # When it is created and runs to the end
    create(local, request)
    job = local.wait("copy-job")

    # Then it completed, with the request's Environment and its start and end times
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["Environment"]["RUN_ID"] == "run-1"
    assert job["ProcessingStartTime"] <= job["ProcessingEndTime"]
    # ...every input landed under its LocalPath (a one-object prefix as that file) and went back up
    s3 = local.aws.client("s3")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="outputs/copy-job/")
    assert sorted(item["Key"] for item in listed["Contents"]) == [
        "outputs/copy-job/challenger/model.tar.gz",
        "outputs/copy-job/environment.json",
        "outputs/copy-job/test/a.csv",
        "outputs/copy-job/test/more/b.csv",
    ]
    copied = s3.get_object(Bucket=BUCKET, Key="outputs/copy-job/test/more/b.csv")
    assert copied["Body"].read() == b"x,is_fraud\n2,1\n"
    # ...encrypted with the output config's key
    assert copied["ServerSideEncryption"] == "aws:kms"
    assert copied["SSEKMSKeyId"] == local.key_arn
    # ...and the container saw PROCESSING_DIR, the repository on its path and the role's session
    environment = json.loads(s3.get_object(Bucket=BUCKET, Key="outputs/copy-job/environment.json")["Body"].read())
    job_dir = local.runner.job_dir("copy-job")
    assert environment["PROCESSING_DIR"] == str(job_dir / "opt" / "ml" / "processing")
    assert environment["RUN_ID"] == "run-1"
    assert Path(environment["PYTHONPATH"]) == Path(__file__).resolve().parents[3]
    assert environment["AWS_ACCESS_KEY_ID"] != ACCESS_KEY
    assert (job_dir / "processing.log").exists()


def test_a_container_that_exits_non_zero_fails_the_job_with_its_error_line(local: Local) -> None:
    create(local, job_request("failing-job", local.job_role(), "fail"))

    job = local.wait("failing-job")

    # Then the job failed with the container's ERROR line, not its last line
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: asked to fail"
    assert "ProcessingEndTime" in job
    # ...and nothing was uploaded
    assert "Contents" not in local.aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="outputs/failing-job/")


def test_without_an_error_line_the_reason_is_the_containers_last_line(local: Local) -> None:
    create(local, job_request("crashing-job", local.job_role(), "crash"))

    job = local.wait("crashing-job")

    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: something went wrong"


def test_a_fault_makes_the_test_input_arrive_empty_so_the_container_fails_on_its_own(local: Local) -> None:
    # Given --fail-at armed for the job
    local.faults.arm("processing", "faulty-job")

    create(local, job_request("faulty-job", local.job_role(), "fail"))
    job = local.wait("faulty-job")

    # Then the container found no test data and said so
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: the test data is empty"


def test_a_role_that_cannot_read_the_inputs_fails_the_job_naming_the_action(local: Local) -> None:
    create(local, job_request("refused-job", local.job_role(read_inputs=False), "copy"))

    job = local.wait("refused-job")

    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: Failed to download data for input test")
    assert f"s3:GetObject on resource: arn:aws:s3:::{BUCKET}/inputs/test/a.csv" in job["FailureReason"]


def test_a_role_that_cannot_pull_the_image_fails_the_job_naming_the_action(local: Local) -> None:
    role = local.role("no-ecr", [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}])
    create(local, job_request("no-image-job", role, "copy"))

    job = local.wait("no-image-job")

    assert job["ProcessingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: Cannot pull the processing image")
    assert "ecr:GetAuthorizationToken" in job["FailureReason"]


def test_an_entry_point_that_is_not_python_dash_m_fails_the_job_saying_why(local: Local) -> None:
    request = job_request("script-job", local.job_role(), "copy")
    request["AppSpecification"]["ContainerEntrypoint"] = ["python3", "/opt/program/evaluate.py"]

    create(local, request)
    job = local.wait("script-job")

    assert job["ProcessingJobStatus"] == "Failed"
    assert 'ContainerEntrypoint must be ["python3", "-m", "<module>", ...]' in job["FailureReason"]


def test_the_runtime_limit_stops_a_job_that_runs_too_long(local: Local) -> None:
    request = job_request("slow-job", local.job_role(), "sleep", StoppingCondition={"MaxRuntimeInSeconds": 1})

    create(local, request)
    # While the container runs, the job is InProgress
    assert local.describe("slow-job")["ProcessingJobStatus"] == "InProgress"
    job = local.wait("slow-job")

    assert job["ProcessingJobStatus"] == "Stopped"
    assert "MaxRuntimeInSeconds (1 s)" in job["FailureReason"]
    assert processes.running() == []


def test_stop_processing_job_stops_the_container(local: Local) -> None:
    create(local, job_request("stopped-job", local.job_role(), "sleep"))

    local.aws.client("sagemaker").stop_processing_job(ProcessingJobName="stopped-job")
    job = local.wait("stopped-job")

    assert job["ProcessingJobStatus"] == "Stopped"
    assert "ProcessingEndTime" in job
    local.runner.wait_idle(timeout=10)
    assert processes.running() == []


# --- what CreateProcessingJob refuses -------------------------------------------------------


def test_a_second_job_with_the_same_name_is_resource_in_use(local: Local) -> None:
    role = local.job_role()
    create(local, job_request("twice", role, "copy"))

    with pytest.raises(ClientError) as refused:
        create(local, job_request("twice", role, "copy"))

    assert refused.value.response["Error"]["Code"] == "ResourceInUse"
    assert "processing-job/twice" in refused.value.response["Error"]["Message"]


def test_a_container_path_outside_opt_ml_processing_is_rejected(local: Local) -> None:
    request = job_request("bad-path", local.job_role(), "copy")
    request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["LocalPath"] = "/tmp/out"

    with pytest.raises(ClientError) as refused:
        create(local, request)

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "must be an absolute path that begins with /opt/ml/processing/" in refused.value.response["Error"]["Message"]


def test_a_role_sagemaker_cannot_assume_is_rejected(local: Local) -> None:
    role = local.role(
        "lambda-only", [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}], service="lambda.amazonaws.com"
    )

    with pytest.raises(ClientError) as refused:
        create(local, job_request("untrusted", role, "copy"))

    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert "sagemaker.amazonaws.com" in refused.value.response["Error"]["Message"]


# --- through a state machine (createProcessingJob.sync) -------------------------------------


def run_state_machine(local: Local, request: dict[str, Any]) -> dict[str, Any]:
    """One execution of a one-state machine running ``request`` with createProcessingJob.sync."""
    states_role = local.role(
        "states",
        [
            {
                "Effect": "Allow",
                "Action": [
                    "sagemaker:CreateProcessingJob",
                    "sagemaker:DescribeProcessingJob",
                    "sagemaker:StopProcessingJob",
                    "sagemaker:AddTags",
                    "sagemaker:ListTags",
                ],
                "Resource": JOBS,
            },
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": request["RoleArn"],
                "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            },
        ],
        service="states.amazonaws.com",
    )
    definition = {
        "StartAt": "Evaluate",
        "States": {
            "Evaluate": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createProcessingJob.sync",
                "Parameters": request,
                "End": True,
            }
        },
    }
    sfn = local.aws.client("stepfunctions")
    machine = sfn.create_state_machine(name="evaluate", definition=json.dumps(definition), roleArn=states_role)
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    deadline = time.monotonic() + 60
    while True:
        described = dict(sfn.describe_execution(executionArn=execution))
        if described["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    history = sfn.get_execution_history(executionArn=execution)["events"]
    return {"execution": described, "history": history}


def test_a_sync_task_waits_for_the_job_and_returns_its_description(local: Local) -> None:
    result = run_state_machine(local, job_request("sync-job", local.job_role(), "copy", local.key_arn))

    execution = result["execution"]
    assert execution["status"] == "SUCCEEDED", result["history"][-1]
    output = json.loads(execution["output"])
    assert output["ProcessingJobName"] == "sync-job"
    assert output["ProcessingJobStatus"] == "Completed"
    # Step Functions marked the job it ran
    tags = local.aws.client("sagemaker").list_tags(ResourceArn=output["ProcessingJobArn"])["Tags"]
    assert {"Key": "MANAGED_BY_AWS", "Value": "STARTED_BY_STEP_FUNCTIONS"} in tags


def test_a_sync_task_fails_with_task_failed_and_the_job_description_when_the_job_fails(local: Local) -> None:
    result = run_state_machine(local, job_request("sync-failing", local.job_role(), "fail"))

    assert result["execution"]["status"] == "FAILED"
    (failed,) = [event for event in result["history"] if event["type"] == "TaskFailed"]
    details = failed["taskFailedEventDetails"]
    assert details["error"] == "States.TaskFailed"
    cause = json.loads(details["cause"])
    assert cause["ProcessingJobStatus"] == "Failed"
    assert cause["FailureReason"] == "AlgorithmError: asked to fail"


# --- what Step Functions needs of the state machine's role ----------------------------------


def test_a_sync_processing_job_makes_the_calls_aws_documents() -> None:
    rows = integrations.INTEGRATIONS["sagemaker:createProcessingJob.sync"]

    assert {row.action for row in rows} == {
        "sagemaker:CreateProcessingJob",
        "sagemaker:DescribeProcessingJob",
        "sagemaker:StopProcessingJob",
        "sagemaker:AddTags",
        "sagemaker:ListTags",
        "iam:PassRole",
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
    }
    (poll,) = integrations.calls("sagemaker:createProcessingJob.sync", "poll")
    resource = integrations.resource_of(poll, {"ProcessingJobName": "Eval-1"}, partition="aws", region="r", account="1")
    assert resource == "arn:aws:sagemaker:r:1:processing-job/eval-1"


def test_the_processing_jobs_managed_rule_is_needed_when_the_state_machine_is_created() -> None:
    deploy = integrations.calls("sagemaker:createProcessingJob.sync", "deploy")

    resources = {integrations.resource_of(r, {}, partition="aws", region="eu-west-1", account="1") for r in deploy}
    assert resources == {"arn:aws:events:eu-west-1:1:rule/StepFunctionsGetEventsForSageMakerProcessingJobsRule"}
