"""Stand-ins for the ``aws`` and ``docker`` commands a buildspec calls during an offline build.

``offline.services.codebuild`` runs the project's real buildspec with bash, with a ``bin/`` directory
first on PATH whose ``aws`` and ``docker`` scripts call ``python -m offline.services.codebuild_shims``:

* ``aws ecr get-login-password`` prints a dummy password; ``aws ecr describe-images`` asks
  the local ECR (so the buildspec's own skip-when-unchanged check works);
* ``docker login`` succeeds; ``docker build`` checks the Dockerfile named by ``-f`` exists in
  the build context (and runs the real ``docker build`` when a Docker engine answers);
  ``docker push`` records the tag in the local ECR with ``put_image`` (a placeholder manifest),
  so Initiate's ``describe_images`` finds it on the next run.

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


def _ecr() -> Any:
    # Imported here: most shim calls (docker login, get-login-password) need no SDK, and
    # importing boto3 would triple their start-up time.
    import boto3  # type: ignore[import-untyped, unused-ignore]

    return boto3.client("ecr")


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


def aws(args: list[str]) -> int:
    if args[:2] == ["ecr", "get-login-password"]:
        print("offline-password")
        return 0
    if args[:2] == ["ecr", "describe-images"]:
        repository = _option(args, "--repository-name") or ""
        image_ids = _option(args, "--image-ids") or ""
        tag = image_ids.split("imageTag=", 1)[1] if "imageTag=" in image_ids else None
        from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

        try:
            response = _ecr().describe_images(
                repositoryName=repository, **({"imageIds": [{"imageTag": tag}]} if tag else {})
            )
        except ClientError as error:
            print(f"An error occurred ({error.response['Error']['Code']}): {error}", file=sys.stderr)
            return 254
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


def docker(args: list[str]) -> int:
    command, rest = (args[0], args[1:]) if args else ("", [])
    real = os.environ.get("OFFLINE_REAL_DOCKER")
    engine = os.environ.get("OFFLINE_DOCKER_ENGINE") == "1" and real
    if command == "login":
        sys.stdin.read()
        print("Login Succeeded")
        return 0
    if command == "build":
        dockerfile = _option(rest, "-f", "--file") or "Dockerfile"
        if not os.path.isfile(dockerfile):
            print(f"ERROR: failed to read dockerfile: open {dockerfile}: no such file or directory", file=sys.stderr)
            return 1
        if engine:
            return subprocess.run([str(real), *args], check=False).returncode
        print(f"offline: {dockerfile} found; no Docker engine here, so the image itself is not built")
        return 0
    if command == "push":
        repository, tag = _split_image(rest[-1])
        if engine:
            print("offline: pushing to the local ECR records the tag only")
        digest = hashlib.sha256(rest[-1].encode()).hexdigest()
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 0,
                "digest": f"sha256:{digest}",
            },
            "layers": [],
        }
        _ecr().put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)
        print(f"{tag}: digest: sha256:{digest} size: 0")
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
