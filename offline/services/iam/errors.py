"""A refused call, answered in the service's own error format.

Services answer an authorization failure in their protocol (AWS SDK error shapes): JSON
services with ``AccessDeniedException`` (HTTP 400; Lambda's REST API with 403), SNS with
``AuthorizationError`` (403), the query-protocol services (CloudWatch, IAM, STS) with
``AccessDenied`` (403) and S3 with ``AccessDenied`` (403). The message is AWS's sentence
"User: ... is not authorized to perform: ... on resource: ... because ..." (IAM User Guide,
"Access denied error messages").
"""

from __future__ import annotations

import json
import uuid

from moto.core.exceptions import JsonRESTError
from moto.s3.exceptions import S3AccessDeniedError

#: Services whose API speaks the query (XML) protocol, with the code they use for a refusal.
_QUERY_PROTOCOL = {
    "sns": "AuthorizationError",
    "cloudwatch": "AccessDenied",
    "iam": "AccessDenied",
    "sts": "AccessDenied",
}


class _QueryError(JsonRESTError):
    """An XML ``ErrorResponse`` (moto's base RESTError renders it), status 403."""

    code = 403

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(error_type, message)
        from xmltodict import unparse  # type: ignore[import-untyped, unused-ignore]

        body = {
            "ErrorResponse": {
                "Error": {"Type": "Sender", "Code": error_type, "Message": message},
                "RequestId": str(uuid.uuid4()),
            }
        }
        self.description = unparse(body, full_document=True)
        self.content_type = "application/xml"


class _JsonError(JsonRESTError):
    def __init__(self, message: str, status: int, *, code: str = "AccessDeniedException") -> None:
        super().__init__(code, message)
        self.code = status
        self.description = json.dumps({"__type": code, "message": message, "Message": message})


class ExplainedS3AccessDeniedError(S3AccessDeniedError):
    """S3's ``AccessDenied`` with the full explanation instead of "Access Denied"."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


def access_denied(service: str, message: str, *, content_type: str = "") -> Exception:
    """The exception moto's server turns into ``service``'s refusal.

    CloudWatch also speaks JSON 1.0 (``application/x-amz-json-1.0``), which today's SDKs use:
    a refusal of such a request is JSON, with the query protocol's code.
    """
    if service == "s3":
        return ExplainedS3AccessDeniedError(message)
    if service in _QUERY_PROTOCOL and content_type.startswith("application/x-amz-json"):
        return _JsonError(message, 403, code=_QUERY_PROTOCOL[service])
    if service in _QUERY_PROTOCOL:
        return _QueryError(_QUERY_PROTOCOL[service], message)
    return _JsonError(message, 403 if service == "lambda" else 400)
