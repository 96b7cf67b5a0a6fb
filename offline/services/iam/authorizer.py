"""Decide one call the way AWS does, from the policies the local AWS holds right now.

The identity policies are the role's inline and attached managed policies in moto's IAM;
the resource policy is the one the resource itself carries in moto (bucket policy, topic
policy, KMS key policy, ECR repository policy). Nothing is cached, so a policy changed from
another shell (``aws iam put-role-policy ...``) applies to the next call, as in AWS.

Every decision is recorded (``records``): the CLI reports denials from it and the tests use
it to see which statement allowed what.

Request context: offline requests travel over plain HTTP to 127.0.0.1, but an AWS SDK talks
HTTPS to AWS, so ``aws:SecureTransport`` is true (otherwise every TLS-only bucket and topic
policy would deny). The other global keys are set as the IAM User Guide's "AWS global
condition context keys" describes them for a role session.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from offline.services.iam.conditions import ContextValue
from offline.services.iam.policy import (
    Evaluation,
    Policy,
    PolicyKind,
    Principal,
    StatementRef,
    denial_message,
    evaluate,
)


class AccessDeniedError(PermissionError):
    """A call AWS would refuse; the message is AWS's "is not authorized to perform" sentence."""

    def __init__(self, principal: Principal, action: str, resource: str, evaluation: Evaluation) -> None:
        super().__init__(denial_message(principal, action, resource, evaluation))
        self.principal = principal
        self.action = action
        self.resource = resource
        self.evaluation = evaluation


@dataclass(frozen=True)
class Decision:
    """One authorization offline mode made."""

    principal: str
    role_arn: str | None
    action: str
    resource: str
    allowed: bool
    reason: str
    allowed_by: tuple[StatementRef, ...]
    via: str


@dataclass
class Authorizer:
    """Evaluates calls against moto's current IAM, S3, SNS, KMS and ECR state."""

    account: str
    region: str
    partition: str = "aws"
    records: list[Decision] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(
        self,
        principal: Principal,
        action: str,
        resource: str,
        context: Mapping[str, ContextValue] | None = None,
        *,
        via: str = "request",
    ) -> Evaluation:
        """Evaluate ``action`` on ``resource`` for ``principal`` and record the decision."""
        resource_policy, kind = self.resource_policy(action, resource)
        evaluation = evaluate(
            principal,
            action,
            resource,
            {**self._global_context(principal), **(context or {})},
            identity=self.identity_policies(principal),
            resource_policy=resource_policy,
            kind=kind,
        )
        record = Decision(
            principal=principal.arn,
            role_arn=principal.role_arn,
            action=action,
            resource=resource,
            allowed=evaluation.allowed,
            reason=evaluation.reason,
            allowed_by=evaluation.allowed_by,
            via=via,
        )
        with self._lock:
            self.records.append(record)
        return evaluation

    def require(
        self,
        principal: Principal,
        action: str,
        resource: str,
        context: Mapping[str, ContextValue] | None = None,
        *,
        via: str = "request",
    ) -> None:
        """Like :meth:`decide`, raising :class:`AccessDeniedError` when AWS would refuse."""
        evaluation = self.decide(principal, action, resource, context, via=via)
        if not evaluation.allowed:
            raise AccessDeniedError(principal, action, resource, evaluation)

    def denials(self) -> list[Decision]:
        with self._lock:
            return [record for record in self.records if not record.allowed]

    # --- policies ------------------------------------------------------------------------

    def identity_policies(self, principal: Principal) -> list[Policy]:
        """The role's inline and attached managed policies (a service principal has none)."""
        if principal.role_arn is None:
            return []
        from moto.iam.models import iam_backends

        backend = iam_backends[self.account][self.partition]
        try:
            role = backend.get_role_by_arn(principal.role_arn)
        except Exception:  # moto's NotFound: a deleted role has no permissions
            return []
        policies = [
            Policy(f"inline policy {name} of role {role.name}", _json(document))
            for name, document in sorted(role.policies.items())
        ]
        for arn, managed in sorted(role.managed_policies.items()):
            version = next(v for v in managed.versions if v.is_default)
            policies.append(Policy(f"managed policy {arn} of role {role.name}", _json(version.document)))
        return policies

    def resource_policy(self, action: str, resource: str) -> tuple[Policy | None, PolicyKind]:
        """The resource's own policy, and how AWS combines it with identity policies."""
        parts = resource.split(":", 5)
        if len(parts) < 6:
            return None, PolicyKind.RESOURCE
        service, account, name = parts[2], parts[4], parts[5]
        if service == "kms":
            return self._key_policy(resource), PolicyKind.KEY
        if service == "s3":
            return self._bucket_policy(name.split("/", 1)[0]), PolicyKind.RESOURCE
        if service == "sns":
            return self._topic_policy(resource), PolicyKind.RESOURCE
        if service == "ecr" and name.startswith("repository/") and account == self.account:
            return self._repository_policy(name.removeprefix("repository/")), PolicyKind.RESOURCE
        return None, PolicyKind.RESOURCE

    def _bucket_policy(self, bucket: str) -> Policy | None:
        from moto.s3.models import s3_backends

        found = s3_backends[self.account][self.partition].buckets.get(bucket)
        if found is None or not found.policy:
            return None
        return Policy(f"bucket policy of {bucket}", _json(found.policy))

    def _topic_policy(self, topic_arn: str) -> Policy | None:
        from moto.sns.models import sns_backends

        topic = sns_backends[self.account][self.region].topics.get(topic_arn)
        if topic is None or not topic.policy:
            return None
        return Policy(f"topic policy of {topic_arn.rsplit(':', 1)[-1]}", _json(topic.policy))

    def _key_policy(self, key_arn: str) -> Policy | None:
        from moto.kms.models import kms_backends

        key = kms_backends[self.account][self.region].keys.get(key_arn.rsplit("/", 1)[-1])
        if key is None:
            return None
        return Policy(f"key policy of {key_arn}", _json(key.policy))

    def _repository_policy(self, name: str) -> Policy | None:
        from moto.ecr.models import ecr_backends

        repository = ecr_backends[self.account][self.region].repositories.get(name)
        if repository is None or not repository.policy:
            return None
        return Policy(f"repository policy of {name}", _json(repository.policy))

    def _global_context(self, principal: Principal) -> dict[str, ContextValue]:
        now = datetime.datetime.now(tz=datetime.UTC)
        context: dict[str, ContextValue] = {
            "aws:SecureTransport": True,
            "aws:PrincipalAccount": principal.account,
            "aws:RequestedRegion": self.region,
            "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:EpochTime": str(int(now.timestamp())),
        }
        if principal.role_arn is not None:
            context["aws:PrincipalArn"] = principal.role_arn
            context["aws:PrincipalType"] = "AssumedRole"
        if principal.service is not None:
            context["aws:PrincipalServiceName"] = principal.service
        return context


def _json(document: Any) -> dict[str, Any]:
    if isinstance(document, bytes):
        document = document.decode()
    return dict(json.loads(document) if isinstance(document, str) else document)
