"""SageMaker Processing jobs, run as local subprocesses laid out as SageMaker lays out a processing container.

moto records a processing job as Completed the moment it is created, and drops its
``Environment``. Offline mode keeps moto's record (so ``aws sagemaker describe-processing-job``
works from another shell), keeps the request's ``Environment`` and ``ProcessingResources`` on
it, and drives its status itself: ``InProgress`` (with ``ProcessingStartTime``) while the
container runs, then ``Completed``, ``Failed`` with a ``FailureReason``, or ``Stopped``, with
``ProcessingEndTime`` (SageMaker API Reference, "CreateProcessingJob", "DescribeProcessingJob").

The container, as SageMaker runs it (SageMaker Developer Guide, "How Amazon SageMaker Processing
Runs Your Processing Container Image"): ``AppSpecification.ContainerEntrypoint`` followed by
``ContainerArguments``; the job completes when the command exits 0 and fails otherwise. With no
image to run, offline mode accepts one entry point shape, ``["python3", "-m", "<module>", ...]``,
and runs ``<this Python> -m <module> <arguments>`` from the repository (cwd and ``PYTHONPATH``),
the code the image copies; any other entry point fails the job saying so.

Inputs and outputs ("How Amazon SageMaker Processing Configures Input and Output For Your
Processing Container"; API Reference "ProcessingS3Input", "ProcessingS3Output"): every path in
the container is under ``/opt/ml/processing/``, mapped here to ``<job>/opt/ml/processing/``.
Before the container starts, each ``S3Input`` (``S3Prefix`` in ``File`` mode) is downloaded:
every object under the prefix, at its path relative to the prefix (a prefix naming one object,
e.g. ``.../model.tar.gz``, lands as that file). ``PROCESSING_DIR`` tells the container where
``/opt/ml/processing`` is (the evaluation code defaults to the real path). After it exits 0,
every regular file under each ``S3Output``'s local path is uploaded to ``<S3Uri>/<relative
path>`` (symlinks are not followed, as in AWS), with SSE-KMS under
``ProcessingOutputConfig.KmsKeyId`` when set. A non-zero exit fails the job with
``AlgorithmError: <reason>``, the reason being the container's last ``ERROR: <reason>`` line
(else its last line): AWS has no failure-file convention for Processing, so the product's
containers print that line.
``StoppingCondition.MaxRuntimeInSeconds`` stops the job (Stopped, with a FailureReason saying
so); StopProcessingJob makes it Stopping until its container is gone, then Stopped.

The job runs as SageMaker runs it: with a session of the job's ``RoleArn`` (assumed as
``sagemaker.amazonaws.com``), which must be allowed to pull ``AppSpecification.ImageUri`` from
ECR, list and read the inputs, and write the outputs, KMS key included (SageMaker Developer
Guide, "How to use SageMaker AI execution roles": CreateProcessingJob API execution role
permissions). A refusal fails the job with a ``ClientError`` FailureReason that names the
action. The container's own AWS calls are signed with that session too. Output goes to
``<workdir>/processing-jobs/<job>/processing.log``.
"""

from __future__ import annotations

import datetime
import os
import sys
import threading
import time
from pathlib import Path, PurePosixPath
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
from offline.services.sagemaker_training import JobClientError, parse_s3_uri, require_image_pull

