"""SageMaker endpoints as local ``python -m inference.serve`` processes.

CreateEndpoint and UpdateEndpoint are asynchronous in AWS, and so they are here: the
endpoint is ``Creating`` (or ``Updating``) while a server process for the endpoint config's
model starts on a free port (``SM_MODEL_DIR`` = the extracted ``model.tar.gz``), and turns
``InService`` only once ``/ping`` answers 200. A process that exits or never becomes healthy
makes a new endpoint ``Failed``; a failed update rolls back to the old process and config
(``InService`` with a ``FailureReason``), as SageMaker does.

The model is hosted as its execution role (assumed as ``sagemaker.amazonaws.com``): the
role must be allowed to pull the image and read the model data, or the deploy fails with
SageMaker's "Could not access model data" reason (SageMaker Developer Guide, "How to use
SageMaker AI execution roles": CreateModel API execution role permissions).

A model created from a model package (a container with ``ModelPackageName``, as the deployment
state machine creates them) runs the package's first inference container: its ``Image`` and
``ModelDataUrl`` come from the package's ``InferenceSpecification.Containers[0]``, and the
model's own container ``Environment`` (e.g. ``MODEL_VERSION``) is set on top of the package
container's (SageMaker API Reference, "ContainerDefinition": ``ModelPackageName``, "The name or
Amazon Resource Name (ARN) of the model package to use to create the model").

An update is blue/green: the new process starts and becomes healthy, routing switches to it
atomically, and only then, after in-flight requests drained, the old one stops. Requests
sent through the runtime proxy during an update therefore never fail.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
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
from offline.services.s3_objects import download
from offline.services.sagemaker_training import parse_s3_uri, require_image_pull

HEALTH_TIMEOUT_SECONDS = 90.0
#: How long an old endpoint process keeps serving in-flight requests after routing moved.
DRAIN_SECONDS = 1.0


@dataclass
class LiveProcess:
    """One running model server."""

    process: subprocess.Popen[bytes]
    port: int
    config_name: str
    log_file: Path
    variant: str = "AllTraffic"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class DeployError(RuntimeError):
    """A model server did not become healthy; the message becomes the FailureReason."""


class EndpointFleet:
    """The live server process behind each endpoint, and the deployments that replace them."""

    def __init__(
        self,
        *,
        aws: LocalAws,
        workdir: Path,
        faults: FaultPlan,
        describe_config: Callable[[str], dict[str, Any]],
        describe_model: Callable[[str], Any],
        log: Callable[[str], None] = print,
        iam: Iam | None = None,
        describe_model_package: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        """``describe_model_package(name)`` answers DescribeModelPackage (default: the local AWS's API)."""
        self._aws = aws
        self._describe_model_package = describe_model_package or self._describe_package_through_api
        self._iam = iam
        self._workdir = workdir / "endpoints"
        self._faults = faults
        self._describe_config = describe_config
        self._describe_model = describe_model
        self._log = log
        self._live: dict[str, LiveProcess] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def route(self, endpoint_name: str) -> str | None:
        """The base URL serving ``endpoint_name`` now, or None."""
        live = self._live.get(endpoint_name)
        return live.url if live is not None else None

    def deploy(self, endpoint: Any, config_name: str, *, update: bool) -> None:
        """Start deploying ``config_name`` behind moto's ``endpoint`` record, in the background."""
        endpoint.endpoint_status = "Updating" if update else "Creating"
        endpoint.last_modified_time = _now()
        endpoint.failure_reason = None
        thread = threading.Thread(
            target=self._deploy, args=(endpoint, config_name, update), name=f"deploy-{endpoint.endpoint_name}"
        )
        thread.daemon = True
        self._threads.append(thread)
        thread.start()

    def _deploy(self, endpoint: Any, config_name: str, update: bool) -> None:
        name = endpoint.endpoint_name
        fail = self._faults.take("endpoint", name)
        try:
            new = self._start_server(name, config_name, broken=fail)
        except Exception as error:
            reason = str(error)
            endpoint.failure_reason = reason
            endpoint.last_modified_time = _now()
            # A failed update rolls back to the running config; a failed create is Failed.
            endpoint.endpoint_status = "InService" if update and name in self._live else "Failed"
            self._log(f"endpoint {name}: deploy of {config_name} failed: {reason}")
            return
        with self._lock:
            old = self._live.get(name)
            self._live[name] = new
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = _variants(self._describe_config(config_name))
        endpoint.last_modified_time = _now()
        endpoint.endpoint_status = "InService"
        if old is not None:
            time.sleep(DRAIN_SECONDS)
            processes.stop(old.process)
            self._log(f"endpoint {name}: {old.config_name} (port {old.port}) stopped; {config_name} serves")

    def _start_server(self, endpoint_name: str, config_name: str, *, broken: bool) -> LiveProcess:
        config = self._describe_config(config_name)
        variant = config["ProductionVariants"][0]
        model = self._describe_model(variant["ModelName"])
        container = model_container(model, self._describe_model_package)
        model_dir = self._workdir / endpoint_name / config_name / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        s3 = self._s3_as_role(model, str(container.get("Image", "")), endpoint_name)
        if not broken:
            self._extract_model(container.get("ModelDataUrl"), model_dir, s3, model.execution_role_arn)
        port = free_port()
        log_file = model_dir.parent / "server.log"
        env = server_environment(container, model_dir=model_dir, port=port)
        with log_file.open("wb") as log:
            process = processes.start(
                [sys.executable, "-m", "inference.serve"], env=env, cwd=REPO_ROOT, stdout=log.fileno()
            )
        live = LiveProcess(
            process=process, port=port, config_name=config_name, log_file=log_file, variant=variant["VariantName"]
        )
        try:
            _wait_healthy(live)
        except DeployError:
            processes.stop(process)
            raise
        return live

    def _describe_package_through_api(self, name: str) -> dict[str, Any]:
        described: dict[str, Any] = self._aws.client("sagemaker").describe_model_package(ModelPackageName=name)
        return described

    def _s3_as_role(self, model: Any, image: str, endpoint_name: str) -> Any:
        """SageMaker hosts the model as its execution role: image pull first, then the model data."""
        if self._iam is None:
            return self._aws.client("s3")
        role = str(model.execution_role_arn)
        try:
            credentials = self._iam.assume(role, service="sagemaker.amazonaws.com", source_arn=model.arn)
            require_image_pull(self._iam, credentials, image, via=f"endpoint {endpoint_name}")
        except (AccessDeniedError, RoleNotAssumableError) as refused:
            raise DeployError(f"Failed to pull the inference image {image} for the model: {refused}") from None
        return self._iam.client("s3", credentials)

    def _extract_model(self, model_data_url: str | None, model_dir: Path, s3: Any, role: str) -> None:
        if not model_data_url:
            raise DeployError("the model has no ModelDataUrl")
        bucket, key = parse_s3_uri(model_data_url)
        archive = model_dir.parent / "model.tar.gz"
        try:
            download(s3, bucket, key, archive)
        except ClientError as error:
            # SageMaker's FailureReason for a model it cannot read (CreateEndpoint, Failed).
            raise DeployError(
                f'Could not access model data at {model_data_url}. Please ensure that the role "{role}" exists and '
                'that its trust relationship policy allows the action "sts:AssumeRole" for the service principal '
                '"sagemaker.amazonaws.com". Also ensure that the role has "s3:GetObject" permissions and that the '
                f"object is located in {self._aws.region}. ({error.response['Error'].get('Message')})"
            ) from None
        with tarfile.open(archive) as tar:
            tar.extractall(model_dir, filter="data")

    def delete(self, endpoint_name: str) -> None:
        with self._lock:
            live = self._live.pop(endpoint_name, None)
        if live is not None:
            processes.stop(live.process)

    def stop_all(self) -> None:
        for thread in self._threads:
            thread.join(HEALTH_TIMEOUT_SECONDS)
        for name in list(self._live):
            self.delete(name)

    def live_processes(self) -> dict[str, LiveProcess]:
        return dict(self._live)


def model_container(model: Any, describe_model_package: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """The container SageMaker runs for moto's ``model``: its own, or its model package's first one.

    A container naming a ``ModelPackageName`` takes ``Image`` and ``ModelDataUrl`` (and the
    package container's ``Environment``) from the package; its own ``Environment`` is applied
    over the package's.
    """
    container: dict[str, Any] = dict(model.primary_container or (model.containers or [{}])[0])
    package_name = container.get("ModelPackageName")
    if not package_name:
        return container
    try:
        package = describe_model_package(package_name)
    except ClientError as error:
        raise DeployError(
            f"Could not find model package {package_name} for model {model.model_name}: "
            f"{error.response['Error'].get('Message')}"
        ) from None
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    if not containers:
        raise DeployError(f"Model package {package_name} has no InferenceSpecification container to deploy")
    packaged = containers[0]
    return {
        **container,
        "Image": packaged.get("Image"),
        "ModelDataUrl": packaged.get("ModelDataUrl"),
        "Environment": {**(packaged.get("Environment") or {}), **(container.get("Environment") or {})},
    }


def server_environment(container: dict[str, Any], *, model_dir: Path, port: int) -> dict[str, str]:
    """The model server's environment: the container's ``Environment`` under SageMaker's hosting variables."""
    return {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        **(container.get("Environment") or {}),
        "SM_MODEL_DIR": str(model_dir),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_MODEL_SERVER_WORKERS": "1",
        "SERVE_HOST": "127.0.0.1",
    }


def _wait_healthy(live: LiveProcess) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        code = live.process.poll()
        if code is not None:
            tail = live.log_file.read_text(errors="replace").strip().splitlines()[-3:]
            raise DeployError(
                f"The primary container for production variant {live.variant} did not pass the ping health check "
                f"(the model server exited with status {code}: {' | '.join(tail)})"
            )
        try:
            with urllib.request.urlopen(f"{live.url}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise DeployError(
        f"The primary container for production variant {live.variant} did not pass the ping health check "
        f"within {HEALTH_TIMEOUT_SECONDS:.0f} s"
    )


def _variants(config: dict[str, Any]) -> list[dict[str, Any]]:
    variants = []
    for variant in config.get("ProductionVariants", []):
        count = variant.get("InitialInstanceCount", 1)
        weight = variant.get("InitialVariantWeight", 1.0)
        variants.append(
            {
                "VariantName": variant["VariantName"],
                "CurrentWeight": weight,
                "DesiredWeight": weight,
                "CurrentInstanceCount": count,
                "DesiredInstanceCount": count,
            }
        )
    return variants


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)
