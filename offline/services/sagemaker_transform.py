"""SageMaker batch transform jobs, run against a local model server process.

moto records a transform job as Completed the moment it is created. Offline mode keeps moto's
record (so ``aws sagemaker describe-transform-job`` works from another shell) and drives its
status itself: ``InProgress`` (with ``TransformStartTime``) while the job runs, then
``Completed``, ``Failed`` with a ``FailureReason``, or ``Stopped`` (StopTransformJob), with
``TransformEndTime`` (SageMaker API Reference, "CreateTransformJob", "DescribeTransformJob").

What the job does, as SageMaker documents it (Developer Guide, "Use Your Own Inference Code
with Batch Transform" and "Use batch transform to get inferences from large datasets"):

1. it runs as the model's ``ExecutionRoleArn`` (assumed as ``sagemaker.amazonaws.com``), which
   must be allowed to pull the image, read the model data, list and read the input and write the
   output, KMS keys included ("How to use SageMaker AI execution roles": CreateTransformJob API
   execution role permissions). The model's container comes from its model package when it
   names one (``offline.services.model_servers.model_container``);
2. it starts the model server (``python -m inference.serve``, as ``docker run <image> serve``)
   with the model's and the job's ``Environment``, ``SAGEMAKER_BATCH=true`` and, when the request
   sets them, ``SAGEMAKER_MAX_PAYLOAD_IN_MB``, ``SAGEMAKER_BATCH_STRATEGY`` and
   ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS``; waits for ``/ping``; asks ``GET /execution-parameters``
   for what the request left unset (precedence: the request, then the container, then the
   defaults 1, MultiRecord, 6 MB: ``offline.services.transform_settings``; the HTTP calls are
   ``offline.services.transform_container``'s);
3. it transforms every object under the ``S3Prefix`` that holds data (an empty object, such as
   a ``_SUCCESS`` marker, yields no records and no output), splitting, batching and assembling as
   ``offline.services.transform_records`` describes, and writes ``<S3OutputPath>/<path under the
   prefix>.out`` with SSE-KMS under ``TransformOutput.KmsKeyId``;
4. a file that cannot be transformed (a record over MaxPayloadInMB, an answer other than 200
   after ``ModelClientConfig.InvocationsMaxRetries`` retries of a 5xx, default 3) gets no output
   file; the others still do; the job then ends ``Failed`` with ``ClientError: See job logs for
   more details.`` and the reasons in the data log (``<workdir>/transform-jobs/<job>/data-log``,
   lines shaped as SageMaker's ``/aws/sagemaker/TransformJobs`` data log). A refused S3 or KMS
   call, or a container that never answers ``/ping``, fails the job at once with a
   ``ClientError`` that names it (offline mode's wording).

``--fail-at`` on the transform state starts the model server with every invocation answered 500
(``INFERENCE_FAULT_5XX_RATE=1``), so the job fails as above.
"""

from __future__ import annotations

import datetime
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
from offline.run.local_aws import LocalAws, free_port
from offline.services.iam.authorizer import AccessDeniedError
from offline.services.iam.enforcement import Iam
from offline.services.iam.sessions import RoleNotAssumableError
from offline.services.model_servers import (
    FAULT_RATE_VARIABLE,
    DeployError,
    LiveProcess,
    model_container,
    server_environment,
    wait_healthy,
)
from offline.services.sagemaker_processing import UnsupportedJobError
from offline.services.sagemaker_training import JobClientError, parse_s3_uri, require_image_pull
from offline.services.transform_container import execution_parameters, invoker
from offline.services.transform_records import InvocationError, Plan, TransformError, transform_file
from offline.services.transform_settings import batch_environment, effective_plan

