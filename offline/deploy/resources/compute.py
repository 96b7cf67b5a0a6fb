"""What runs code: Lambda functions and CodeBuild projects, with the checks AWS makes on creation.

Lambda refuses a function whose role does not trust ``lambda.amazonaws.com`` ("The role
defined for the function cannot be assumed by Lambda", Lambda API Reference, CreateFunction
errors); CodeBuild refuses a project whose service role does not trust
``codebuild.amazonaws.com`` ("CodeBuild is not authorized to perform: sts:AssumeRole",
CodeBuild User Guide, "Troubleshooting": service role). Offline mode refuses them the same
way, so a broken trust policy fails the deploy as it would in CloudFormation.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from offline.deploy.assembly import StackArtifact
from offline.deploy.deployment import Deployed, ProvisionError
from offline.services.codebuild import ProjectSpec
from offline.services.lambda_runtime import LambdaSpec

if TYPE_CHECKING:
    from offline.deploy.provision import Provisioner


def function(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    name = props.get("FunctionName") or p.name(stack, logical_id)
    code = props.get("Code") or {}
    asset = p.asset(str(code.get("S3Key"))) if code.get("S3Key") else None
    handler = str(props.get("Handler"))
    if asset is not None and asset.path.is_dir():
        module_file = asset.path / (handler.rpartition(".")[0].replace(".", "/") + ".py")
        if not module_file.exists():
            raise ProvisionError(f"Lambda {logical_id}: the asset {asset.path} has no {module_file.name} for {handler}")
    role_arn = str(props.get("Role") or p.arn("iam", "role/offline", region=False))
    if p.iam is not None and not p.iam.sessions.trust(role_arn, service="lambda.amazonaws.com").allowed:
        raise ProvisionError(
            'Resource handler returned message: "The role defined for the function cannot be assumed by Lambda. '
            f'(Service: Lambda, Status Code: 400)" (role {role_arn})'
        )
    zipped = zip_directory(asset.path) if asset is not None and asset.path.is_dir() else empty_zip()
    environment = {str(k): str(v) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()}
    response = p.aws.client("lambda").create_function(
        FunctionName=name,
        Runtime=props.get("Runtime", "python3.12"),
        Role=role_arn,
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
        role_arn=role_arn,
    )
    p.lambdas.register(spec)
    p.deployment.lambdas.append(spec)
    return Deployed(ref=name, attributes={"Arn": response["FunctionArn"]})


def project(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    name = props.get("Name") or p.name(stack, logical_id, limit=150)
    role_arn = str(props.get("ServiceRole", ""))
    if p.iam is not None and not p.iam.sessions.trust(role_arn, service="codebuild.amazonaws.com").allowed:
        raise ProvisionError(f"CodeBuild is not authorized to perform: sts:AssumeRole on {role_arn}")
    source = props.get("Source") or {}
    location = str(source.get("Location", ""))
    bucket, _, key = location.partition("/")
    if source.get("Type") == "S3" and bucket and key:
        p.publish(bucket, key)
    variables = [
        {"name": v["Name"], "value": str(v["Value"]), "type": v.get("Type", "PLAINTEXT")}
        for v in (props.get("Environment") or {}).get("EnvironmentVariables", [])
    ]
    logs = ((props.get("LogsConfig") or {}).get("CloudWatchLogs") or {}).get("GroupName")
    p.codebuild.register(
        ProjectSpec(
            name=name,
            source_location=location,
            buildspec=str(source.get("BuildSpec") or ""),
            environment_variables=variables,
            timeout_minutes=int(props.get("TimeoutInMinutes", 60)),
            service_role=role_arn or None,
            log_group=str(logs) if logs else f"/aws/codebuild/{name}",
        )
    )
    return Deployed(ref=name, attributes={"Arn": p.arn("codebuild", f"project/{name}")})


def zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, str(path.relative_to(directory)))
    return buffer.getvalue()


def empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "")
    return buffer.getvalue()
