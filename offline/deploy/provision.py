"""Create the synthesized stacks' resources in the local AWS.

Why not moto's CloudFormation: the app's templates carry custom resources, KMS key
policies, IAM conditions, log-retention and cdk-nag metadata, and the bootstrap version
parameter, any of which moto's CloudFormation may reject or half-create. Instead this
module walks the templates and creates only what the pipeline uses (buckets, topic, SSM
parameters, ECR repositories, IAM roles, CodeBuild projects, Lambdas, the state machine,
EventBridge rules) through the public APIs, resolving intrinsics with
``offline.deploy.intrinsics``. Every other resource gets a placeholder physical id and ARN so that
a ``Ref``/``GetAtt`` to it still resolves. Resources are created on first reference, so
cross-resource and cross-stack (``Fn::ImportValue``) order takes care of itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.deploy.assembly import Assembly, FileAsset, StackArtifact
from offline.deploy.intrinsics import IntrinsicError, Pseudo, Resolver
from offline.run.local_aws import LocalAws
from offline.services.codebuild import LocalCodeBuild, ProjectSpec
from offline.services.lambda_runtime import LambdaRuntime, LambdaSpec


class ProvisionError(RuntimeError):
    """A resource the pipeline needs could not be created offline."""


@dataclass
class Deployed:
    """A resource's physical value (what ``Ref`` returns) and its ``GetAtt`` attributes."""

    ref: Any
    attributes: dict[str, Any] = field(default_factory=dict)
    created: bool = True


@dataclass(frozen=True)
class StateMachine:
    arn: str
    name: str
    definition: dict[str, Any]
    stack: str
    logical_id: str


@dataclass(frozen=True)
class Rule:
    name: str
    arn: str
    event_pattern: dict[str, Any] | None
    schedule: str | None
    enabled: bool
    targets: list[dict[str, Any]]


