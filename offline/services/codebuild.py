"""CodeBuild builds, run locally from the project's real source asset and buildspec.

moto's CodeBuild reports every build SUCCEEDED without running anything, so offline mode
keeps its own build records. A build downloads the project's S3 source (the CDK asset
zip) from the local S3, checks that ``IMAGE_TAG`` is the source's hash (the asset's
content hash, which is what the image is tagged with), then runs the buildspec's phases
with bash, ``aws`` and ``docker`` replaced by ``offline.services.codebuild_shims``. The buildspec's own
checks therefore run for real (``test -f "$DOCKERFILE"``, the ECR lookup that skips an
unchanged image); ``docker build`` only checks the Dockerfile unless a Docker engine
answers ``docker info``, and ``docker push`` records the tag in the local ECR.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from offline.deploy.assembly import REPO_ROOT
from offline.run.faults import FaultPlan
from offline.run.local_aws import LocalAws
from offline.services import codebuild_shims as build_shims
from offline.services.iam.authorizer import AccessDeniedError
from offline.services.iam.enforcement import Iam
from offline.services.iam.sessions import Credentials, RoleNotAssumableError
from offline.services.s3_objects import download

_PHASES = ("install", "pre_build", "build", "post_build")
_PHASE_MARK = "##offline-phase "
_HASH_KEY = re.compile(r"^([0-9a-f]{64})\.zip$")


@dataclass(frozen=True)
class ProjectSpec:
    """The parts of an ``AWS::CodeBuild::Project`` a local build needs (resolved values)."""

    name: str
    source_location: str
    buildspec: str
    environment_variables: list[dict[str, str]]
    timeout_minutes: int = 60
    #: The role CodeBuild assumes for the build (the buildspec's aws calls, the source download, logs).
    service_role: str | None = None
    #: The CloudWatch Logs group the build writes to.
    log_group: str | None = None


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def pascal_case(value: Any) -> Any:
    """CodeBuild API (camelCase) → Step Functions output (PascalCase) keys, recursively."""
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: pascal_case(item) for key, item in value.items()}
    if isinstance(value, list):
        return [pascal_case(item) for item in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


class LocalCodeBuild:
    """Start builds of registered projects and read their records."""

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
        self._workdir = workdir / "builds"
        self._faults = faults
        self._log = log
        self._projects: dict[str, ProjectSpec] = {}
        self._builds: dict[str, dict[str, Any]] = {}
        self._docker_engine = build_shims.docker_engine_available()
        self._shims_lock = threading.Lock()

    def register(self, project: ProjectSpec) -> None:
        self._projects[project.name] = project

    def get(self, build_id: str) -> dict[str, Any]:
        return self._builds[build_id]

    def start(
        self, project_name: str, overrides: list[dict[str, str]] | None = None, *, fail: bool = False
    ) -> dict[str, Any]:
        """Start a build (``StartBuild``); returns its record, IN_PROGRESS."""
        if project_name not in self._projects:
            raise KeyError(f"Project cannot be found: {project_name}")
        project = self._projects[project_name]
        build_id = f"{project_name}:{uuid.uuid4()}"
        variables = _merge_variables(project.environment_variables, overrides or [])
        build: dict[str, Any] = {
            "id": build_id,
            "arn": f"arn:aws:codebuild:{self._aws.region}:{self._aws.account}:build/{build_id}",
            "buildNumber": sum(1 for b in self._builds.values() if b["projectName"] == project_name) + 1,
            "startTime": _now(),
            "currentPhase": "SUBMITTED",
            "buildStatus": "IN_PROGRESS",
            "projectName": project_name,
            "phases": [],
            "source": {"type": "S3", "location": project.source_location},
            "environment": {"type": "LINUX_CONTAINER", "environmentVariables": variables},
            "logs": {"groupName": f"/aws/codebuild/{project_name}", "streamName": build_id.split(":")[1]},
            "buildComplete": False,
            "initiator": "offline",
        }
        self._builds[build_id] = build
        thread = threading.Thread(target=self._run, args=(build, project, variables, fail), daemon=True)
        thread.start()
        return build

    def _run(self, build: dict[str, Any], project: ProjectSpec, variables: list[dict[str, str]], fail: bool) -> None:
        root = self._workdir / build["id"].replace(":", "-")
        source = root / "src"
        try:
            credentials = self._provision(build, project)
            self._phase(build, "DOWNLOAD_SOURCE", lambda: self._download(project, source, variables, credentials))
            if fail:
                # --fail-at: the source arrives without its Dockerfile, which the buildspec checks.
                _remove_dockerfile(source, variables)
            self._run_buildspec(build, project, source, root, variables, credentials)
        except _PhaseFailedError:
            pass
        except Exception as error:
            self._close(build, "FAILED", f"offline build error: {type(error).__name__}: {error}")
            return
        if build["buildStatus"] == "IN_PROGRESS":
            self._close(build, "SUCCEEDED", None)

    def _provision(self, build: dict[str, Any], project: ProjectSpec) -> Credentials | None:
        """Assume the service role and check it can write the build's logs, as CodeBuild does first."""
        if self._iam is None or not project.service_role:
            return None
        holder: list[Credentials] = []

        def check() -> None:
            project_arn = f"arn:aws:codebuild:{self._aws.region}:{self._aws.account}:project/{project.name}"
            try:
                credentials = self._iam_or_fail().assume(
                    str(project.service_role), service="codebuild.amazonaws.com", source_arn=project_arn
                )
            except RoleNotAssumableError as error:
                raise _PhaseFailedError(f"CodeBuild is not authorized to perform: sts:AssumeRole: {error}") from None
            holder.append(credentials)
            group = project.log_group or f"/aws/codebuild/{project.name}"
            stream = build["logs"]["streamName"]
            resource = f"arn:aws:logs:{self._aws.region}:{self._aws.account}:log-group:{group}:log-stream:{stream}"
            try:
                for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
                    self._iam_or_fail().require(credentials, action, resource, via=f"CodeBuild build {build['id']}")
            except AccessDeniedError as denied:
                raise _PhaseFailedError(
                    f"ACCESS_DENIED: Service role {project.service_role} does not allow AWS CodeBuild to create "
                    f"Amazon CloudWatch Logs log streams for build {build['arn']}. {denied}"
                ) from None

        self._phase(build, "PROVISIONING", check)
        return holder[0]

    def _iam_or_fail(self) -> Iam:
        if self._iam is None:
            raise RuntimeError("offline IAM is not running")
        return self._iam

    def _download(
        self, project: ProjectSpec, source: Path, variables: list[dict[str, str]], credentials: Credentials | None
    ) -> None:
        bucket, _, key = project.source_location.partition("/")
        source.mkdir(parents=True, exist_ok=True)
        archive = source.parent / "source.zip"
        s3 = self._iam.client("s3", credentials) if self._iam is not None and credentials else self._aws.client("s3")
        try:
            download(s3, bucket, key, archive)
        except ClientError as error:
            raise _PhaseFailedError(
                f"CLIENT_ERROR: {error.response['Error'].get('Message') or error} for primary source and source "
                f"version {project.source_location}"
            ) from None
        with zipfile.ZipFile(archive) as zipped:
            zipped.extractall(source)
        match = _HASH_KEY.match(key.rsplit("/", 1)[-1])
        tag = _value(variables, "IMAGE_TAG")
        if match and tag is not None and tag != match.group(1):
            raise _PhaseFailedError(f"IMAGE_TAG {tag} is not the hash of the source {key} ({match.group(1)})")

    def _run_buildspec(
        self,
        build: dict[str, Any],
        project: ProjectSpec,
        source: Path,
        root: Path,
        variables: list[dict[str, str]],
        credentials: Credentials | None,
    ) -> None:
        spec = yaml.safe_load(project.buildspec) or {}
        script = ["set -e"]
        for phase in _PHASES:
            commands = (spec.get("phases", {}).get(phase) or {}).get("commands") or []
            if commands:
                script.append(f"echo '{_PHASE_MARK}{phase.upper()}'")
                script.extend(str(command) for command in commands)
        env = self._environment(build, root, variables, spec, credentials)
        log_file = root / "build.log"
        self._phase(build, "INSTALL", lambda: None)
        process = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=source,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=project.timeout_minutes * 60,
            check=False,
        )
        output = process.stdout.decode(errors="replace")
        log_file.write_text(output)
        phases = [line[len(_PHASE_MARK) :] for line in output.splitlines() if line.startswith(_PHASE_MARK)]
        for phase in phases[:-1]:
            self._phase(build, phase, lambda: None)
        last = phases[-1] if phases else "BUILD"
        if process.returncode == 0:
            self._phase(build, last, lambda: None)
            return
        tail = " | ".join(line for line in output.splitlines()[-3:] if not line.startswith(_PHASE_MARK))
        message = f"Error while executing command. Reason: exit status {process.returncode}: {tail}"
        self._phase(build, last, lambda: _fail(message))

    def _shims(self) -> Path:
        """The directory of the ``aws`` and ``docker`` shims the buildspecs run, written once per service.

        Written once, not per build: a script that another thread's ``fork`` catches open for writing
        cannot be executed until that child ``exec``s ("Text file busy"), which failed a build now
        and then when builds ran beside model servers being started. Each is written under a
        temporary name and renamed, so a shim a build may run is never open for writing.
        """
        shims = self._workdir / "shims"
        with self._shims_lock:
            for tool in ("aws", "docker"):
                shim = shims / tool
                if shim.exists():
                    continue
                shims.mkdir(parents=True, exist_ok=True)
                draft = shims / f".{tool}.{uuid.uuid4().hex}"
                command = f'exec "{sys.executable}" -m offline.services.codebuild_shims {tool} "$@"'
                draft.write_text(f"#!/bin/sh\n{command}\n")
                draft.chmod(draft.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
                os.replace(draft, shim)
        return shims

    def _environment(
        self,
        build: dict[str, Any],
        root: Path,
        variables: list[dict[str, str]],
        spec: dict[str, Any],
        credentials: Credentials | None,
    ) -> dict[str, str]:
        shims = self._shims()
        env = {
            **os.environ,
            **{str(k): str(v) for k, v in ((spec.get("env") or {}).get("variables") or {}).items()},
            **{v["name"]: v["value"] for v in variables},
            "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(REPO_ROOT),
            "OFFLINE_REAL_DOCKER": shutil.which("docker") or "",
            "OFFLINE_DOCKER_ENGINE": "1" if self._docker_engine else "0",
            "CODEBUILD_BUILD_ID": build["id"],
            "CODEBUILD_BUILD_ARN": build["arn"],
            "CODEBUILD_BUILD_NUMBER": str(build["buildNumber"]),
            "CODEBUILD_SRC_DIR": str(root / "src"),
            "CODEBUILD_BUILD_SUCCEEDING": "1",
            # The buildspec's aws and docker calls are made as the project's service role.
            **(credentials.environment() if credentials is not None else {}),
        }
        return env

    def _phase(self, build: dict[str, Any], phase: str, action: Callable[[], None]) -> None:
        started = _now()
        build["currentPhase"] = phase
        record: dict[str, Any] = {"phaseType": phase, "startTime": started}
        build["phases"].append(record)
        try:
            action()
        except _PhaseFailedError as failure:
            record.update(_phase_end(started, "FAILED", str(failure)))
            self._close(build, "FAILED", None)
            raise
        record.update(_phase_end(started, "SUCCEEDED", None))

    def _close(self, build: dict[str, Any], status: str, message: str | None) -> None:
        if message:
            build["phases"].append({"phaseType": "FINALIZING", **_phase_end(_now(), "FAILED", message)})
        build["phases"].append({"phaseType": "COMPLETED", "startTime": _now()})
        build["currentPhase"] = "COMPLETED"
        build["endTime"] = _now()
        build["buildComplete"] = True
        build["buildStatus"] = status


class _PhaseFailedError(Exception):
    pass


def _fail(message: str) -> None:
    raise _PhaseFailedError(message)


def _phase_end(started: datetime.datetime, status: str, message: str | None) -> dict[str, Any]:
    ended = _now()
    end: dict[str, Any] = {
        "phaseStatus": status,
        "endTime": ended,
        "durationInSeconds": int((ended - started).total_seconds()),
    }
    if message:
        end["contexts"] = [{"statusCode": "COMMAND_EXECUTION_ERROR", "message": message}]
    return end


def _merge_variables(base: list[dict[str, str]], overrides: list[dict[str, str]]) -> list[dict[str, str]]:
    merged = {
        v["name"]: {"name": v["name"], "value": str(v["value"]), "type": v.get("type", "PLAINTEXT")} for v in base
    }
    for v in overrides:
        merged[v["name"]] = {"name": v["name"], "value": str(v["value"]), "type": v.get("type", "PLAINTEXT")}
    return list(merged.values())


def _value(variables: list[dict[str, str]], name: str) -> str | None:
    return next((v["value"] for v in variables if v["name"] == name), None)


def _remove_dockerfile(source: Path, variables: list[dict[str, str]]) -> None:
    dockerfile = source / (_value(variables, "DOCKERFILE") or "Dockerfile")
    if dockerfile.exists():
        dockerfile.unlink()
