"""Offline IAM for one local AWS: sessions for the app's principals, and every call evaluated.

Three ways a call is evaluated, all against the same policies:

* **requests to moto's server** (``authorize_moto_request``): moto resolves the signing key
  and checks the signature as it always does (its access-control module); offline mode
  then evaluates the request's action, resources and dependent actions
  (``offline.services.iam.requests``) with ``offline.services.iam.authorizer`` and answers
  a refusal in the service's own error format;
* **calls a service makes on a principal's behalf** without a request moto could see
  (Step Functions creating its managed EventBridge rules, SageMaker pulling an image,
  CloudWatch publishing an alarm): ``require`` with the principal's session;
* **the local SageMaker Runtime** (not moto): ``authorize_signed`` on the request's headers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

from offline.services.client_cache import ClientCache
from offline.services.iam.authorizer import AccessDeniedError, Authorizer
from offline.services.iam.conditions import ContextValue
from offline.services.iam.errors import access_denied
from offline.services.iam.policy import Principal
from offline.services.iam.requests import ApiCall, RequestCatalog, UnmappedRequestError
from offline.services.iam.sessions import Credentials, Sessions

#: Signing names that differ from the IAM service prefix.
_IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}

STEP_FUNCTIONS = "states.amazonaws.com"


class IamGapError(RuntimeError):
    """A call offline mode cannot evaluate; the message says what to add."""


class Iam:
    """Sessions, the authorizer and the request catalog of one local AWS account."""

    def __init__(self, *, account: str, region: str, endpoint_url: str, operator_key: str) -> None:
        self.account = account
        self.region = region
        self.endpoint_url = endpoint_url
        self.operator_key = operator_key
        self.sessions = Sessions(account=account, region=region)
        self.authorizer = Authorizer(account=account, region=region)
        self.catalog = RequestCatalog(account=account, region=region)
        self._clients = ClientCache()

    # --- sessions and clients ------------------------------------------------------------

    def assume(
        self, role_arn: str, *, service: str, source_arn: str | None = None, session_name: str | None = None
    ) -> Credentials:
        return self.sessions.assume(role_arn, service=service, source_arn=source_arn, session_name=session_name)

    def client(self, boto_service: str, credentials: Credentials, **config: Any) -> Any:
        """A boto3 client of the local AWS signed with ``credentials`` (made once per service, session and config)."""
        return self._clients.get(
            (boto_service, credentials, repr(sorted(config.items()))),
            lambda: boto3.client(
                boto_service,
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
                **credentials.client_arguments(),
            ),
        )

    def step_functions_client(
        self, boto_service: str, *, region: str, role_arn: str, state_machine_arn: str | None
    ) -> Any:
        """What a Task state calls through: a session of the state machine's role."""
        credentials = self.assume(role_arn, service=STEP_FUNCTIONS, source_arn=state_machine_arn)
        # moto's engine makes one attempt per call and leaves retries to the state's Retry.
        return self.client(boto_service, credentials, parameter_validation=False)

    def principal(self, credentials: Credentials) -> Principal:
        principal = self.sessions.principal(credentials.access_key_id)
        if principal is None:
            raise IamGapError(f"no session owns access key {credentials.access_key_id}")
        return principal

    # --- evaluation ----------------------------------------------------------------------

    def require(
        self,
        credentials: Credentials | Principal,
        action: str,
        resource: str,
        context: Mapping[str, ContextValue] | None = None,
        *,
        via: str,
    ) -> None:
        """Evaluate a call made on the principal's behalf; raises AccessDeniedError."""
        principal = credentials if isinstance(credentials, Principal) else self.principal(credentials)
        self.authorizer.require(principal, action, resource, context, via=via)

    def authorize_moto_request(self, response: Any, iam_request_cls: type, resource: str) -> None:
        """Authorize one request to moto's server, raising the service's refusal."""
        scope = _credential_scope(response.headers.get("Authorization", ""))
        if scope is None:
            raise access_denied("s3" if resource.startswith("arn:aws:s3") else "sts", "the request is not signed")
        access_key, signing_name = scope
        if access_key == self.operator_key:
            return
        # moto resolves the key to its role session and checks the signature (its own code).
        request = iam_request_cls(
            account_id=response.current_account,
            method=response.method,
            path=_path_with_query(response),
            data=response.data,
            body=response.raw_body,
            headers=response.headers,
            action=response._get_action(),
        )
        request.check_signature()
        principal = self.sessions.principal(access_key)
        if principal is None:
            raise access_denied(signing_name, f"the access key {access_key} belongs to no role session")
        service = _IAM_PREFIX.get(signing_name, signing_name)
        call = ApiCall(
            service=service,
            operation=str(response._get_action()),
            param=response._get_param,
            method=response.method,
            resource=resource if service == "s3" else None,
        )
        try:
            checks = self.catalog.checks(call)
        except UnmappedRequestError as gap:
            raise access_denied(service, str(gap)) from None
        for check in checks:
            via = "dependent" if check.dependent else "request"
            try:
                self.authorizer.require(principal, check.action, check.resource, check.context, via=via)
            except AccessDeniedError as denied:
                raise access_denied(
                    service, str(denied), content_type=response.headers.get("Content-Type", "")
                ) from None

    def authorize_signed(self, headers: Mapping[str, str], action: str, resource: str) -> str | None:
        """Authorize a request to a local front door (not moto); None if allowed, else AWS's message."""
        scope = _credential_scope(headers.get("Authorization", ""))
        if scope is None:
            return "the request is not signed"
        if scope[0] == self.operator_key:
            return None
        principal = self.sessions.principal(scope[0])
        if principal is None:
            return f"the access key {scope[0]} belongs to no role session"
        try:
            self.authorizer.require(principal, action, resource, via="request")
        except AccessDeniedError as denied:
            return str(denied)
        return None


def _credential_scope(authorization: str) -> tuple[str, str] | None:
    """(access key id, signing service) from a SigV4 ``Authorization`` header."""
    scope = authorization.partition("Credential=")[2].partition(",")[0].split("/")
    if len(scope) < 4 or not scope[0]:
        return None
    return scope[0], scope[3]


def _path_with_query(response: Any) -> str:
    from urllib.parse import urlparse

    path = str(response.raw_path)
    query = urlparse(response.uri).query
    return f"{path}?{query}" if query else path
