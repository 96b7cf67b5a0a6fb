"""Stand-ins for the ``aws`` and ``docker`` commands a buildspec calls during an offline build.

``offline.services.codebuild`` runs the project's real buildspec with bash, with a ``bin/``
directory first on PATH whose ``aws`` and ``docker`` scripts call
``python -m offline.services.codebuild_shims``. Every ECR interaction is a real call to the
local ECR, signed with the project's service-role session from the environment, so offline
IAM evaluates what the real tools would need (ECR User Guide, "Private repository policies"
and "Pushing a Docker image" / "Pulling an image"):

* ``aws ecr get-login-password``: GetAuthorizationToken;
* ``aws ecr describe-images``: DescribeImages (the buildspec's skip-when-unchanged check);
  errors print as the aws CLI prints them and exit 254;
* ``docker login``: accepted; ``docker build``: checks the Dockerfile named by ``-f`` exists
  and pulls ``--build-arg BASE_IMAGE`` (BatchGetImage, GetDownloadUrlForLayer on the base
  image's repository, which lives in AWS's own account and so is not in the local ECR);
  runs the real ``docker build`` when a Docker engine answers;
* ``docker push``: BatchCheckLayerAvailability, InitiateLayerUpload, UploadLayerPart,
  CompleteLayerUpload and PutImage with a placeholder manifest, so Initiate's
  ``describe_images`` finds the tag on the next run; an existing tag of an immutable
  repository is refused as ECR refuses it.

Any other command exits 2 with a message naming it, so a buildspec change that needs more
is noticed rather than silently skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

#: What the aws CLI exits with when the service answered an error.
AWS_CLI_SERVICE_ERROR = 254


def _ecr() -> Any:
    # Imported here: most shim calls (docker login) need no SDK, and importing boto3 would
    # triple their start-up time.
    import boto3  # type: ignore[import-untyped, unused-ignore]
    from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

    # One attempt: the pull probes hit operations the local ECR lacks (its 500 is not retried).
    return boto3.client("ecr", config=Config(retries={"max_attempts": 1, "mode": "standard"}))


def _option(args: Sequence[str], *names: str) -> str | None:
    for index, arg in enumerate(args):
        for name in names:
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _split_image(image: str) -> tuple[str, str]:
    """``123.dkr.ecr.r.amazonaws.com/repo:tag`` → ``("repo", "tag")``."""
    path = image.split("/", 1)[1] if "/" in image else image
    repository, _, tag = path.rpartition(":") if ":" in path else (path, "", "latest")
    return repository, tag or "latest"


def _registry(image: str) -> str | None:
    """The registry (account) id of an ECR image URI, if it is one."""
    host = image.split("/", 1)[0]
    account = host.split(".", 1)[0]
    return account if account.isdigit() and ".dkr.ecr." in host else None


def _call(operation: str, **parameters: Any) -> tuple[Any, str | None]:
    """(response, None) or (None, the error as the aws CLI prints it)."""
    from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

    try:
        return getattr(_ecr(), operation)(**parameters), None
    except ClientError as error:
        code = error.response["Error"]["Code"]
        name = error.operation_name
        return (
            None,
            f"An error occurred ({code}) when calling the {name} operation: {error.response['Error']['Message']}",
        )


def aws(args: list[str]) -> int:
    if args[:2] == ["ecr", "get-login-password"]:
        response, error = _call("get_authorization_token")
        if error:
            print(error, file=sys.stderr)
            return AWS_CLI_SERVICE_ERROR
        print(response["authorizationData"][0]["authorizationToken"])
        return 0
    if args[:2] == ["ecr", "describe-images"]:
        repository = _option(args, "--repository-name") or ""
        image_ids = _option(args, "--image-ids") or ""
        tag = image_ids.split("imageTag=", 1)[1] if "imageTag=" in image_ids else None
        response, error = _call(
            "describe_images", repositoryName=repository, **({"imageIds": [{"imageTag": tag}]} if tag else {})
        )
        if error:
            print(error, file=sys.stderr)
            return AWS_CLI_SERVICE_ERROR
        print(json.dumps({"imageDetails": response["imageDetails"]}, default=str))
        return 0
    print(f"offline aws shim: unsupported command 'aws {' '.join(args)}'", file=sys.stderr)
    return 2


def docker_engine_available() -> bool:
    """Whether a Docker engine answers (``docker info`` succeeds)."""
    real = os.environ.get("OFFLINE_REAL_DOCKER") or shutil.which("docker")
    if not real:
        return False
    try:
        return subprocess.run([real, "info"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _pull(image: str) -> str | None:
    """Authorize pulling ``image`` as ECR would; None when allowed, else docker's error."""
    registry = _registry(image)
    if registry is None:
        return None
    repository, tag = _split_image(image)
    for operation, parameters in (
        ("batch_get_image", {"imageIds": [{"imageTag": tag}]}),
        ("get_download_url_for_layer", {"layerDigest": "sha256:" + "0" * 64}),
    ):
        _, error = _call(operation, registryId=registry, repositoryName=repository, **parameters)
        # The base image lives in AWS's account, not in the local ECR: only a refusal matters.
        if error and "AccessDenied" in error:
            return f"failed to resolve source metadata for {image}: pull access denied: {error}"
    return None


