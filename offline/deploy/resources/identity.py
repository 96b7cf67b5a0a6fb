"""Roles and their policies, exactly as synthesized, so offline IAM evaluates the app's own policies.

A role gets its trust policy, its inline ``Policies`` and its ``ManagedPolicyArns``; an
``AWS::IAM::Policy`` becomes an inline policy of each role it names (what CloudFormation
does: AWS::IAM::Policy "Roles"), an ``AWS::IAM::ManagedPolicy`` a customer managed policy
attached to its roles. Permissions boundaries are not evaluated (the app sets none; a role
with one is refused here rather than evaluated wrongly).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from offline.deploy.assembly import StackArtifact
from offline.deploy.deployment import Deployed, ProvisionError

if TYPE_CHECKING:
    from offline.deploy.provision import Provisioner


def role(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    if props.get("PermissionsBoundary"):
        raise ProvisionError("offline IAM does not evaluate permissions boundaries; the app sets none")
    name = props.get("RoleName") or p.name(stack, logical_id)
    iam = p.aws.client("iam")
    created = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(props.get("AssumeRolePolicyDocument") or {}),
        Path=props.get("Path", "/"),
    )["Role"]
    for inline in props.get("Policies", []):
        iam.put_role_policy(
            RoleName=name, PolicyName=inline["PolicyName"], PolicyDocument=json.dumps(inline["PolicyDocument"])
        )
    for arn in props.get("ManagedPolicyArns", []):
        iam.attach_role_policy(RoleName=name, PolicyArn=str(arn))
    return Deployed(ref=name, attributes={"Arn": created["Arn"], "RoleId": created["RoleId"]})


def policy(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    iam = p.aws.client("iam")
    name = props.get("PolicyName") or logical_id
    for role_name in props.get("Roles", []):
        iam.put_role_policy(
            RoleName=str(role_name), PolicyName=name, PolicyDocument=json.dumps(props["PolicyDocument"])
        )
    return Deployed(ref=p.name(stack, logical_id))


def managed_policy(p: Provisioner, stack: StackArtifact, logical_id: str, props: dict[str, Any]) -> Deployed:
    iam = p.aws.client("iam")
    name = props.get("ManagedPolicyName") or p.name(stack, logical_id, limit=128)
    arn = iam.create_policy(
        PolicyName=name, Path=props.get("Path", "/"), PolicyDocument=json.dumps(props["PolicyDocument"])
    )["Policy"]["Arn"]
    for role_name in props.get("Roles", []):
        iam.attach_role_policy(RoleName=str(role_name), PolicyArn=arn)
    return Deployed(ref=arn, attributes={"PolicyArn": arn})