#: Where SageMaker Processing mounts inputs and outputs in the container.
CONTAINER_ROOT = PurePosixPath("/opt/ml/processing")
#: SageMaker keeps the first 1024 characters of a failure reason.
_MAX_REASON = 1024
#: ProcessingStoppingCondition is optional; without it a job may run for a day.
_DEFAULT_MAX_RUNTIME = 86_400
_PYTHONS = {"python", "python3"}
_TERMINAL = {"Completed", "Failed", "Stopped"}
#: How the product's containers mark the line that explains a failure.
ERROR_MARKER = "ERROR:"


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def _message(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return f"{details.get('Code')}: {details.get('Message')}"


class UnsupportedJobError(RuntimeError):
    """The job asks for something offline mode cannot run (it would run in AWS)."""


def local_path_error(local_path: Any) -> str | None:
    """Why ``local_path`` is not a path SageMaker Processing accepts, or None."""
    path = str(local_path or "")
    if not path.startswith(f"{CONTAINER_ROOT}/") or ".." in PurePosixPath(path).parts:
        return f"LocalPath {path!r} must be an absolute path that begins with {CONTAINER_ROOT}/"
    return None


def request_errors(inputs: list[dict[str, Any]] | None, output_config: dict[str, Any] | None) -> list[str]:
    """What CreateProcessingJob rejects in the inputs and outputs (their container paths)."""
    errors: list[str] = []
    for item in inputs or []:
        if "S3Input" in item:
            error = local_path_error(item["S3Input"].get("LocalPath"))
            if error:
                errors.append(f"ProcessingInput {item.get('InputName')!r}: {error}")
    for item in (output_config or {}).get("Outputs", []):
        if "S3Output" in item:
            error = local_path_error(item["S3Output"].get("LocalPath"))
            if error:
                errors.append(f"ProcessingOutput {item.get('OutputName')!r}: {error}")
    return errors


def python_command(app_specification: dict[str, Any]) -> list[str]:
    """The local command for the container's entry point; raises UnsupportedJobError."""
    entrypoint = [str(part) for part in app_specification.get("ContainerEntrypoint") or []]
    arguments = [str(part) for part in app_specification.get("ContainerArguments") or []]
    if len(entrypoint) < 3 or PurePosixPath(entrypoint[0]).name not in _PYTHONS or entrypoint[1] != "-m":
        raise UnsupportedJobError(
            "offline mode runs a processing container's code without its image, so its "
            'AppSpecification.ContainerEntrypoint must be ["python3", "-m", "<module>", ...]; '
            f"got {entrypoint or 'none (the image ENTRYPOINT)'}"
        )
    return [sys.executable, "-m", *entrypoint[2:], *arguments]


def algorithm_error(lines: list[str], exit_code: int) -> str:
    """The FailureReason of a container that exited non-zero."""
    meaningful = [line.strip() for line in lines if line.strip()]
    marked = next((line for line in reversed(meaningful) if line.startswith(ERROR_MARKER)), None)
    if marked is not None:
        reason = marked[len(ERROR_MARKER) :].strip() or marked
    else:
        reason = meaningful[-1] if meaningful else f"the container exited with code {exit_code}"
    return f"AlgorithmError: {reason}"[:_MAX_REASON]


class ProcessingJobRunner:
    """Runs each created processing job in a background thread and updates moto's record."""

    def __init__(
        self,
        *,
        aws: LocalAws,
        workdir: Path,
        faults: FaultPlan,
        iam: Iam | None = None,
    ) -> None:
        self._aws = aws
        self._iam = iam
        self._workdir = workdir / "processing-jobs"
        self._faults = faults
        self._threads: list[threading.Thread] = []

    def job_dir(self, name: str) -> Path:
        """Where a job's container root, inputs, outputs and log are."""
        return self._workdir / name

    def start(self, job: Any) -> None:
        """Begin running ``job`` (a moto ``FakeProcessingJob`` just created)."""
        now = _now()
        job.processing_job_status = "InProgress"
        job.processing_start_time = now
        job.processing_end_time = None
        job.last_modified_time = now
        thread = threading.Thread(target=self._run, args=(job,), name=f"processing-{job.processing_job_name}")
        thread.daemon = True
        self._threads.append(thread)
        thread.start()

    def stop(self, job: Any) -> None:
        """StopProcessingJob: Stopping now; Stopped once the container is gone (or before it starts)."""
        if job.processing_job_status == "InProgress":
            job.processing_job_status = "Stopping"
            job.last_modified_time = _now()

    def _run(self, job: Any) -> None:
        try:
            self._run_job(job)
        except (JobClientError, UnsupportedJobError) as error:
            self._finish(job, "Failed", f"ClientError: {error}"[:_MAX_REASON])
        except Exception as error:
            self._finish(job, "Failed", f"InternalServerError: offline runner: {type(error).__name__}: {error}")

    def _run_job(self, job: Any) -> None:
        name = job.processing_job_name
        root = self.job_dir(name)
        container = root / "opt" / "ml" / "processing"
        container.mkdir(parents=True, exist_ok=True)
        command = python_command(job.app_specification or {})
        credentials, s3 = self._s3_as_role(job)
        self._download_inputs(job, container, s3, fail=self._faults.take("processing", name))
        for output in self._s3_outputs(job):
            self._mapped(container, output["LocalPath"]).mkdir(parents=True, exist_ok=True)
        env = self._environment(job, container, credentials)
        if job.processing_job_status == "Stopping":  # stopped before the container started
            self._finish(job, "Stopped", None)
            return
        exit_code, lines = self._execute(job, command, env, root / "processing.log")
        if job.processing_job_status in _TERMINAL:  # stopped while it ran
            return
        if exit_code != 0:
            self._finish(job, "Failed", algorithm_error(lines, exit_code))
            return
        self._upload_outputs(job, container, s3)
        self._finish(job, "Completed", None)

    def _s3_as_role(self, job: Any) -> tuple[Credentials | None, Any]:
        """The job's role session and S3 client, after the image pull SageMaker does first."""
        if self._iam is None:
            return None, self._aws.client("s3")
        try:
            credentials = self._iam.assume(job.role_arn, service="sagemaker.amazonaws.com", source_arn=job.arn)
            image = str((job.app_specification or {}).get("ImageUri", ""))
            require_image_pull(self._iam, credentials, image, via=f"processing job {job.processing_job_name}")
        except (AccessDeniedError, RoleNotAssumableError) as refused:
            raise JobClientError(f"Cannot pull the processing image: {refused}") from None
        return credentials, self._iam.client("s3", credentials)

    @staticmethod
    def _mapped(container: Path, local_path: str) -> Path:
        error = local_path_error(local_path)
        if error:
            raise JobClientError(error)
        return container.joinpath(*PurePosixPath(local_path).relative_to(CONTAINER_ROOT).parts)

    def _download_inputs(self, job: Any, container: Path, s3: Any, *, fail: bool) -> None:
        inputs = list(job.processing_inputs or [])
        for item in inputs:
            name = item.get("InputName")
            source = item.get("S3Input")
            if source is None:
                raise UnsupportedJobError(f"input {name!r}: offline mode downloads S3Input inputs only")
            if source.get("S3DataType", "S3Prefix") != "S3Prefix" or source.get("S3InputMode", "File") != "File":
                raise UnsupportedJobError(
                    f"input {name!r}: offline mode downloads S3Prefix inputs in File mode only "
                    f"(got {source.get('S3DataType')} in {source.get('S3InputMode')} mode)"
                )
            target = self._mapped(container, source["LocalPath"])
            target.mkdir(parents=True, exist_ok=True)
            if fail:
                # --fail-at: every input arrives empty, so the container's own code fails on them (an
                # empty input alone may be a finding, as no captured data is for the drift job).
                continue
            bucket, prefix = parse_s3_uri(source["S3Uri"])
            try:
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                    for entry in page.get("Contents", []):
                        key = entry["Key"]
                        if key.endswith("/"):  # a folder marker, not data
                            continue
                        relative = key[len(prefix) :].lstrip("/") or PurePosixPath(key).name
                        destination = target.joinpath(*PurePosixPath(relative).parts)
                        destination.parent.mkdir(parents=True, exist_ok=True)
                        download(s3, bucket, key, destination)
            except ClientError as error:
                raise JobClientError(
                    f"Failed to download data for input {name} (s3://{bucket}/{prefix}): {_message(error)}"
                ) from None

    @staticmethod
    def _s3_outputs(job: Any) -> list[dict[str, Any]]:
        outputs: list[dict[str, Any]] = []
        for item in (job.processing_output_config or {}).get("Outputs", []):
            if item.get("S3Output") is None:
                raise UnsupportedJobError(f"output {item.get('OutputName')!r}: offline mode uploads S3Output only")
            outputs.append(item["S3Output"])
        return outputs

    def _environment(self, job: Any, container: Path, credentials: Credentials | None) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("SM_")}
        env["PYTHONPATH"] = str(REPO_ROOT)
        if credentials is not None:
            # The container calls AWS as the job's role, as in SageMaker.
            env.update(credentials.environment())
        env.update({str(key): str(value) for key, value in (getattr(job, "environment", None) or {}).items()})
        env["PROCESSING_DIR"] = str(container)
        return env

    def _execute(self, job: Any, command: list[str], env: dict[str, str], log_file: Path) -> tuple[int, list[str]]:
        max_runtime = int((job.stopping_condition or {}).get("MaxRuntimeInSeconds", _DEFAULT_MAX_RUNTIME))
        process = processes.start(command, env=env, cwd=REPO_ROOT)
        watcher = threading.Thread(target=self._watch, args=(job, process, max_runtime), daemon=True)
        watcher.start()
        try:
            lines = processes.read_output(process, log_file)
            exit_code = process.wait()
        finally:
            processes.stop(process)
            watcher.join(timeout=5)
        return exit_code, lines

    def _watch(self, job: Any, process: Any, max_runtime: int) -> None:
        """Stop the container when the job is stopped (StopProcessingJob) or runs out of time."""
        deadline = time.monotonic() + max_runtime
        while process.poll() is None:
            if job.processing_job_status == "Stopping":
                processes.stop(process)
                self._finish(job, "Stopped", None)
                return
            if time.monotonic() >= deadline:
                processes.stop(process)
                self._finish(
                    job,
                    "Stopped",
                    f"The processing job exceeded MaxRuntimeInSeconds ({max_runtime} s) and was stopped.",
                )
                return
            time.sleep(0.1)

    def _upload_outputs(self, job: Any, container: Path, s3: Any) -> None:
        kms_key = (job.processing_output_config or {}).get("KmsKeyId")
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
        for output in self._s3_outputs(job):
            local = self._mapped(container, output["LocalPath"])
            bucket, prefix = parse_s3_uri(output["S3Uri"])
            prefix = prefix.rstrip("/")
            for path in sorted(local.rglob("*")):
                if path.is_symlink() or not path.is_file():
                    continue
                relative = path.relative_to(local).as_posix()
                key = f"{prefix}/{relative}" if prefix else relative
                try:
                    with path.open("rb") as body:
                        s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
                except ClientError as error:
                    raise JobClientError(
                        f"Failed to upload {relative} to s3://{bucket}/{key}: {_message(error)}"
                    ) from None

    def _finish(self, job: Any, status: str, reason: str | None) -> None:
        if job.processing_job_status in _TERMINAL:
            return
        now = _now()
        if reason:
            job.failure_reason = reason
        job.processing_end_time = now
        job.last_modified_time = now
        job.processing_job_status = status

    def wait_idle(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
