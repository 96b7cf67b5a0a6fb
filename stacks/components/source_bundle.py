"""Assets made of a few repository folders, copied without Docker.

The Lambda assets and the CodeBuild source assets each need a subset of the
repository with its layout intact (``lambdas/<name>/`` next to
``training/feature_schema.py``), so that imports are the same in tests,
offline mode and AWS. CDK's *local* bundling copies that subset into the
asset directory at synth; no Docker image is ever pulled (the image named in
the options is never used because local bundling always succeeds).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling

REPO_ROOT = Path(__file__).resolve().parents[2]
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", "*.egg-info")


@jsii.implements(ILocalBundling)
class _CopyRepoPaths:
    """Copies repository-relative files and folders into the bundling output."""

    def __init__(self, paths: Sequence[str]) -> None:
        self._paths = tuple(paths)

    def try_bundle(self, output_dir: str, options: Any) -> bool:
        out = Path(output_dir)
        for relative in self._paths:
            source = REPO_ROOT / relative
            target = out / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, ignore=_IGNORED, dirs_exist_ok=True)
            elif source.is_file():
                shutil.copy2(source, target)
            else:
                raise FileNotFoundError(f"asset source {source} does not exist")
        return True


def repo_subset_bundling(paths: Sequence[str]) -> dict[str, Any]:
    """Keyword arguments for ``Code.from_asset`` / ``Asset`` that package ``paths`` locally.

    The asset hash is taken from the bundled output, so the hash (and the image
    tag built from it) changes exactly when one of the copied files does.
    """
    return {
        "path": str(REPO_ROOT / paths[0]),
        "asset_hash_type": AssetHashType.OUTPUT,
        "bundling": BundlingOptions(
            image=DockerImage.from_registry("local-bundling-only"),
            # jsii hands the options struct over positionally, so the Python signature differs from the stub.
            local=_CopyRepoPaths(paths),  # type: ignore[arg-type]
        ),
    }


#: What every Lambda asset holds besides its own handler package.
LAMBDA_SHARED_PATHS = ("lambdas/__init__.py", "lambdas/common", "training/__init__.py", "training/feature_schema.py")

#: The source of each container image; the Dockerfiles build with this asset as context.
#: The training image also runs the evaluation job, which loads models with the serving loader.
TRAINING_IMAGE_PATHS = ("training", "inference/__init__.py", "inference/model.py")
INFERENCE_IMAGE_PATHS = ("inference", "training/__init__.py", "training/feature_schema.py")
