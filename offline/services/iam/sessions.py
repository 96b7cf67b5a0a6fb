"""Who calls: a role session for every principal of the app, obtained the way AWS obtains it.

In AWS every principal of this app is a role that a service assumes: Lambda a function's
execution role, Step Functions a state machine's role, CodeBuild a project's service role,
SageMaker the execution role passed to a job or a model, EventBridge a target's role. The
service may assume the role only if the role's trust policy allows that service principal,
with the context keys the service supplies (``aws:SourceAccount``, ``aws:SourceArn``).
Sources: IAM User Guide, "Terms and concepts for roles" (trust policy) and "The confused
deputy problem" (aws:SourceArn / aws:SourceAccount in trust policies).

``Sessions.assume`` evaluates the trust policy held by moto's IAM, then creates the session
with moto's STS, so the principal's code signs its requests with keys that moto's server
resolves back to the role (``offline.services.iam.enforcement``). Sessions are cached per
(role, service, source ARN), as a warm service would reuse them.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass

from offline.services.iam.policy import Evaluation, Policy, PolicyKind, Principal, denial_message, evaluate

#: How long a session lasts (AWS's default for role sessions a service creates: one hour).
SESSION_SECONDS = 3600


class RoleNotAssumableError(RuntimeError):
    """A service could not assume a role: it does not exist, or its trust policy does not allow the service."""


@dataclass(frozen=True)
class Credentials:
    """The temporary keys of one role session."""

    access_key_id: str
    secret_access_key: str
    session_token: str

    def environment(self) -> dict[str, str]:
        """The variables an AWS SDK or the aws CLI reads its credentials from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }

    def client_arguments(self) -> dict[str, str]:
        """Keyword arguments for ``boto3.client``."""
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }


class Sessions:
    """Role sessions of one local AWS account, created through moto's STS after a trust check."""

    def __init__(self, *, account: str, region: str, partition: str = "aws") -> None:
        self.account = account
        self.region = region
        self.partition = partition
        self._cache: dict[tuple[str, str, str | None], Credentials] = {}
        self._lock = threading.Lock()

    def assume(
        self, role_arn: str, *, service: str, session_name: str | None = None, source_arn: str | None = None
    ) -> Credentials:
        """The session ``service`` gets for ``role_arn``; raises :class:`RoleNotAssumableError`."""
        key = (role_arn, service, source_arn)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        evaluation = self.trust(role_arn, service=service, source_arn=source_arn)
        if not evaluation.allowed:
            principal = Principal.of_service(service, self.account)
            raise RoleNotAssumableError(denial_message(principal, "sts:AssumeRole", role_arn, evaluation))
        from moto.sts.models import sts_backends

        session = sts_backends[self.account][self.partition].assume_role(
            region_name=self.region,
            role_session_name=session_name or secrets.token_hex(16),
            role_arn=role_arn,
            policy="",
            duration=SESSION_SECONDS,
            external_id="",
        )
        credentials = Credentials(session.access_key_id, session.secret_access_key, session.session_token)
        with self._lock:
            self._cache[key] = credentials
        return credentials

    def trust(self, role_arn: str, *, service: str, source_arn: str | None = None) -> Evaluation:
        """Whether the role's trust policy lets ``service`` assume it (with the context the service supplies)."""
        document = self._trust_policy(role_arn)
        context: dict[str, str | bool | int | float | list[str]] = {"aws:SourceAccount": self.account}
        if source_arn is not None:
            context["aws:SourceArn"] = source_arn
        return evaluate(
            Principal.of_service(service, self.account),
            "sts:AssumeRole",
            role_arn,
            context,
            resource_policy=Policy(f"trust policy of role {role_arn.rsplit('/', 1)[-1]}", document),
            kind=PolicyKind.TRUST,
        )

    def principal(self, access_key_id: str) -> Principal | None:
        """The role session that owns ``access_key_id``, if moto's STS issued it."""
        from moto.sts.models import sts_backends

        for session in sts_backends[self.account][self.partition].assumed_roles:
            if session.access_key_id == access_key_id:
                return Principal(arn=session.arn, account=self.account, role_arn=session.role_arn)
        return None

    def _trust_policy(self, role_arn: str) -> dict[str, object]:
        from moto.iam.models import iam_backends

        try:
            role = iam_backends[self.account][self.partition].get_role_by_arn(role_arn)
        except Exception as error:  # moto raises its own NotFound type
            raise RoleNotAssumableError(f"role {role_arn} does not exist") from error
        document = role.assume_role_policy_document
        return dict(json.loads(document) if isinstance(document, str) else document)
