"""One local AWS with the app deployed into it, and pipeline runs against it.

What a run produced is in :mod:`offline.run.results`; predictions through the local API in
:mod:`offline.run.predictions` (both re-exported here, where callers have always found them).

``LocalPipeline`` is a context manager: entering starts moto (with offline mode's patches),
the local SageMaker Runtime and the local REST API, and creates the synthesized
resources; leaving stops every server and child process. ``run`` starts the pipeline the
way production does (uploading a dataset under the data bucket's ``incoming/`` prefix,
its completion marker last) and follows the executions the markers trigger until they end.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from offline import moto_patches
from offline.deploy.assembly import REPO_ROOT, Assembly
from offline.deploy.deployment import Deployment, Rule
from offline.deploy.provision import Provisioner
from offline.moto_patches import model_registry
from offline.run import processes
from offline.run.active import Services, activate
from offline.run.faults import FaultPlan
from offline.run.local_aws import ACCESS_KEY, LocalAws, free_port, running_moto
from offline.run.predictions import Prober, feature_row, post_prediction
from offline.run.progress import Log, Printer, Progress
from offline.run.results import ExecutionResult, Prediction, Probe, RunResult
from offline.services.alarm_evaluation import AlarmEvaluator
from offline.services.api_gateway import local_api
from offline.services.capture_router import CaptureRouter
from offline.services.cloudwatch_alarms import AlarmActions
from offline.services.codebuild import LocalCodeBuild
from offline.services.endpoint_metrics import EndpointMetrics
from offline.services.eventbridge import Delivery, EventBridge
from offline.services.http_server import Server
from offline.services.iam.enforcement import Iam
from offline.services.lambda_runtime import LambdaRuntime
from offline.services.mlflow_server import start_tracking_server
from offline.services.sagemaker_hosting import EndpointFleet
from offline.services.sagemaker_processing import ProcessingJobRunner
from offline.services.sagemaker_runtime import runtime_proxy
from offline.services.sagemaker_training import TrainingJobRunner
from offline.services.sagemaker_transform import TransformJobRunner

PROXY_HANDLER = "lambdas.inference_proxy.app.handler"
EXECUTION_TIMEOUT_SECONDS = 600.0
#: The folders of a dataset, uploaded before its completion marker.
DATASET_CHANNELS = ("train", "validation", "test")
#: How long the run keeps watching for an execution that an event of a finished one starts.
SETTLE_SECONDS = 1.5


class _Ports:
    """Ports chosen once per process and reused by every local AWS it starts.

    Lambda code caches boto3 clients across invocations (as a warm Lambda does); keeping the
    endpoints' addresses stable keeps those cached clients valid across local AWS restarts.
    """

    def __init__(self) -> None:
        self.moto = free_port()
        self.runtime = free_port()
        self.api = free_port()


_ports: _Ports | None = None


def ports() -> _Ports:
    global _ports
    if _ports is None:
        _ports = _Ports()
    return _ports


class LocalPipeline:
    """The deployed app on a local AWS; see the module docstring."""

    def __init__(
        self,
        assembly: Assembly,
        *,
        workdir: Path,
        fail_at: str | None = None,
        log: Log | None = None,
        max_wait_seconds: float = 2.0,
        verbose: bool = False,
        tracking: bool = False,
        time_scale: float = 60.0,
    ) -> None:
        self.assembly = assembly
        self.workdir = workdir
        self.faults = FaultPlan(fail_at)
        self.log: Log = log or Printer()
        self._max_wait = max_wait_seconds
        self._verbose = verbose
        self._tracking = tracking
        #: Simulated seconds per real second for rollout bakes and alarm periods (``Services.time_scale``).
        self.time_scale = time_scale
        #: The local MLflow tracking server's URL, when the pipeline runs with one.
        self.tracking_url: str | None = None
        self._exit = contextlib.ExitStack()
        self._runs = 0

    # --- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> LocalPipeline:
        try:
            self._start()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._exit.close()

    def _start(self) -> None:
        quiet = logging.DEBUG if os.environ.get("OFFLINE_DEBUG") else logging.CRITICAL
        logging.getLogger("werkzeug").setLevel(max(quiet, logging.ERROR))
        logging.getLogger("moto").setLevel(quiet)
        stack = self.assembly.stacks[0]
        self.workdir.mkdir(parents=True, exist_ok=True)
        # What a previous local AWS left (its jobs, builds, endpoints) means nothing to this one.
        leftovers = ("builds", "training-jobs", "processing-jobs", "transform-jobs", "endpoints", "datasets", "logs")
        for leftover in leftovers:
            shutil.rmtree(self.workdir / leftover, ignore_errors=True)
        # MLflow takes seconds to start: it comes up while moto starts and the stacks deploy.
        tracking = self._exit.enter_context(start_tracking_server(self.workdir)) if self._tracking else None
        self.aws: LocalAws = self._exit.enter_context(
            running_moto(account=stack.account, region=stack.region, port=ports().moto)
        )
        moto_patches.install()
        from moto.sagemaker.models import sagemaker_backends

        backend = sagemaker_backends[self.aws.account][self.aws.region]
        self.iam = Iam(
            account=self.aws.account,
            region=self.aws.region,
            endpoint_url=self.aws.endpoint_url,
            operator_key=ACCESS_KEY,
        )
        self.lambdas = LambdaRuntime(
            account=self.aws.account, region=self.aws.region, log_dir=self.workdir / "logs" / "lambda", iam=self.iam
        )
        self.codebuild = LocalCodeBuild(
            aws=self.aws, workdir=self.workdir, faults=self.faults, log=self.log, iam=self.iam
        )
        self.training = TrainingJobRunner(
            aws=self.aws, workdir=self.workdir, faults=self.faults, log=self.log, iam=self.iam
        )
        self.processing = ProcessingJobRunner(aws=self.aws, workdir=self.workdir, faults=self.faults, iam=self.iam)
        self.transform = TransformJobRunner(
            aws=self.aws, workdir=self.workdir, faults=self.faults, iam=self.iam, describe_model=backend.describe_model
        )
        self.metrics = EndpointMetrics(account=self.aws.account, region=self.aws.region, log=self.log)
        self._exit.callback(self.metrics.close)
        self.evaluator = AlarmEvaluator(
            account=self.aws.account, region=self.aws.region, time_scale=self.time_scale, log=self.log
        )
        self.fleet = EndpointFleet(
            aws=self.aws,
            workdir=self.workdir,
            faults=self.faults,
            describe_config=backend.describe_endpoint_config,
            describe_model=backend.describe_model,
            log=self.log,
            iam=self.iam,
            alarm_states=self.evaluator.alarm_states,
            time_scale=self.time_scale,
        )
        self.alarms = AlarmActions(iam=self.iam, publish=self._publish_as_cloudwatch, log=self.log)
        #: Data capture of the endpoints' answered requests, written to the local S3 as SageMaker writes it.
        self.capture = CaptureRouter(
            iam=self.iam,
            describe_config=backend.describe_endpoint_config,
            describe_model=backend.describe_model,
            log=self.log,
        )
        self._exit.callback(self._stop_children)
        activate(
            Services(
                lambdas=self.lambdas,
                codebuild=self.codebuild,
                training=self.training,
                fleet=self.fleet,
                faults=self.faults,
                on_object_created=self._on_object_created,
                max_wait_seconds=self._max_wait,
                iam=self.iam,
                alarms=self.alarms,
                processing=self.processing,
                transform=self.transform,
                time_scale=self.time_scale,
            )
        )
        self._exit.callback(activate, None)
        # Written out once the runtime has stopped and while the local services still authorize the writes.
        self._exit.callback(self.capture.close)
        runtime: Server = runtime_proxy(
            self.fleet.route,
            account=self.aws.account,
            region=self.aws.region,
            port=ports().runtime,
            authorize=self._authorize_invoke,
            on_invocation=self.metrics.record,
            on_exchange=self.capture.on_exchange,
        )
        self._exit.callback(runtime.stop)
        self.runtime_url: str = runtime.url
        os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = runtime.url
        self.deployment: Deployment = Provisioner(
            assembly=self.assembly, aws=self.aws, lambdas=self.lambdas, codebuild=self.codebuild, iam=self.iam
        ).deploy()
        # The endpoint alarms exist now: evaluate them (stopped after the fleet, whose rollouts read them).
        self.evaluator.start()
        self._exit.callback(self.evaluator.stop)
        self.state_machine = self.deployment.state_machine()
        self.deployment_machine = self.deployment.deployment_state_machine()
        self.definition = self.deployment.combined_definition()
        self.faults.validate(self.definition)
        self.bridge = EventBridge(rules=self.deployment.rules, start_execution=self._start_target, log=self.log)
        self._exit.callback(self.bridge.stop)
        model_registry.send_events_to(self.bridge.put_event)
        self._exit.callback(model_registry.send_events_to, None)
        self.progress = Progress(
            aws=self.aws,
            topics=self.deployment.topics,
            log=self.log,
            definition=self.definition,
            verbose=self._verbose,
            notifications_log=self.workdir / "logs" / "notifications.log",
        )
        proxy = self.deployment.lambda_with_handler(PROXY_HANDLER)
        self.api: Server = local_api(self.lambdas, proxy.function_name, port=ports().api)
        self._exit.callback(self.api.stop)
        if tracking is not None:
            self.tracking_url = tracking.wait_ready()
            # Training and evaluation jobs start with this process's environment (their own Environment on
            # top): offline they always track to the local server.
            self._exit.callback(_restore_environment, "MLFLOW_TRACKING_URI", os.environ.get("MLFLOW_TRACKING_URI"))
            os.environ["MLFLOW_TRACKING_URI"] = self.tracking_url

    def _start_target(self, rule: Rule, target: dict[str, Any], payload: str) -> str:
        """StartExecution as EventBridge does it: signed as the target's role."""
        role = target.get("RoleArn")
        if not role:
            raise PermissionError("the target has no RoleArn; EventBridge needs one to start a state machine")
        credentials = self.iam.assume(str(role), service="events.amazonaws.com", source_arn=rule.arn)
        sfn = self.iam.client("stepfunctions", credentials)
        # EventBridge names each execution with a UUID; moto would name it "None".
        arn: str = sfn.start_execution(stateMachineArn=str(target["Arn"]), name=str(uuid.uuid4()), input=payload)[
            "executionArn"
        ]
        return arn

    def _authorize_invoke(self, headers: Mapping[str, str], endpoint_name: str) -> str | None:
        resource = f"arn:aws:sagemaker:{self.aws.region}:{self.aws.account}:endpoint/{endpoint_name.lower()}"
        return self.iam.authorize_signed(headers, "sagemaker:InvokeEndpoint", resource)

    def _publish_as_cloudwatch(self, topic_arn: str, subject: str, message: str) -> None:
        self.aws.client("sns").publish(TopicArn=topic_arn, Subject=subject, Message=message)

    def _on_object_created(self, created: dict[str, Any]) -> None:
        bridge: EventBridge | None = getattr(self, "bridge", None)
        if bridge is not None:  # uploads made while provisioning (assets) trigger nothing
            bridge.on_object_created(created)

    def _stop_children(self) -> None:
        self.training.wait_idle(timeout=5)
        self.processing.wait_idle(timeout=5)
        self.transform.wait_idle(timeout=5)
        self.fleet.stop_all()
        processes.stop_all()

    # --- runs ----------------------------------------------------------------------------

    def data_location(self) -> tuple[str, str, str]:
        """(bucket, prefix, marker) of the S3 rule that starts retraining, read from its EventPattern.

        The rule matches ``<prefix>*/<marker>`` (a ``wildcard`` filter on the object key).
        """
        for rule in self.deployment.rules:
            pattern = rule.event_pattern or {}
            retrains = any(t.get("Arn") == self.state_machine.arn for t in rule.targets)
            if retrains and "aws.s3" in pattern.get("source", []):
                detail = pattern.get("detail", {})
                bucket = detail.get("bucket", {}).get("name", [None])[0]
                keys = detail.get("object", {}).get("key", [])
                wildcard = next((c["wildcard"] for c in keys if isinstance(c, dict) and "wildcard" in c), None)
                if bucket and isinstance(wildcard, str) and "*/" in wildcard:
                    prefix, _star, marker = wildcard.partition("*/")
                    return str(bucket), prefix, marker
        raise RuntimeError("the app has no EventBridge rule on S3 'Object Created' events for <prefix>*/<marker>")

    def generate_dataset(self, name: str, *, rows: int, seed: int, shuffle_labels: bool = False) -> Path:
        """``training.synthetic``'s files; ``shuffle_labels`` spoils train and validation (a worse model)."""
        out = self.workdir / "datasets" / name
        shuffle = ["--shuffle-labels"] if shuffle_labels else []
        command = [sys.executable, "-m", "training.synthetic", "--rows", str(rows), "--seed", str(seed)]
        subprocess.run(
            [*command, "--out", str(out), *shuffle],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
        )
        return out

    def upload_dataset(self, name: str, *, rows: int, seed: int, shuffle_labels: bool = False) -> str:
        """Generate a dataset and upload it as a user would: train, validation, test, then the marker.

        Returns the marker's key: the object whose creation starts a run.
        """
        files = self.generate_dataset(name, rows=rows, seed=seed, shuffle_labels=shuffle_labels)
        bucket, prefix, marker = self.data_location()
        s3 = self.aws.client("s3")
        for channel in DATASET_CHANNELS:
            key = f"{prefix}{name}/{channel}/{channel}.csv"
            s3.upload_file(str(files / f"{channel}.csv"), bucket, key)
            self.log(f"uploaded s3://{bucket}/{key}")
        marker_key = f"{prefix}{name}/{marker}"
        s3.put_object(Bucket=bucket, Key=marker_key, Body=b"")
        self.log(f"uploaded s3://{bucket}/{marker_key} (the dataset is complete)")
        return marker_key

    def run(
        self, *, rows: int, seed: int, probe: bool = False, datasets: int = 1, shuffle_labels: bool = False
    ) -> RunResult:
        """Upload ``datasets`` datasets back to back and follow the executions they start.

        More than one dataset exercises the line: the later ones land while the first
        run is in progress and wait for it.
        """
        started = time.monotonic()
        names: list[str] = []
        first_delivery = len(self.bridge.deliveries)
        first_failure = len(self.bridge.failures)
        first_notification = len(self.progress.notifications)
        prober: Prober | None = None
        try:
            for index in range(datasets):
                self._runs += 1
                name = f"dataset-{self._runs:02d}-seed{seed + index}{'-shuffled' if shuffle_labels else ''}"
                self.upload_dataset(name, rows=rows, seed=seed + index, shuffle_labels=shuffle_labels)
                names.append(name)
                if probe and prober is None:
                    prober = Prober(self.api.url, self.workdir / "datasets" / name / "test.csv")
                    prober.start()
                self._wait_for_deliveries()
                for delivery in self.bridge.deliveries[first_delivery:]:
                    self.progress.follow(delivery.execution_arn)
            deliveries = self._retraining(self.bridge.deliveries[first_delivery:])
            failures = self.bridge.failures[first_failure:]
            if not deliveries and not failures:
                bucket, prefix, marker = self.data_location()
                raise RuntimeError(
                    f"no execution started: no EventBridge rule matched s3://{bucket}/{prefix}{names[-1]}/{marker}"
                )
            self.wait_until_settled(first_delivery)
        finally:
            if prober is not None:
                prober.stop()
        self.progress.poll()
        deployments = [d for d in self.bridge.deliveries[first_delivery:] if d not in deliveries]
        executions = [
            ExecutionResult(
                d.execution_arn,
                self.progress.status(d.execution_arn),
                d.object_key,
                self._queued_behind(d.execution_arn),
            )
            for d in deliveries
        ]
        result = RunResult(
            datasets=names,
            executions=executions,
            trigger_failures=[f"rule {f.rule}: {f.reason}" for f in failures],
            notifications=self.progress.notifications[first_notification:],
            timings=[],
            seconds=time.monotonic() - started,
            probe=prober.result if prober is not None else None,
            deployments=[
                ExecutionResult(d.execution_arn, self.progress.status(d.execution_arn), d.object_key)
                for d in deployments
            ],
        )
        if executions:
            # The last retraining execution, and the deployments its registered version started.
            labels = {e.arn.rsplit(":", 1)[-1][:8] for e in (result.main, *result.deployments)}
            result.timings = [t for t in self.progress.timings if t.execution in labels]
        return result

    def _retraining(self, deliveries: list[Delivery]) -> list[Delivery]:
        """The deliveries that started retraining executions (the others are deployments)."""
        marker = f":execution:{self.state_machine.name}:"
        return [d for d in deliveries if marker in d.execution_arn]

    def wait_until_settled(self, first_delivery: int = 0) -> None:
        """Follow executions until none runs and no event of a finished one starts another.

        A retraining run ends by registering a version; the registry's event may start a
        deployment, whose events may start more. Wait until that chain has ended.
        """
        deadline = time.monotonic() + EXECUTION_TIMEOUT_SECONDS
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            for delivery in self.bridge.deliveries[first_delivery:]:
                if not self.progress.following(delivery.execution_arn):
                    self.progress.follow(delivery.execution_arn)
            self.progress.poll()
            if self.progress.running() or not self.bridge.idle():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= SETTLE_SECONDS:
                return
            time.sleep(0.1)
        raise TimeoutError(f"executions still running after {EXECUTION_TIMEOUT_SECONDS:.0f} s")

    def _wait_for_deliveries(self) -> None:
        deadline = time.monotonic() + 30
        while not self.bridge.idle() and time.monotonic() < deadline:
            time.sleep(0.05)

    def follow_new_executions(self) -> list[str]:
        """Follow every execution of the state machine not followed yet: those started from
        another shell (``make retrain``, ``aws stepfunctions start-execution``, an upload)."""
        sfn = self.aws.client("stepfunctions")
        new: list[tuple[Any, str]] = []
        for machine in self.deployment.state_machines:
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine.arn):
                for execution in page["executions"]:
                    if not self.progress.following(execution["executionArn"]):
                        new.append((execution["startDate"], execution["executionArn"]))
        arns = [arn for _started, arn in sorted(new)]
        for arn in arns:
            self.progress.follow(arn)
        return arns

    def wait_until_done(self) -> None:
        """Show progress until no followed execution is running."""
        deadline = time.monotonic() + EXECUTION_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            self.progress.poll()
            if not self.progress.running():
                return
            time.sleep(0.25)
        raise TimeoutError(f"executions still running after {EXECUTION_TIMEOUT_SECONDS:.0f} s")

    def initiate_results(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every result Initiate returned in the execution: one per check while it waited in line."""
        results: list[dict[str, Any]] = []
        sfn = self.aws.client("stepfunctions")
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            for event in page["events"]:
                details = event.get("lambdaFunctionSucceededEventDetails") or event.get("taskSucceededEventDetails")
                if not details or not details.get("output"):
                    continue
                output = json.loads(details["output"])
                payload = output.get("Payload", output) if isinstance(output, dict) else None
                if isinstance(payload, dict) and "queued" in payload and "run_id" in payload:
                    results.append(payload)
        return results

    def _queued_behind(self, execution_arn: str) -> str | None:
        """The execution this one waited for in line (Initiate's ``queue.behind``), if it waited."""
        for result in self.initiate_results(execution_arn):
            if result.get("queued") and isinstance(result.get("queue"), dict):
                return str(result["queue"].get("behind"))
        return None

    def training_metrics(self, execution_arn: str) -> dict[str, float]:
        """The final metrics of the execution's training job (empty if it trained nothing)."""
        started = [r for r in self.initiate_results(execution_arn) if not r.get("queued")]
        job = started[-1].get("names", {}).get("training_job") if started else None
        if not job:
            return {}
        try:
            described = self.aws.client("sagemaker").describe_training_job(TrainingJobName=job)
        except ClientError:
            return {}
        return {m["MetricName"]: float(m["Value"]) for m in described.get("FinalMetricDataList") or []}

    # --- the API -------------------------------------------------------------------------

    def predict(self, test_csv: Path) -> Prediction:
        """Send the first row of ``test_csv`` (label dropped) through the local API."""
        row = feature_row(test_csv)
        status, body = post_prediction(self.api.url, row)
        return Prediction(request=row, status=status, body=body)


def _restore_environment(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


__all__ = [
    "ExecutionResult",
    "LocalPipeline",
    "Prediction",
    "Probe",
    "RunResult",
    "feature_row",
    "post_prediction",
]