def _push(image: str) -> str | None:
    """Push ``image`` to the local ECR; None when pushed, else docker's error."""
    repository, tag = _split_image(image)
    digest = "sha256:" + hashlib.sha256(image.encode()).hexdigest()
    _, error = _call("batch_check_layer_availability", repositoryName=repository, layerDigests=[digest])
    if error:
        return f"denied: {error}"
    upload, error = _call("initiate_layer_upload", repositoryName=repository)
    if error:
        return f"denied: {error}"
    upload_id = upload["uploadId"]
    for operation, parameters in (
        ("upload_layer_part", {"partFirstByte": 0, "partLastByte": 0, "layerPartBlob": b"\0"}),
        ("complete_layer_upload", {"layerDigests": [digest]}),
    ):
        _, error = _call(operation, repositoryName=repository, uploadId=upload_id, **parameters)
        if error and "AccessDenied" in error:
            return f"denied: {error}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 0, "digest": digest},
        "layers": [],
    }
    _, error = _call("put_image", repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)
    if error:
        return error
    print(f"{tag}: digest: {digest} size: 0")
    return None


def docker(args: list[str]) -> int:
    command, rest = (args[0], args[1:]) if args else ("", [])
    real = os.environ.get("OFFLINE_REAL_DOCKER")
    engine = os.environ.get("OFFLINE_DOCKER_ENGINE") == "1" and real
    if command == "login":
        if not sys.stdin.read().strip():
            # What docker says when `aws ecr get-login-password` failed and piped nothing.
            print("Error: Cannot perform an interactive login from a non TTY device", file=sys.stderr)
            return 1
        print("Login Succeeded")
        return 0
    if command == "build":
        dockerfile = _option(rest, "-f", "--file") or "Dockerfile"
        if not os.path.isfile(dockerfile):
            print(f"ERROR: failed to read dockerfile: open {dockerfile}: no such file or directory", file=sys.stderr)
            return 1
        base = next((a.split("=", 1)[1] for a in rest if a.startswith("BASE_IMAGE=")), None)
        refused = _pull(base) if base else None
        if refused:
            print(f"ERROR: {refused}", file=sys.stderr)
            return 1
        if engine:
            return subprocess.run([str(real), *args], check=False).returncode
        print(f"offline: {dockerfile} found; no Docker engine here, so the image itself is not built")
        return 0
    if command == "push":
        refused = _push(rest[-1])
        if refused:
            print(refused, file=sys.stderr)
            return 1
        return 0
    if command == "tag":
        return subprocess.run([str(real), *args], check=False).returncode if engine else 0
    print(f"offline docker shim: unsupported command 'docker {' '.join(args)}'", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    tool, args = argv[0], argv[1:]
    return aws(args) if tool == "aws" else docker(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
