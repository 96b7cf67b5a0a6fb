"""Synthesize the CDK app and read the cloud assembly it writes.

``synthesize`` does what the CDK CLI does for ``cdk synth -c env=NAME``: it runs ``app.py``
with ``CDK_OUTDIR`` and ``CDK_CONTEXT_JSON`` (cdk.json's ``context`` merged with the
``env`` key). The templates and asset manifests in that directory are the only description
of the infrastructure offline mode uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"


class SynthError(RuntimeError):
    """``app.py`` failed; the message carries its output."""


@dataclass(frozen=True)
class FileAsset:
    """One file asset: where it sits in the assembly and the S3 object it is published as."""

    asset_hash: str
    path: Path
    packaging: str
    bucket_name: str
    object_key: str


@dataclass(frozen=True)
class StackArtifact:
    """One synthesized stack."""

    name: str
    template: dict[str, Any]
    account: str
    region: str
    dependencies: tuple[str, ...] = ()

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.template.get("Resources", {}))


@dataclass
class Assembly:
    """The stacks (in dependency order) and file assets of a cloud assembly directory."""

    directory: Path
    stacks: list[StackArtifact] = field(default_factory=list)
    assets: dict[str, FileAsset] = field(default_factory=dict)

    def stack(self, name: str) -> StackArtifact:
        for stack in self.stacks:
            if stack.name == name:
                return stack
        raise KeyError(f"no stack {name} in {self.directory}; have {', '.join(s.name for s in self.stacks)}")

    def asset_for_key(self, object_key: str) -> FileAsset | None:
        """The asset published under ``object_key`` (``<hash>.zip``), if any."""
        for asset in self.assets.values():
            if asset.object_key == object_key:
                return asset
        return None


def context_for(env_name: str, repo_root: Path = REPO_ROOT) -> dict[str, Any]:
    """cdk.json's ``context`` with ``env`` set, as the CDK CLI passes it to the app."""
    cdk_json = repo_root / "cdk.json"
    context: dict[str, Any] = {}
    if cdk_json.exists():
        context = dict(json.loads(cdk_json.read_text()).get("context", {}))
    context_file = repo_root / "cdk.context.json"
    if context_file.exists():
        context = {**json.loads(context_file.read_text()), **context}
    context["env"] = env_name
    return context


def synthesize(env_name: str, outdir: Path, repo_root: Path = REPO_ROOT) -> Assembly:
    """Run ``app.py`` for ``env_name`` into ``outdir`` and load the result."""
    app = repo_root / "app.py"
    if not app.exists():
        raise SynthError(f"{app} does not exist yet: offline mode runs the synthesized CDK app")
    outdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "CDK_OUTDIR": str(outdir),
        "CDK_CONTEXT_JSON": json.dumps(context_for(env_name, repo_root)),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "JSII_DEPRECATED": "quiet",
    }
    completed = subprocess.run(
        [sys.executable, str(app)], cwd=repo_root, env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise SynthError(f"synth of env {env_name!r} failed:\n{completed.stdout}\n{completed.stderr}")
    return load(outdir)


def load(directory: Path) -> Assembly:
    """Read ``manifest.json`` (and nested assemblies) of a cloud assembly directory."""
    assembly = Assembly(directory=directory)
    _load_into(assembly, directory)
    assembly.stacks = _dependency_order(assembly.stacks)
    return assembly


def _load_into(assembly: Assembly, directory: Path) -> None:
    manifest = json.loads((directory / "manifest.json").read_text())
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        kind = artifact.get("type")
        properties = artifact.get("properties", {})
        if kind == "aws:cloudformation:stack":
            account, region = _environment(artifact.get("environment", ""))
            template = json.loads((directory / properties["templateFile"]).read_text())
            name = properties.get("stackName", artifact_id)
            dependencies = tuple(d for d in artifact.get("dependencies", []) if not d.endswith(".assets"))
            assembly.stacks.append(StackArtifact(name, template, account, region, dependencies))
        elif kind == "cdk:asset-manifest":
            _load_assets(assembly, directory, directory / properties["file"])
        elif kind == "cdk:cloud-assembly":
            _load_into(assembly, directory / properties["directoryName"])


def _environment(environment: str) -> tuple[str, str]:
    """``aws://123456789012/eu-west-1`` → its parts, with defaults for ``unknown-*``."""
    parts = environment.removeprefix("aws://").split("/")
    account = parts[0] if parts and parts[0].isdigit() else DEFAULT_ACCOUNT
    region = parts[1] if len(parts) > 1 and not parts[1].startswith("unknown") else DEFAULT_REGION
    return account, region


def _load_assets(assembly: Assembly, directory: Path, manifest_file: Path) -> None:
    manifest = json.loads(manifest_file.read_text())
    for asset_hash, asset in manifest.get("files", {}).items():
        destination = next(iter(asset.get("destinations", {}).values()), None)
        if destination is None:
            continue
        assembly.assets[asset_hash] = FileAsset(
            asset_hash=asset_hash,
            path=directory / asset["source"]["path"],
            packaging=asset["source"].get("packaging", "file"),
            bucket_name=destination["bucketName"],
            object_key=destination["objectKey"],
        )


def _dependency_order(stacks: list[StackArtifact]) -> list[StackArtifact]:
    by_name = {stack.name: stack for stack in stacks}
    ordered: list[StackArtifact] = []
    seen: set[str] = set()

    def visit(stack: StackArtifact) -> None:
        if stack.name in seen:
            return
        seen.add(stack.name)
        for dependency in stack.dependencies:
            if dependency in by_name:
                visit(by_name[dependency])
        ordered.append(stack)

    for stack in stacks:
        visit(stack)
    return ordered
