"""Which container images a run uses, and whether it has to build them (asked of ECR)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from lambdas.initiate_pipeline.errors import PipelineConfigError
from lambdas.initiate_pipeline.models import CodeVersion, ImageVersion, InitiateSettings

#: Characters of each source hash in the combined code version.
CODE_VERSION_HASH_CHARS = 12
#: ECR's limit on a tag's length.
MAX_IMAGE_TAG = 128


def repository_name(repository_uri: str) -> str:
    """``<acct>.dkr.ecr.<region>.amazonaws.com/<name>`` → ``<name>`` (which may hold slashes)."""
    _host, sep, name = repository_uri.partition("/")
    if not sep or not name:
        raise PipelineConfigError(f"{repository_uri!r} is not an ECR repository URI (<registry>/<name>)")
    return name.split(":", 1)[0].split("@", 1)[0]


def image_tag(source_hash: str) -> str:
    """The image tag for a source hash: the hash itself, limited to ECR's tag characters and length.

    The full hash (a CDK asset hash is 64 hex digits) is used rather than a
    prefix, so the tag the build pushes and the tag looked up here can never
    disagree about how much of the hash to keep.
    """
    tag = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in source_hash.strip())
    return tag[:MAX_IMAGE_TAG].lstrip(".-") or "untagged"


def image_exists(ecr: Any, repository_uri: str, tag: str) -> bool:
    """Whether ECR already holds ``tag`` in the repository of ``repository_uri``."""
    name = repository_name(repository_uri)
    registry = repository_uri.split(".", 1)[0]
    request: dict[str, Any] = {"repositoryName": name, "imageIds": [{"imageTag": tag}]}
    if registry.isdigit():
        request["registryId"] = registry
    try:
        response = ecr.describe_images(**request)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code")
        if code == "ImageNotFoundException":
            return False
        if code == "RepositoryNotFoundException":
            raise PipelineConfigError(f"ECR repository {name!r} ({repository_uri}) does not exist") from err
        raise
    return bool(response.get("imageDetails"))


def image_version(ecr: Any, repository_uri: str, source_hash: str) -> ImageVersion:
    """Where one image lives and whether this run has to build it."""
    tag = image_tag(source_hash)
    uri = repository_uri.split("@", 1)[0]
    return ImageVersion(
        source_hash=source_hash,
        image_uri=f"{uri}:{tag}",
        image_tag=tag,
        build_needed=not image_exists(ecr, repository_uri, tag),
    )


def code_version(ecr: Any, settings: InitiateSettings) -> CodeVersion:
    """Both images plus ``<training hash>-<inference hash>`` (each cut to 12 characters)."""
    training = image_version(ecr, settings.training_repository_uri, settings.training_source_hash)
    inference = image_version(ecr, settings.inference_repository_uri, settings.inference_source_hash)
    version = f"{training.image_tag[:CODE_VERSION_HASH_CHARS]}-{inference.image_tag[:CODE_VERSION_HASH_CHARS]}"
    return CodeVersion(training=training, inference=inference, version=version)
