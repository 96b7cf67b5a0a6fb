"""The model server behind an endpoint config: a local ``python -m inference.serve`` process.

A server starts on a free port for the endpoint config's first production variant, with
``SM_MODEL_DIR`` = the extracted ``model.tar.gz``, and counts as up only once ``/ping`` answers
200; a process that exits or never becomes healthy is SageMaker's "did not pass the ping health
check" (SageMaker Developer Guide, "Use your own inference code with hosting services").

The model is hosted as its execution role (assumed as ``sagemaker.amazonaws.com``): the
role must be allowed to pull the image and read the model data, or the deploy fails with
SageMaker's "Could not access model data" reason (SageMaker Developer Guide, "How to use
SageMaker AI execution roles": CreateModel API execution role permissions). A deployment with
auto-rollback alarms also needs the role to be allowed ``cloudwatch:DescribeAlarms`` on each of
them (Developer Guide, "Auto-Rollback Configuration and Monitoring").

A model created from a model package (a container with ``ModelPackageName``, as the deployment
state machine creates them) runs the package's first inference container: its ``Image`` and
``ModelDataUrl`` come from the package's ``InferenceSpecification.Containers[0]``, and the
model's own container ``Environment`` (e.g. ``MODEL_VERSION``) is set on top of the package
container's (SageMaker API Reference, "ContainerDefinition": ``ModelPackageName``, "The name or
Amazon Resource Name (ARN) of the model package to use to create the model").
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from offline.deploy.assembly import REPO_ROOT
from offline.run import processes
from offline.run.local_aws import LocalAws, free_port
from offline.services.iam.authorizer import AccessDeniedError
from offline.services.iam.enforcement import Iam
from offline.services.iam.sessions import Credentials, RoleNotAssumableError
from offline.services.s3_objects import download
from offline.services.sagemaker_training import parse_s3_uri, require_image_pull

HEALTH_TIMEOUT_SECONDS = 90.0
#: The model server's fault injection (``inference.fault_injection``), set by ``EndpointFleet.inject_errors``.
FAULT_RATE_VARIABLE = "INFERENCE_FAULT_5XX_RATE"


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


class ServerPool(Protocol):
    """Starts and stops model servers (:class:`ModelServers`; tests pass fakes)."""

    def start(self, endpoint_name: str, config_name: str, *, broken: bool, fault_rate: float = 0.0) -> LiveProcess: ...

    def stop(self, live: LiveProcess) -> None: ...

    def require_alarm_access(self, endpoint_name: str, config_name: str, alarms: tuple[str, ...]) -> None: ...


@dataclass
class ModelServers:
    """Starts the model server of an endpoint config, as the model's execution role."""

    aws: LocalAws
    workdir: Path
    describe_config: Callable[[str], dict[str, Any]]
    describe_model: Callable[[str], Any]
    describe_model_package: Callable[[str], dict[str, Any]]
    iam: Iam | None = None

    def start(self, endpoint_name: str, config_name: str, *, broken: bool, fault_rate: float = 0.0) -> LiveProcess:
        """A healthy server for ``config_name``; DeployError when it cannot be."""
        variant = self.describe_config(config_name)["ProductionVariants"][0]
        model = self.describe_model(variant["ModelName"])
        container = model_container(model, self.describe_model_package)
        model_dir = self.workdir / endpoint_name / config_name / "model"
        model_dir.mkdir(parents=True, exist_ok=True)
        s3 = self._s3_as_role(model, str(container.get("Image", "")), endpoint_name)
        if not broken:
            self._extract_model(container.get("ModelDataUrl"), model_dir, s3, model.execution_role_arn)
        port = free_port()
        log_file = model_dir.parent / "server.log"
        env = server_environment(container, model_dir=model_dir, port=port)
        if fault_rate:
            env[FAULT_RATE_VARIABLE] = str(fault_rate)
        with log_file.open("wb") as log:
            process = processes.start(
                [sys.executable, "-m", "inference.serve"], env=env, cwd=REPO_ROOT, stdout=log.fileno()
            )
        live = LiveProcess(
            process=process, port=port, config_name=config_name, log_file=log_file, variant=variant["VariantName"]
        )
        try:
            wait_healthy(live)
        except DeployError:
            processes.stop(process)
            raise
        return live

    def stop(self, live: LiveProcess) -> None:
        """Stop a server (SIGTERM: it finishes its in-flight requests first)."""
        processes.stop(live.process)

    def require_alarm_access(self, endpoint_name: str, config_name: str, alarms: tuple[str, ...]) -> None:
        """Deployment guardrails read the alarms as the new model's role; DeployError when it may not."""
        if self.iam is None or not alarms:
            return
        model = self.describe_model(self.describe_config(config_name)["ProductionVariants"][0]["ModelName"])
        try:
            credentials = self._credentials(model)
            for alarm in alarms:
                arn = f"arn:aws:cloudwatch:{self.iam.region}:{self.iam.account}:alarm:{alarm}"
                self.iam.require(
                    credentials, "cloudwatch:DescribeAlarms", arn, via=f"endpoint {endpoint_name} deployment guardrails"
                )
        except (AccessDeniedError, RoleNotAssumableError) as refused:
            raise DeployError(
                f"Deployment guardrails cannot monitor the auto-rollback alarms as the execution role "
                f"{model.execution_role_arn} of {config_name}: {refused}"
            ) from None

    def _credentials(self, model: Any) -> Credentials:
        assert self.iam is not None
        return self.iam.assume(str(model.execution_role_arn), service="sagemaker.amazonaws.com", source_arn=model.arn)

    def _s3_as_role(self, model: Any, image: str, endpoint_name: str) -> Any:
        """SageMaker hosts the model as its execution role: image pull first, then the model data."""
        if self.iam is None:
            return self.aws.client("s3")
        try:
            credentials = self._credentials(model)
            require_image_pull(self.iam, credentials, image, via=f"endpoint {endpoint_name}")
        except (AccessDeniedError, RoleNotAssumableError) as refused:
            raise DeployError(f"Failed to pull the inference image {image} for the model: {refused}") from None
        return self.iam.client("s3", credentials)

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
                f"object is located in {self.aws.region}. ({error.response['Error'].get('Message')})"
            ) from None
        with tarfile.open(archive) as tar:
            tar.extractall(model_dir, filter="data")


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


def wait_healthy(live: LiveProcess) -> None:
    """Return once ``/ping`` answers 200; DeployError if the process exits or the wait times out."""
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