#: What DescribeTransformJob says when a file failed; the detail is in the data log.
SEE_LOGS = "ClientError: See job logs for more details."
_MAX_REASON = 1024
_TERMINAL = {"Completed", "Failed", "Stopped"}


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def _message(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return f"{details.get('Code')}: {details.get('Message')}"


class TransformJobRunner:
    """Runs each created transform job in a background thread and updates moto's record."""

    def __init__(
        self,
        *,
        aws: LocalAws,
        workdir: Path,
        faults: FaultPlan,
        describe_model: Callable[[str], Any],
        describe_model_package: Callable[[str], dict[str, Any]] | None = None,
        iam: Iam | None = None,
    ) -> None:
        self._aws = aws
        self._iam = iam
        self._workdir = workdir / "transform-jobs"
        self._faults = faults
        self._describe_model = describe_model
        self._describe_package = describe_model_package or self._describe_package_through_api
        self._threads: list[threading.Thread] = []

    def job_dir(self, name: str) -> Path:
        """Where a job's model, server log and data log are."""
        return self._workdir / name

    def start(self, job: Any) -> None:
        """Begin running ``job`` (a moto ``FakeTransformJob`` just created)."""
        now = _now()
        job.transform_job_status = "InProgress"
        job.failure_reason = None
        job.transform_start_time = now
        job.transform_end_time = None
        job.last_modified_time = now
        thread = threading.Thread(target=self._run, args=(job,), name=f"transform-{job.transform_job_name}")
        thread.daemon = True
        self._threads.append(thread)
        thread.start()

    def stop(self, job: Any) -> None:
        """StopTransformJob: Stopping now; Stopped once the file in progress is done."""
        if job.transform_job_status == "InProgress":
            job.transform_job_status = "Stopping"
            job.last_modified_time = _now()

    def wait_idle(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self, job: Any) -> None:
        try:
            self._run_job(job)
        except (JobClientError, UnsupportedJobError, DeployError) as error:
            self._finish(job, "Failed", f"ClientError: {error}"[:_MAX_REASON])
        except Exception as error:
            self._finish(job, "Failed", f"InternalServerError: offline runner: {type(error).__name__}: {error}")

    def _run_job(self, job: Any) -> None:
        root = self.job_dir(job.transform_job_name)
        root.mkdir(parents=True, exist_ok=True)
        model = self._describe_model(job.model_name)
        container = model_container(model, self._describe_package)
        s3 = self._s3_as_role(job, model, str(container.get("Image", "")))
        effective_plan(job, {})  # refuses what offline mode cannot run before anything starts
        inputs = self._inputs(job, s3)
        self._extract_model(container.get("ModelDataUrl"), root / "model", s3, str(model.execution_role_arn))
        if job.transform_job_status == "Stopping":  # stopped before the container started
            self._finish(job, "Stopped", None)
            return
        live = self._start_server(job, container, root)
        log: list[str] = []
        try:
            plan = effective_plan(job, execution_parameters(live.port))
            log.append(
                f"[sagemaker logs]: MaxConcurrentTransforms={plan.max_concurrent_transforms}, "
                f"MaxPayloadInMB={plan.max_payload_mb}, "
                f"BatchStrategy={'MULTI_RECORD' if plan.multi_record else 'SINGLE_RECORD'}"
            )
            failed = self._transform_all(job, s3, inputs, plan, _invoker(live, job), log)
        finally:
            processes.stop(live.process)
            (root / "data-log").write_text("\n".join(log) + "\n")
        if job.transform_job_status == "Stopping":
            self._finish(job, "Stopped", None)
        else:
            self._finish(job, "Failed" if failed else "Completed", SEE_LOGS if failed else None)

    def _transform_all(
        self, job: Any, s3: Any, inputs: list[str], plan: Plan, invoke: Callable[[bytes], bytes], log: list[str]
    ) -> bool:
        """Transform each input object in turn; True when any of them failed."""
        bucket, prefix = parse_s3_uri(_source(job)["S3Uri"])
        out_bucket, out_prefix = parse_s3_uri(str(job.transform_output["S3OutputPath"]))
        kms_key = job.transform_output.get("KmsKeyId")
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key} if kms_key else {}
        failed = False
        for key in inputs:
            if job.transform_job_status == "Stopping":
                break
            try:
                data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError as error:
                raise JobClientError(f"Failed to download s3://{bucket}/{key}: {_message(error)}") from None
            try:
                output = transform_file(data, plan, invoke)
            except TransformError as error:
                failed = True
                log += _failure_lines(f"{bucket}/{key}", error)
                continue
            relative = key[len(prefix) :].lstrip("/")
            out_key = f"{out_prefix.rstrip('/')}/{relative}.out".lstrip("/")
            try:
                s3.put_object(Bucket=out_bucket, Key=out_key, Body=output, **extra)
            except ClientError as error:
                raise JobClientError(f"Failed to upload s3://{out_bucket}/{out_key}: {_message(error)}") from None
        return failed

    def _s3_as_role(self, job: Any, model: Any, image: str) -> Any:
        """The model's execution role pulls the image, then everything else goes through its S3 client."""
        if self._iam is None:
            return self._aws.client("s3")
        role = str(model.execution_role_arn)
        try:
            credentials = self._iam.assume(role, service="sagemaker.amazonaws.com", source_arn=job.arn)
            require_image_pull(self._iam, credentials, image, via=f"transform job {job.transform_job_name}")
        except (AccessDeniedError, RoleNotAssumableError) as refused:
            raise JobClientError(f"Cannot pull the inference image {image} as {role}: {refused}") from None
        return self._iam.client("s3", credentials)

    def _inputs(self, job: Any, s3: Any) -> list[str]:
        """The keys under the input prefix that hold data, in S3's (lexicographic) order."""
        bucket, prefix = parse_s3_uri(_source(job)["S3Uri"])
        keys: list[str] = []
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                keys += [item["Key"] for item in page.get("Contents", []) if item.get("Size", 0) > 0]
        except ClientError as error:
            raise JobClientError(f"Failed to list the input s3://{bucket}/{prefix}: {_message(error)}") from None
        return keys

    def _extract_model(self, model_data_url: str | None, model_dir: Path, s3: Any, role: str) -> None:
        if not model_data_url:
            raise JobClientError("the model has no ModelDataUrl")
        bucket, key = parse_s3_uri(model_data_url)
        archive = model_dir.parent / "model.tar.gz"
        model_dir.mkdir(parents=True, exist_ok=True)
        try:
            archive.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as error:
            raise JobClientError(
                f'Could not access model data at {model_data_url} as "{role}": {_message(error)}'
            ) from None
        with tarfile.open(archive) as tar:
            tar.extractall(model_dir, filter="data")

    def _start_server(self, job: Any, container: dict[str, Any], root: Path) -> LiveProcess:
        port = free_port()
        env = server_environment(container, model_dir=root / "model", port=port)
        env |= {str(k): str(v) for k, v in (job.environment or {}).items()} | batch_environment(job)
        if self._faults.take("transform", job.transform_job_name):
            env[FAULT_RATE_VARIABLE] = "1"
        log_file = root / "server.log"
        with log_file.open("wb") as out:
            process = processes.start(
                [sys.executable, "-m", "inference.serve"], env=env, cwd=REPO_ROOT, stdout=out.fileno()
            )
        live = LiveProcess(process=process, port=port, config_name=job.transform_job_name, log_file=log_file)
        try:
            wait_healthy(live)
        except DeployError as error:
            processes.stop(process)
            raise JobClientError(f"the model container did not become healthy: {error}") from None
        return live

    def _describe_package_through_api(self, name: str) -> dict[str, Any]:
        described: dict[str, Any] = self._aws.client("sagemaker").describe_model_package(ModelPackageName=name)
        return described

    def _finish(self, job: Any, status: str, reason: str | None) -> None:
        if job.transform_job_status in _TERMINAL:
            return
        now = _now()
        if reason:
            job.failure_reason = reason
        job.transform_end_time = now
        job.last_modified_time = now
        job.transform_job_status = status


def _source(job: Any) -> dict[str, Any]:
    source: dict[str, Any] = job.transform_input["DataSource"]["S3DataSource"]
    return source


def _failure_lines(name: str, error: TransformError) -> list[str]:
    lines = [f"[sagemaker logs]: {name}: {error}"]
    if isinstance(error, InvocationError) and error.status is not None:
        lines += [f"[sagemaker logs]: {name}: ", f"[sagemaker logs]: {name}: Message:"]
        lines += [f"[sagemaker logs]: {name}: {line}" for line in error.body.splitlines()]
    return lines


def _invoker(live: LiveProcess, job: Any) -> Callable[[bytes], bytes]:
    """The job's way of sending a mini-batch: its content types and ``ModelClientConfig`` (defaults 600 s, 3)."""
    config = job.model_client_config or {}
    return invoker(
        live.port,
        content_type=str(job.transform_input.get("ContentType") or "application/octet-stream"),
        accept=job.transform_output.get("Accept"),
        timeout=float(config.get("InvocationsTimeoutInSeconds") or 600),
        retries=int(config.get("InvocationsMaxRetries", 3)),
    )
