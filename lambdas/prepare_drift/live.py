"""What SageMaker, S3 and ECR say: the version the endpoint serves, what was captured, the job's image.

The live version is found the way ``resolve_deployment`` finds it: DescribeEndpoint → its
config's first production variant → DescribeModel → the container's ``ModelPackageName``
(SageMaker API Reference, ContainerDefinition) → DescribeModelPackage for the artifact
(``model.tar.gz``, which holds the training baseline). The Lambda ships without the other
functions' code, so the few lines are repeated here rather than imported.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from lambdas.prepare_drift.models import LiveModel

#: Endpoint statuses in which it serves nothing (SageMaker API Reference, DescribeEndpoint).
NOT_SERVING = ("Failed", "Deleting", "OutOfService")
#: ECR's limit on a tag's length.
MAX_IMAGE_TAG = 128
#: One ListObjectsV2 page: enough to see past the console's zero-byte "folder" placeholders.
LIST_PAGE = 100


class NoLiveModelError(Exception):
    """The endpoint serves no registered version; the message says why, in a few words."""


def _not_found(error: ClientError) -> bool:
    # SageMaker answers a missing endpoint, config or model with ValidationException "Could not find ...".
    details = error.response.get("Error", {})
    return details.get("Code") == "ValidationException" and "could not find" in str(details.get("Message")).lower()


def version_of(package_arn: str) -> str:
    """The version of ``.../model-package/<group>/<version>``."""
    return package_arn.rstrip("/").rsplit("/", 1)[-1]


def live_model(sagemaker: Any, endpoint_name: str) -> LiveModel:
    """The registered version the endpoint serves, with its artifact; :class:`NoLiveModelError` when there is none."""
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as error:
        if _not_found(error):
            raise NoLiveModelError(f"no live model: endpoint {endpoint_name} does not exist") from None
        raise
    status = endpoint.get("EndpointStatus")
    if status in NOT_SERVING:
        raise NoLiveModelError(f"no live model: endpoint {endpoint_name} is {status}")
    config_name = str(endpoint["EndpointConfigName"])
    try:
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        variants = config.get("ProductionVariants") or []
        model_name = variants[0].get("ModelName") if variants else None
        if not model_name:
            raise NoLiveModelError(f"no live model: endpoint config {config_name} names no model")
        model = sagemaker.describe_model(ModelName=model_name)
    except ClientError as error:
        if _not_found(error):
            raise NoLiveModelError(f"no live model: the model behind endpoint config {config_name} is gone") from None
        raise
    container: dict[str, Any] = model.get("PrimaryContainer") or next(iter(model.get("Containers") or []), {})
    package_arn = container.get("ModelPackageName")
    if not package_arn:
        raise NoLiveModelError(f"no registered version: model {model_name} was not made from a model package")
    try:
        package = sagemaker.describe_model_package(ModelPackageName=str(package_arn))
    except ClientError as error:
        if _not_found(error) or error.response.get("Error", {}).get("Code") == "ResourceNotFound":
            raise NoLiveModelError(f"no registered version: model package {package_arn} is gone") from None
        raise
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    model_data_url = containers[0].get("ModelDataUrl") if containers else None
    version = package.get("ModelPackageVersion")
    return LiveModel(
        endpoint_config=config_name,
        model=str(model_name),
        package_arn=str(package_arn),
        version=str(version) if version is not None else version_of(str(package_arn)),
        model_data_url=str(model_data_url) if model_data_url else None,
    )


def has_objects(s3: Any, bucket: str, prefix: str) -> bool:
    """Whether any object (not a zero-byte "folder" placeholder) lies under ``prefix``.

    A Processing input whose prefix holds no object fails: SageMaker answers "No S3 objects found
    under S3 URL ..." (as it does for training and transform inputs), so empty inputs are left out.
    """
    page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=LIST_PAGE)
    return any(not str(item["Key"]).endswith("/") for item in page.get("Contents", []))


def image_tag(source_hash: str) -> str:
    """The tag the image build pushes for a source hash: the same rule as ``initiate_pipeline.images``."""
    tag = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in source_hash.strip())
    return tag[:MAX_IMAGE_TAG].lstrip(".-") or "untagged"


def image_exists(ecr: Any, repository_uri: str, tag: str) -> bool:
    """Whether ECR holds ``tag`` in the repository of ``repository_uri`` (``<registry>/<name>``)."""
    registry, _, name = repository_uri.split("@", 1)[0].partition("/")
    request: dict[str, Any] = {"repositoryName": name.split(":", 1)[0], "imageIds": [{"imageTag": tag}]}
    account = registry.split(".", 1)[0]
    if account.isdigit():
        request["registryId"] = account
    try:
        return bool(ecr.describe_images(**request).get("imageDetails"))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ImageNotFoundException":
            return False
        raise
