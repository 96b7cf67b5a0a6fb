"""Create the synthesized stacks' resources in the local AWS, as CloudFormation would.

Why not moto's CloudFormation: the app's templates carry custom resources, KMS key
policies, IAM conditions, log-retention and cdk-nag metadata, and the bootstrap version
parameter, any of which moto's CloudFormation may reject or half-create. Instead this
module walks the templates and creates what the pipeline uses through the public APIs
(``offline.deploy.resources``: one module per family of resource types), resolving
intrinsics with ``offline.deploy.intrinsics``. Every other resource gets a placeholder
physical id and ARN so that a ``Ref``/``GetAtt`` to it still resolves. Resources are created
on first reference, so cross-resource and cross-stack (``Fn::ImportValue``) order takes care
of itself.

Creating a resource also runs the checks AWS makes at that moment with IAM (a function's
role must trust Lambda, a state machine's role must be able to create its managed rules,
...): a failure stops the deploy with a message like CloudFormation's CREATE_FAILED.
"""

from __future__ import annotations

import hashlib
from typing import Any

from offline.deploy.assembly import Assembly, FileAsset, StackArtifact
from offline.deploy.deployment import Deployed, Deployment, ProvisionError, Rule, StateMachine
from offline.deploy.intrinsics import IntrinsicError, Pseudo, Resolver
from offline.deploy.resources import CREATORS
from offline.deploy.resources.compute import zip_directory
from offline.deploy.resources.orchestration import without_escaped_quotes
from offline.run.local_aws import LocalAws
from offline.services.cloudformation import StackOutput, register_stacks
from offline.services.codebuild import LocalCodeBuild
from offline.services.iam.enforcement import Iam
from offline.services.lambda_runtime import LambdaRuntime

__all__ = ["Deployed", "Deployment", "ProvisionError", "Provisioner", "Rule", "StateMachine", "without_escaped_quotes"]


class _StackLookup:
    """The ``Lookup`` the resolver uses for one stack: creates resources on first reference."""

    def __init__(self, provisioner: Provisioner, stack: StackArtifact) -> None:
        self._provisioner = provisioner
        self._stack = stack

    def ref(self, logical_id: str) -> Any:
        return self._provisioner.ensure(self._stack, logical_id).ref

    def get_att(self, logical_id: str, attribute: str) -> Any:
        deployed = self._provisioner.ensure(self._stack, logical_id)
        if attribute in deployed.attributes:
            return deployed.attributes[attribute]
        if not deployed.created:
            return f"{deployed.ref}.{attribute}"
        raise IntrinsicError(f"{self._stack.name}/{logical_id} has no attribute {attribute} offline")

    def import_value(self, export_name: str) -> Any:
        return self._provisioner.export(export_name)