@dataclass
class Deployment:
    """What offline mode needs to know about the resources it created."""

    state_machines: list[StateMachine] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    buckets: dict[str, str] = field(default_factory=dict)
    lambdas: list[LambdaSpec] = field(default_factory=list)
    resources: dict[tuple[str, str], Deployed] = field(default_factory=dict)

    def state_machine(self) -> StateMachine:
        if len(self.state_machines) != 1:
            raise ProvisionError(f"expected one state machine in the app, found {len(self.state_machines)}")
        return self.state_machines[0]

    def lambda_with_handler(self, handler: str) -> LambdaSpec:
        for spec in self.lambdas:
            if spec.handler == handler:
                return spec
        raise ProvisionError(f"no Lambda with handler {handler}; have {', '.join(s.handler for s in self.lambdas)}")


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
    """Creates every resource of an assembly's stacks; ``deploy`` is the entry point."""

    def __init__(self, *, assembly: Assembly, aws: LocalAws, lambdas: LambdaRuntime, codebuild: LocalCodeBuild) -> None:
        self._assembly = assembly
        self._aws = aws
        self._lambdas = lambdas
        self._codebuild = codebuild
        self._in_progress: set[tuple[str, str]] = set()
        self._published: set[str] = set()
        self.deployment = Deployment()
        self._creators: dict[str, Callable[[StackArtifact, str, dict[str, Any], Resolver], Deployed]] = {
            "AWS::S3::Bucket": self._bucket,
            "Custom::S3BucketNotifications": self._bucket_notifications,
            "AWS::SNS::Topic": self._topic,
            "AWS::SQS::Queue": self._queue,
            "AWS::SSM::Parameter": self._parameter,
            "AWS::ECR::Repository": self._repository,
            "AWS::IAM::Role": self._role,
            "AWS::Lambda::Function": self._function,
            "AWS::CodeBuild::Project": self._project,
            "AWS::StepFunctions::StateMachine": self._state_machine,
            "AWS::Events::Rule": self._rule,
        }

    def deploy(self) -> Deployment:
        for stack in self._assembly.stacks:
            for logical_id in stack.resources:
                self.ensure(stack, logical_id)
        return self.deployment

    def resolver(self, stack: StackArtifact) -> Resolver:
        parameters = {name: spec.get("Default") for name, spec in stack.template.get("Parameters", {}).items()}
        return Resolver(
            pseudo=Pseudo(account=self._aws.account, region=self._aws.region, stack_name=stack.name),
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
            creator = self._creators.get(resource["Type"])
            if creator is None or (condition and not resolver.condition(condition)):
                deployed = self._placeholder(stack, logical_id, resource)
            else:
                properties = resolver.resolve(resource.get("Properties", {}))
                deployed = creator(stack, logical_id, properties, resolver)
        finally:
            self._in_progress.discard(key)
        self.deployment.resources[key] = deployed
        return deployed

    def export(self, name: str) -> Any:
        for stack in self._assembly.stacks:
            for output in stack.template.get("Outputs", {}).values():
                export = output.get("Export", {}).get("Name")
                if export is not None and self.resolver(stack).resolve(export) == name:
                    return self.resolver(stack).resolve(output["Value"])
        raise IntrinsicError(f"no stack exports {name}")

    # --- helpers -------------------------------------------------------------------------

    def _name(self, stack: StackArtifact, logical_id: str, *, limit: int = 64, lower: bool = False) -> str:
        """A CloudFormation-style generated physical name: ``<stack>-<logical>-<hash>``."""
        digest = hashlib.sha256(f"{stack.name}/{logical_id}".encode()).hexdigest()[:8]
        base = f"{stack.name}-{logical_id}"[: limit - 9]
        name = f"{base}-{digest}"
        return name.lower() if lower else name

    def _arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:aws:{service}:{self._aws.region if region else ''}:{self._aws.account if account else ''}:{resource}"
        )

    def _placeholder(self, stack: StackArtifact, logical_id: str, resource: dict[str, Any]) -> Deployed:
        service = resource["Type"].split("::")[1].lower() if "::" in resource["Type"] else "custom"
        ref = self._name(stack, logical_id)
        return Deployed(ref=ref, attributes={"Arn": self._arn(service, ref)}, created=False)

    def _asset(self, key: str) -> FileAsset:
        asset = self._assembly.asset_for_key(key)
        if asset is None:
            raise ProvisionError(f"no asset in the assembly is published as {key}")
        return asset

    def _publish(self, bucket: str, key: str) -> None:
        """Upload a file asset to the local bootstrap bucket (zipped if it is a directory)."""
        if f"{bucket}/{key}" in self._published:
            return
        asset = self._asset(key)
        s3 = self._aws.client("s3")
        if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            self._create_bucket(bucket)
        body = _zip_directory(asset.path) if asset.path.is_dir() else asset.path.read_bytes()
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        self._published.add(f"{bucket}/{key}")

    def _create_bucket(self, name: str) -> None:
        s3 = self._aws.client("s3")
        if self._aws.region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self._aws.region})

    # --- resource types ------------------------------------------------------------------

    def _bucket(self, stack: StackArtifact, logical_id: str, props: dict[str, Any], _r: Resolver) -> Deployed:
        name = props.get("BucketName") or self._name(stack, logical_id, limit=63, lower=True)
        self._create_bucket(name)
        s3 = self._aws.client("s3")
        if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        event_bridge = (props.get("NotificationConfiguration") or {}).get("EventBridgeConfiguration")
        if event_bridge is not None and event_bridge.get("EventBridgeEnabled", True):
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
        self.deployment.buckets[logical_id] = name
        return Deployed(
            ref=name,
            attributes={
                "Arn": f"arn:aws:s3:::{name}",
                "DomainName": f"{name}.s3.amazonaws.com",
                "RegionalDomainName": f"{name}.s3.{self._aws.region}.amazonaws.com",
            },
        )

    def _bucket_notifications(
        self, stack: StackArtifact, logical_id: str, props: dict[str, Any], _r: Resolver
    ) -> Deployed:
        if "EventBridgeConfiguration" in (props.get("NotificationConfiguration") or {}):
            self._aws.client("s3").put_bucket_notification_configuration(
                Bucket=props["BucketName"], NotificationConfiguration={"EventBridgeConfiguration": {}}
            )
        return Deployed(ref=self._name(stack, logical_id))

    def _topic(self, stack: StackArtifact, logical_id: str, props: dict[str, Any], _r: Resolver) -> Deployed:
        name = props.get("TopicName") or self._name(stack, logical_id, limit=256)
        arn = self._aws.client("sns").create_topic(Name=name)["TopicArn"]
        self.deployment.topics.append(arn)
        return Deployed(ref=arn, attributes={"TopicArn": arn, "TopicName": name})

    def _queue(self, stack: StackArtifact, logical_id: str, props: dict[str, Any], _r: Resolver) -> Deployed:
        name = props.get("QueueName") or self._name(stack, logical_id, limit=80)
        url = self._aws.client("sqs").create_queue(QueueName=name)["QueueUrl"]
        return Deployed(ref=url, attributes={"Arn": self._arn("sqs", name), "QueueName": name, "QueueUrl": url})

    def _parameter(self, stack: StackArtifact, logical_id: str, props: dict[str, Any], _r: Resolver) -> Deployed:
        name = props.get("Name") or f"CFN-{self._name(stack, logical_id)}"
        self._aws.client("ssm").put_parameter(
            Name=name, Value=str(props["Value"]), Type=props.get("Type", "String"), Overwrite=True
        )
        return Deployed(ref=name, attributes={"Type": props.get("Type", "String"), "Value": props["Value"]})

    def _repository(self, stack: StackArtifact, logical_id: str, props: dict[str, Any], _r: Resolver) -> Deployed:
        name = props.get("RepositoryName") or self._name(stack, logical_id, limit=256, lower=True)
        self._aws.client("ecr").create_repository(repositoryName=name)
        uri = f"{self._aws.account}.dkr.ecr.{self._aws.region}.amazonaws.com/{name}"
        return Deployed(ref=name, attributes={"Arn": self._arn("ecr", f"repository/{name}"), "RepositoryUri": uri})

    def _role(self, stack: StackArtifact, logical_id: str, props: dict[str, Any], _r: Resolver) -> Deployed:
        name = props.get("RoleName") or self._name(stack, logical_id)
        document = props.get("AssumeRolePolicyDocument") or {}
        role = self._aws.client("iam").create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(document), Path=props.get("Path", "/")
        )["Role"]
        return Deployed(ref=name, attributes={"Arn": role["Arn"], "RoleId": role["RoleId"]})

    def _function(self, stack: StackArtifact, logical_id: str, props: dict[str, Any], _r: Resolver) -> Deployed:
        name = props.get("FunctionName") or self._name(stack, logical_id)
        code = props.get("Code") or {}
        asset = self._asset(str(code.get("S3Key"))) if code.get("S3Key") else None
        handler = str(props.get("Handler"))
        if asset is not None and asset.path.is_dir():
            module_file = asset.path / (handler.rpartition(".")[0].replace(".", "/") + ".py")
            if not module_file.exists():
                raise ProvisionError(
                    f"Lambda {logical_id}: the asset {asset.path} has no {module_file.name} for {handler}"
                )
        zipped = _zip_directory(asset.path) if asset is not None and asset.path.is_dir() else _empty_zip()
        environment = {str(k): str(v) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()}
        response = self._aws.client("lambda").create_function(
            FunctionName=name,
            Runtime=props.get("Runtime", "python3.12"),
            Role=props.get("Role") or self._arn("iam", "role/offline", region=False),
            Handler=handler,
            Code={"ZipFile": zipped},
            Timeout=int(props.get("Timeout", 3)),
            MemorySize=int(props.get("MemorySize", 128)),
            Environment={"Variables": environment},
        )
        spec = LambdaSpec(
            function_name=name,
            handler=handler,
            environment=environment,
            timeout_seconds=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            asset_dir=asset.path if asset is not None else None,
        )
        self._lambdas.register(spec)
        self.deployment.lambdas.append(spec)
        return Deployed(ref=name, attributes={"Arn": response["FunctionArn"]})

    def _project(self, stack: StackArtifact, logical_id: str, props: dict[str, Any], _r: Resolver) -> Deployed:
        name = props.get("Name") or self._name(stack, logical_id, limit=150)
        source = props.get("Source") or {}
        location = str(source.get("Location", ""))
        bucket, _, key = location.partition("/")
        if source.get("Type") == "S3" and bucket and key:
            self._publish(bucket, key)
        variables = [
            {"name": v["Name"], "value": str(v["Value"]), "type": v.get("Type", "PLAINTEXT")}
            for v in (props.get("Environment") or {}).get("EnvironmentVariables", [])
        ]
        buildspec = str(source.get("BuildSpec") or "")
        self._codebuild.register(
            ProjectSpec(
                name=name,
                source_location=location,
                buildspec=buildspec,
                environment_variables=variables,
                timeout_minutes=int(props.get("TimeoutInMinutes", 60)),
            )
        )
        return Deployed(ref=name, attributes={"Arn": self._arn("codebuild", f"project/{name}")})

    def _state_machine(self, stack: StackArtifact, logical_id: str, props: dict[str, Any], _r: Resolver) -> Deployed:
        name = props.get("StateMachineName") or self._name(stack, logical_id, limit=80)
        definition = props.get("DefinitionString") or json.dumps(props.get("Definition"))
        for placeholder, value in (props.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + placeholder + "}", str(value))
        definition = without_escaped_quotes(definition)
        role = props.get("RoleArn") or self._arn("iam", "role/offline-states", region=False)
        arn = self._aws.client("stepfunctions").create_state_machine(
            name=name, definition=definition, roleArn=role, type=props.get("StateMachineType", "STANDARD")
        )["stateMachineArn"]
        self.deployment.state_machines.append(StateMachine(arn, name, json.loads(definition), stack.name, logical_id))
        return Deployed(ref=arn, attributes={"Arn": arn, "Name": name})

    def _rule(self, stack: StackArtifact, logical_id: str, props: dict[str, Any], _r: Resolver) -> Deployed:
        name = props.get("Name") or self._name(stack, logical_id)
        events = self._aws.client("events")
        pattern = props.get("EventPattern")
        arguments: dict[str, Any] = {"Name": name, "State": props.get("State", "ENABLED")}
        if pattern is not None:
            arguments["EventPattern"] = json.dumps(pattern)
        if props.get("ScheduleExpression"):
            arguments["ScheduleExpression"] = props["ScheduleExpression"]
        arn = events.put_rule(**arguments)["RuleArn"]
        targets = list(props.get("Targets", []))
        if targets:
            events.put_targets(Rule=name, Targets=[_target_for_api(t) for t in targets])
        self.deployment.rules.append(
            Rule(name, arn, pattern, props.get("ScheduleExpression"), arguments["State"] == "ENABLED", targets)
        )
        return Deployed(ref=name, attributes={"Arn": arn})


def without_escaped_quotes(definition: str) -> str:
    """Replace ``\\'`` (an escaped quote inside an intrinsic function's string) with U+2019.

    AWS accepts ``States.Format('it\\'s {}', ...)``; moto's intrinsic-function lexer cannot
    read the escape and fails the state with States.Runtime. A typographic apostrophe (U+2019) keeps
    the message readable (a documented difference of offline mode).
    """
    return definition.replace("\\\\'", "\u2019")


def _target_for_api(target: dict[str, Any]) -> dict[str, Any]:
    allowed = ("Id", "Arn", "RoleArn", "Input", "InputPath", "InputTransformer", "RetryPolicy", "DeadLetterConfig")
    return {key: target[key] for key in allowed if key in target}


def _zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, str(path.relative_to(directory)))
    return buffer.getvalue()


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "")
    return buffer.getvalue()
