"""A local AWS with offline IAM enforcing, and helpers to make roles and sessions in it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from offline import moto_patches
from offline.run.active import activate
from offline.run.local_aws import ACCESS_KEY, LocalAws, running_moto
from offline.services.iam.enforcement import Iam
from offline.services.iam.sessions import Credentials
from tests.offline.services_stub import bare_services

ACCOUNT = "123456789012"
REGION = "us-east-1"


def trust(service: str, **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def allow(actions: list[str], resources: list[str] | str, **extra: Any) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources, **extra}],
    }


@dataclass
class LocalIam:
    aws: LocalAws
    iam: Iam

    def role(self, name: str, *, service: str = "lambda.amazonaws.com", policy: dict[str, Any] | None = None) -> str:
        client = self.aws.client("iam")
        arn = str(client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust(service)))["Role"]["Arn"])
        if policy is not None:
            client.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=json.dumps(policy))
        return arn

    def session(self, role_arn: str, *, service: str = "lambda.amazonaws.com") -> Credentials:
        return self.iam.assume(role_arn, service=service)

    def client_as(self, service: str, credentials: Credentials) -> Any:
        return self.iam.client(service, credentials)


@pytest.fixture
def local_iam() -> Iterator[LocalIam]:
    """moto in server mode with offline mode's patches, offline IAM on and nothing else running."""
    with running_moto(account=ACCOUNT, region=REGION) as aws:
        moto_patches.install()
        iam = Iam(account=ACCOUNT, region=REGION, endpoint_url=aws.endpoint_url, operator_key=ACCESS_KEY)
        # Only IAM is exercised: the other services of offline mode are not needed here.
        activate(bare_services(iam=iam))
        try:
            yield LocalIam(aws, iam)
        finally:
            activate(None)
