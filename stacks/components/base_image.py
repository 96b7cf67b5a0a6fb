"""The SageMaker scikit-learn framework image our images are built on, resolved at synth.

The sagemaker SDK ships the registry account of every region in its package
data, so ``image_uris`` answers offline. For a region-agnostic stack the
region is only known at deploy time; then the SDK's table becomes a
``CfnMapping`` and CloudFormation picks the row.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, CfnMapping, Fn, Stack, Token
from constructs import Construct

FRAMEWORK = "sklearn"
FRAMEWORK_VERSION = "1.9-0"
REPOSITORY = "sagemaker-scikit-learn"


@dataclass(frozen=True)
class BaseImage:
    """Where the base image lives: the registry to log in to, and the full URI."""

    registry_account: str
    registry: str
    uri: str


def _processor(instance_type: str) -> str:
    family = instance_type.split(".")[1]
    return "gpu" if family.startswith(("p", "g")) else "cpu"


def _registries(instance_type: str) -> dict[str, str]:
    # Imported here: the SDK is large and only synth needs it.
    from sagemaker.core import image_uris

    config = image_uris.config_for_framework(FRAMEWORK)["training"]["versions"][FRAMEWORK_VERSION]
    processors = config["processors"]
    if _processor(instance_type) not in processors:
        raise ValueError(f"the {FRAMEWORK} {FRAMEWORK_VERSION} image has no build for {instance_type}")
    return dict(config["registries"])


def registry_regions() -> frozenset[str]:
    """Every region the SDK's table has a registry for (CPU builds are in the same registries)."""
    return frozenset(_registries("ml.m5.large"))


def resolve_base_image(scope: Construct, *, instance_type: str) -> BaseImage:
    """The region's scikit-learn image for ``instance_type`` (CPU or GPU by its family)."""
    stack = Stack.of(scope)
    tag = f"{FRAMEWORK_VERSION}-{_processor(instance_type)}-py3"
    if not Token.is_unresolved(stack.region):
        from sagemaker.core import image_uris

        uri = image_uris.retrieve(
            FRAMEWORK, region=stack.region, version=FRAMEWORK_VERSION, instance_type=instance_type
        )
        account = uri.split(".", 1)[0]
        registry = uri.split("/", 1)[0]
        return BaseImage(registry_account=account, registry=registry, uri=uri)
    mapping = CfnMapping(
        scope,
        "BaseImageRegistries",
        mapping={region: {"account": account} for region, account in sorted(_registries(instance_type).items())},
    )
    account = mapping.find_in_map(Aws.REGION, "account")
    registry = Fn.join("", [account, ".dkr.ecr.", Aws.REGION, ".", Aws.URL_SUFFIX])
    return BaseImage(registry_account=account, registry=registry, uri=Fn.join("", [registry, f"/{REPOSITORY}:{tag}"]))
