"""SageMaker training jobs, run as local subprocesses laid out as SageMaker lays out a container.

moto records a training job as Completed the moment it is created. Offline mode keeps moto's
record (so ``aws sagemaker describe-training-job`` works from another shell) but drives its
status itself: InProgress while ``python -m training.train`` runs in ``<job>/`` with
``input/data/<channel>/`` downloaded from S3, ``input/config/hyperparameters.json`` and the
``SM_*`` variables of SageMaker's framework containers; then Completed (``model.tar.gz``
uploaded to ``<S3OutputPath>/<job>/output/``) or Failed with the ``failure`` file as
``FailureReason``. Metrics are captured from stdout with the job's own MetricDefinitions.

The job runs as SageMaker runs it: with a session of the job's ``RoleArn`` (assumed as
``sagemaker.amazonaws.com``), which must be allowed to pull the training image from ECR,
read the channels and write the output, KMS key included (SageMaker Developer Guide, "How
to use SageMaker AI execution roles": CreateTrainingJob API execution role permissions).
A refusal fails the job with a ``ClientError`` FailureReason that names the action.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from offline.deploy.assembly import REPO_ROOT
from offline.run import processes
from offline.run.faults import FaultPlan
from offline.run.local_aws import LocalAws
from offline.services.iam.authorizer import AccessDeniedError
from offline.services.iam.enforcement import Iam
from offline.services.iam.sessions import Credentials, RoleNotAssumableError
from offline.services.s3_objects import download

#: SageMaker keeps the first 1024 characters of a failure reason.
_MAX_REASON = 1024


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` → ``("bucket", "a/b")``."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


class JobClientError(RuntimeError):
    """The job failed because of its inputs or permissions (SageMaker's "ClientError")."""


def _message(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return f"{details.get('Code')}: {details.get('Message')}"


def require_image_pull(iam: Iam, credentials: Credentials, image: str, *, via: str) -> None:
    """What pulling an ECR image needs of the role (ECR User Guide, "Private repository policies")."""
    registry = image.split(".", 1)[0]
    if not registry.isdigit() or ".dkr.ecr." not in image:
        return
    repository = image.split("/", 1)[1].split(":", 1)[0].split("@", 1)[0]
    region = image.split(".dkr.ecr.", 1)[1].split(".", 1)[0]
    arn = f"arn:aws:ecr:{region}:{registry}:repository/{repository}"
    iam.require(credentials, "ecr:GetAuthorizationToken", "*", via=via)
    for action in ("ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"):
        iam.require(credentials, action, arn, via=via)


def capture_metrics(definitions: list[dict[str, str]], lines: list[str]) -> list[dict[str, Any]]:
    """The last value each MetricDefinition regex captured, as ``FinalMetricDataList``."""
    metrics: list[dict[str, Any]] = []
    for definition in definitions:
        pattern = re.compile(definition["Regex"])
        value: float | None = None
        for line in lines:
            for match in pattern.finditer(line):
                value = float(match.group(1))
        if value is not None:
            metrics.append({"MetricName": definition["Name"], "Value": value, "Timestamp": _now()})
    return metrics


class TrainingJobRunner:
    """Runs each created training job in a background thread and updates moto's record."""

    def __init__(
        self,
        *,
        aws: LocalAws,
        workdir: Path,
        faults: FaultPlan,
        log: Callable[[str], None] = print,
        iam: Iam | None = None,
    ) -> None:
        self._aws = aws
        self._iam = iam
        self._workdir = workdir / "training-jobs"
        self._faults = faults
        self._log = log
        self._threads: list[threading.Thread] = []
        self._exit_codes: dict[str, int] = {}

    def start(self, job: Any) -> None:
        """Begin running ``job`` (a moto ``FakeTrainingJob`` just created)."""
        job.training_job_status = "InProgress"
        job.secondary_status = "Starting"
        job.training_end_time = None
        # AWS leaves FinalMetricDataList out of DescribeTrainingJob until a metric is captured.
        job.final_metric_data_list = None
        job.secondary_status_transitions = []
        self._transition(job, "Starting", "Preparing the instances for training")
        thread = threading.Thread(target=self._run, args=(job,), name=f"training-{job.training_job_name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run(self, job: Any) -> None:
        try:
            self._run_job(job)
        except JobClientError as error:
            self._finish(job, "Failed", f"ClientError: {error}"[:_MAX_REASON])
        except Exception as error:
            self._finish(job, "Failed", f"InternalServerError: offline runner: {type(error).__name__}: {error}")

    def _run_job(self, job: Any) -> None:
        name = job.training_job_name
        root = self._workdir / name
        s3 = self._s3_as_role(job)
        self._transition(job, "Downloading", "Downloading input data")
        channels = self._download_channels(job, root, s3, fail=self._faults.take("training", name))
        self._write_config(job, root, channels)
        self._transition(job, "Training", "Training image download completed. Training in progress.")
        env = self._environment(job, root, channels)
        log_file = root / "training.log"
        lines = self._execute(job, env, log_file)
        metrics = capture_metrics(job.algorithm_specification.get("MetricDefinitions", []), lines)
        job.final_metric_data_list = metrics or None
        failure = root / "output" / "failure"
        if job.training_job_status == "Failed":
            return
        exit_code = self._exit_codes.pop(name, 1)
        if exit_code != 0 or failure.exists():
            reason = failure.read_text().strip() if failure.exists() else f"Exit Code: {exit_code}"
            self._finish(job, "Failed", f"AlgorithmError: {reason}"[:_MAX_REASON])
            return
        self._transition(job, "Uploading", "Uploading generated training model")
        self._upload_model(job, root, s3)
        self._finish(job, "Completed", None)

    def _s3_as_role(self, job: Any) -> Any:
        """The job's S3 client: a session of its role, after the image pull SageMaker does first."""
        if self._iam is None:
            return self._aws.client("s3")
        try:
            credentials = self._iam.assume(job.role_arn, service="sagemaker.amazonaws.com", source_arn=job.arn)
            image = str(job.algorithm_specification.get("TrainingImage", ""))
            require_image_pull(self._iam, credentials, image, via=f"training job {job.training_job_name}")
        except (AccessDeniedError, RoleNotAssumableError) as refused:
            raise JobClientError(f"Cannot pull the training image: {refused}") from None
        return self._iam.client("s3", credentials)

    def _download_channels(self, job: Any, root: Path, s3: Any, *, fail: bool) -> list[str]:
        names: list[str] = []
        for channel in job.input_data_config or []:
            name = channel["ChannelName"]
            names.append(name)
            target = root / "input" / "data" / name
            target.mkdir(parents=True, exist_ok=True)
            if fail and name == "train":
                # --fail-at: the channel arrives empty, so the real training code fails on its own.
                continue
            bucket, prefix = parse_s3_uri(channel["DataSource"]["S3DataSource"]["S3Uri"])
            try:
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                    for item in page.get("Contents", []):
                        relative = item["Key"][len(prefix) :].lstrip("/") or Path(item["Key"]).name
                        destination = target / relative
                        destination.parent.mkdir(parents=True, exist_ok=True)
                        download(s3, bucket, item["Key"], destination)
            except ClientError as error:
                raise JobClientError(
                    f"Data download failed for channel {name} ({bucket}/{prefix}): {_message(error)}"
                ) from None
        return names

    def _write_config(self, job: Any, root: Path, channels: list[str]) -> None:
        config = root / "input" / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "hyperparameters.json").write_text(json.dumps(job.hyper_parameters or {}))
        (config / "inputdataconfig.json").write_text(
            json.dumps({c["ChannelName"]: {"TrainingInputMode": "File"} for c in job.input_data_config or []})
        )
        (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
        for directory in ("model", "output/data"):
            (root / directory).mkdir(parents=True, exist_ok=True)

    def _environment(self, job: Any, root: Path, channels: list[str]) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("SM_")}
        env.update(
            {
                "PYTHONPATH": str(REPO_ROOT),
                "TRAINING_JOB_NAME": job.training_job_name,
                "TRAINING_JOB_ARN": job.arn,
                "SM_MODEL_DIR": str(root / "model"),
                "SM_OUTPUT_DIR": str(root / "output"),
                "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
                "SM_INPUT_DIR": str(root / "input"),
                "SM_INPUT_CONFIG_DIR": str(root / "input" / "config"),
                "SM_CHANNELS": json.dumps(channels),
                "SM_HPS": json.dumps(job.hyper_parameters or {}),
                "SM_CURRENT_HOST": "algo-1",
                "SM_HOSTS": json.dumps(["algo-1"]),
                "SM_NUM_CPUS": "1",
                "SM_NUM_GPUS": "0",
                **{f"SM_CHANNEL_{c.upper()}": str(root / "input" / "data" / c) for c in channels},
                **{f"SM_HP_{k.upper()}": str(v) for k, v in (job.hyper_parameters or {}).items()},
                **(getattr(job, "environment", None) or {}),
            }
        )
        return env

    def _execute(self, job: Any, env: dict[str, str], log_file: Path) -> list[str]:
        max_runtime = int((job.stopping_condition or {}).get("MaxRuntimeInSeconds", 86_400))
        process = processes.start([sys.executable, "-m", "training.train"], env=env, cwd=REPO_ROOT)
        timer = threading.Timer(max_runtime, self._stop_for_runtime, args=(job, process, max_runtime))
        timer.start()
        lines: list[str] = []
        try:
            lines = processes.read_output(process, log_file)
            self._exit_codes[job.training_job_name] = process.wait()
        finally:
            timer.cancel()
            processes.stop(process)
        return lines

    def _stop_for_runtime(self, job: Any, process: subprocess.Popen[bytes], seconds: int) -> None:
        self._finish(job, "Failed", f"ClientError: The training job exceeded MaxRuntimeInSeconds ({seconds} s).")
        processes.stop(process)

    def _upload_model(self, job: Any, root: Path, s3: Any) -> None:
        bucket, prefix = parse_s3_uri(job.output_data_config["S3OutputPath"].rstrip("/"))
        key_prefix = f"{prefix}/{job.training_job_name}/output".lstrip("/")
        kms_key = job.output_data_config.get("KmsKeyId")
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
        for archive_name, directory in (("model.tar.gz", root / "model"), ("output.tar.gz", root / "output" / "data")):
            archive = root / archive_name
            with tarfile.open(archive, "w:gz") as tar:
                for path in sorted(directory.rglob("*")):
                    tar.add(path, arcname=str(path.relative_to(directory)), recursive=False)
            try:
                s3.upload_file(str(archive), bucket, f"{key_prefix}/{archive_name}", ExtraArgs=extra)
            except ClientError as error:
                raise JobClientError(
                    f"Failed to upload {archive_name} to s3://{bucket}/{key_prefix}: {_message(error)}"
                ) from None
        job.model_artifacts = {"S3ModelArtifacts": f"s3://{bucket}/{key_prefix}/model.tar.gz"}

    def _transition(self, job: Any, status: str, message: str) -> None:
        now = _now()
        if job.secondary_status_transitions:
            job.secondary_status_transitions[-1]["EndTime"] = now
        job.secondary_status_transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
        job.secondary_status = status
        job.last_modified_time = now

    def _finish(self, job: Any, status: str, reason: str | None) -> None:
        if job.training_job_status in ("Completed", "Failed", "Stopped"):
            return
        self._transition(job, status, "Training job completed" if status == "Completed" else reason or status)
        job.secondary_status_transitions[-1]["EndTime"] = _now()
        if reason:
            job.failure_reason = reason
        job.training_end_time = _now()
        job.training_job_status = status

    def wait_idle(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
