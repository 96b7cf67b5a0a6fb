"""Application Auto Scaling offline: moto's backend, plus the service-linked role AWS creates.

moto's ``application-autoscaling`` backend keeps scalable targets and scaling policies and
answers their API (``aws application-autoscaling describe-scalable-targets`` shows what the
deployment state machine registered). What AWS adds, and offline mode reproduces:

* registering a SageMaker variant creates the service-linked role
  ``AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint`` (path
  ``/aws-service-role/sagemaker.application-autoscaling.amazonaws.com/``) when it does not
  exist yet, and the target's ``RoleARN`` is that role (Application Auto Scaling User Guide,
  "Amazon SageMaker AI and Application Auto Scaling" and "Service-linked roles for
  Application Auto Scaling"); creating it needs ``iam:CreateServiceLinkedRole`` of the caller,
  evaluated by ``offline.services.iam.requests``.

Scaling itself is not enacted offline (one model server per endpoint whatever the count):
``offline.services.scaling_advice`` computes and shows what target tracking would decide.
"""

from __future__ import annotations

import json
from typing import Any

#: ServiceNamespace → (the service principal of its service-linked role, the role's name).
SERVICE_LINKED_ROLES = {
    "sagemaker": (
        "sagemaker.application-autoscaling.amazonaws.com",
        "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint",
    ),
}


def service_linked_role_arn(namespace: str, *, account: str, partition: str = "aws") -> str:
    """The ARN of the role Application Auto Scaling uses for ``namespace`` (KeyError if unknown)."""
    principal, name = SERVICE_LINKED_ROLES[namespace]
    return f"arn:{partition}:iam::{account}:role/aws-service-role/{principal}/{name}"


def service_linked_role_exists(namespace: str, *, account: str, partition: str = "aws") -> bool:
    from moto.iam.models import iam_backends

    _, name = SERVICE_LINKED_ROLES[namespace]
    return any(role.name == name for role in iam_backends[account][partition].get_roles())


def ensure_service_linked_role(namespace: str, *, account: str, partition: str = "aws") -> str:
    """Create the namespace's service-linked role if it does not exist yet; its ARN."""
    from moto.iam.models import iam_backends

    principal, name = SERVICE_LINKED_ROLES[namespace]
    if not service_linked_role_exists(namespace, account=account, partition=partition):
        trust = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": [principal]}, "Action": ["sts:AssumeRole"]}],
        }
        iam_backends[account][partition].create_role(
            role_name=name,
            assume_role_policy_document=json.dumps(trust),
            path=f"/aws-service-role/{principal}/",
            permissions_boundary=None,
            description="Service-linked role created by Application Auto Scaling (offline)",
            tags=[],
            max_session_duration="3600",
            linked_service=principal,
        )
    return service_linked_role_arn(namespace, account=account, partition=partition)


def on_registered(target: Any, *, account: str, partition: str = "aws") -> None:
    """After RegisterScalableTarget: the service-linked role exists and is the target's RoleARN."""
    if target.service_namespace in SERVICE_LINKED_ROLES:
        arn = ensure_service_linked_role(target.service_namespace, account=account, partition=partition)
        if not target.role_arn:
            target.role_arn = arn