class Provisioner:
    """Creates every resource of an assembly's stacks; ``deploy`` is the entry point.

    The creators in ``offline.deploy.resources`` receive the provisioner and use its public
    members: ``aws``, ``iam``, ``lambdas``, ``codebuild``, ``deployment``, ``name``, ``arn``,
    ``publish`` and ``asset``.
    """

    def __init__(
        self, *, assembly: Assembly, aws: LocalAws, lambdas: LambdaRuntime, codebuild: LocalCodeBuild, iam: Iam | None
    ) -> None:
        self.assembly = assembly
        self.aws = aws
        self.lambdas = lambdas
        self.codebuild = codebuild
        self.iam = iam
        self.deployment = Deployment()
        self._in_progress: set[tuple[str, str]] = set()
        self._published: set[str] = set()

    def deploy(self) -> Deployment:
        for stack in self.assembly.stacks:
            for logical_id in stack.resources:
                self.ensure(stack, logical_id)
        for stack in self.assembly.stacks:
            self.deployment.outputs[stack.name] = self._outputs(stack)
        register_stacks(account=self.aws.account, region=self.aws.region, stacks=self.deployment.outputs)
        return self.deployment

    def _outputs(self, stack: StackArtifact) -> list[StackOutput]:
        resolver = self.resolver(stack)
        outputs = []
        for key, output in stack.template.get("Outputs", {}).items():
            if output.get("Condition") and not resolver.condition(output["Condition"]):
                continue
            export = output.get("Export", {}).get("Name")
            outputs.append(
                StackOutput(
                    key=key,
                    value=str(resolver.resolve(output["Value"])),
                    description=output.get("Description"),
                    export_name=str(resolver.resolve(export)) if export is not None else None,
                )
            )
        return outputs

    def resolver(self, stack: StackArtifact) -> Resolver:
        parameters = {name: spec.get("Default") for name, spec in stack.template.get("Parameters", {}).items()}
        return Resolver(
            pseudo=Pseudo(account=self.aws.account, region=self.aws.region, stack_name=stack.name),
            lookup=_StackLookup(self, stack),
            parameters=parameters,
            mappings=stack.template.get("Mappings", {}),
            conditions=stack.template.get("Conditions", {}),
        )

    def ensure(self, stack: StackArtifact, logical_id: str) -> Deployed:
        key = (stack.name, logical_id)
        if key in self.deployment.resources:
            return self.deployment.resources[key]
        resource = stack.resources.get(logical_id)
        if resource is None:
            raise IntrinsicError(f"{stack.name} has no resource or parameter {logical_id}")
        if key in self._in_progress:
            raise ProvisionError(f"circular reference while creating {stack.name}/{logical_id}")
        self._in_progress.add(key)
        try:
            resolver = self.resolver(stack)
            condition = resource.get("Condition")
            creator = CREATORS.get(resource["Type"])
            if creator is None or (condition and not resolver.condition(condition)):
                deployed = self._placeholder(stack, logical_id, resource)
            else:
                properties = resolver.resolve(resource.get("Properties", {}))
                deployed = creator(self, stack, logical_id, properties)
        except ProvisionError as error:
            if str(error).startswith(f"{stack.name}/"):
                raise
            raise ProvisionError(f"{stack.name}/{logical_id} ({resource['Type']}) CREATE_FAILED: {error}") from None
        finally:
            self._in_progress.discard(key)
        self.deployment.resources[key] = deployed
        return deployed

    def export(self, name: str) -> Any:
        for stack in self.assembly.stacks:
            for output in stack.template.get("Outputs", {}).values():
                export = output.get("Export", {}).get("Name")
                if export is not None and self.resolver(stack).resolve(export) == name:
                    return self.resolver(stack).resolve(output["Value"])
        raise IntrinsicError(f"no stack exports {name}")

    # --- helpers for the creators --------------------------------------------------------

    def name(self, stack: StackArtifact, logical_id: str, *, limit: int = 64, lower: bool = False) -> str:
        """A CloudFormation-style generated physical name: ``<stack>-<logical>-<hash>``."""
        digest = hashlib.sha256(f"{stack.name}/{logical_id}".encode()).hexdigest()[:8]
        base = f"{stack.name}-{logical_id}"[: limit - 9]
        name = f"{base}-{digest}"
        return name.lower() if lower else name

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        region_part = self.aws.region if region else ""
        account_part = self.aws.account if account else ""
        return f"arn:aws:{service}:{region_part}:{account_part}:{resource}"

    def asset(self, key: str) -> FileAsset:
        asset = self.assembly.asset_for_key(key)
        if asset is None:
            raise ProvisionError(f"no asset in the assembly is published as {key}")
        return asset

    def publish(self, bucket: str, key: str) -> None:
        """Upload a file asset to the local bootstrap bucket (zipped if it is a directory)."""
        if f"{bucket}/{key}" in self._published:
            return
        asset = self.asset(key)
        s3 = self.aws.client("s3")
        if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            self.create_bucket(bucket)
        body = zip_directory(asset.path) if asset.path.is_dir() else asset.path.read_bytes()
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        self._published.add(f"{bucket}/{key}")

    def create_bucket(self, name: str) -> None:
        s3 = self.aws.client("s3")
        if self.aws.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.aws.region})

    def _placeholder(self, stack: StackArtifact, logical_id: str, resource: dict[str, Any]) -> Deployed:
        service = resource["Type"].split("::")[1].lower() if "::" in resource["Type"] else "custom"
        ref = self.name(stack, logical_id)
        return Deployed(ref=ref, attributes={"Arn": self.arn(service, ref)}, created=False)
