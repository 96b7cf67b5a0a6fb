"""API Gateway (REST, v1) in front of the inference proxy Lambda.

What stays in API Gateway is emulated here; everything about the request body is the proxy's
(the deployed API has no request validator). From the REST API as synthesized
(:class:`RestApiSpec`; ``tests/infrastructure`` holds the defaults equal to the template):

* the stage is part of every URL, ``/v1/predict``; a path outside a deployed resource and
  method, or in another stage, gets API Gateway's 403 ``{"message":"Missing Authentication
  Token"}`` (API Gateway Developer Guide, "Gateway response types for API Gateway",
  MISSING_AUTHENTICATION_TOKEN; the same answer for a wrong stage, resource or method);
* ``ANY`` stands for the methods API Gateway serves: DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT
  ("Set up a method using the API Gateway console"); another method matches no route;
* a body over the REST API payload quota of 10 MB gets the REQUEST_TOO_LARGE gateway response
  ("Amazon API Gateway quotas"), customized by the stack;
* the request becomes the REST API proxy event API Gateway sends a Lambda proxy integration
  ("Input format of a Lambda function for proxy integration"), for the real ``inference_proxy``
  handler, and its proxy response is written back. The API declares no binary media types, so
  the body is passed as text ("Content type conversions in API Gateway"); how AWS converts bytes
  that are not UTF-8 is not documented: here each invalid sequence becomes U+FFFD;
* an event over Lambda's 6 MB synchronous invocation payload ("Lambda quotas") never reaches the
  function. Which gateway response AWS gives it is not documented (callers report a 413); here it
  is the REQUEST_TOO_LARGE response, whose message the stack words for both limits;
* a function error is API Gateway's 502 ``{"message": "Internal server error"}``.

IAM (SigV4) authorization of the caller and stage throttling are not emulated (offline/README.md).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from offline.services.http_server import BodyError, QuietHandler, Server
from offline.services.lambda_runtime import LambdaRuntime
from training.feature_schema import API_GATEWAY_MAX_PAYLOAD_BYTES, REQUEST_TOO_LARGE_MESSAGE

#: The methods ``ANY`` stands for.
ANY_METHODS: Final = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})
#: Lambda's synchronous invocation payload quota, which the proxy event must fit.
LAMBDA_MAX_PAYLOAD_BYTES: Final = 6 * 1024 * 1024


@dataclass(frozen=True)
class GatewayResponse:
    """An answer API Gateway gives itself, before or instead of the integration."""

    status: int
    body: str
    error_type: str | None = None


#: API Gateway's own answers where the API does not customize them.
DEFAULT_GATEWAY_RESPONSES: Final[Mapping[str, GatewayResponse]] = {
    "MISSING_AUTHENTICATION_TOKEN": GatewayResponse(
        403, '{"message":"Missing Authentication Token"}', "MissingAuthenticationTokenException"
    ),
    "REQUEST_TOO_LARGE": GatewayResponse(413, '{"message":"Request Too Long"}'),
    "INTEGRATION_FAILURE": GatewayResponse(502, '{"message": "Internal server error"}', "InternalServerErrorException"),
}


@dataclass(frozen=True)
class RestApiSpec:
    """The parts of a REST API the local API emulates: stage, routes, customized gateway responses."""

    stage: str = "v1"
    routes: Mapping[str, frozenset[str]] = field(default_factory=lambda: {"/predict": ANY_METHODS})
    gateway_responses: Mapping[str, GatewayResponse] = field(
        default_factory=lambda: {
            "REQUEST_TOO_LARGE": GatewayResponse(413, json.dumps({"error": REQUEST_TOO_LARGE_MESSAGE}))
        }
    )

    @classmethod
    def from_template(cls, template: Mapping[str, Any]) -> RestApiSpec:
        """Read the stage, routes and gateway responses of the one REST API in a CloudFormation template."""
        resources: Mapping[str, Any] = template.get("Resources", {})

        def of_type(kind: str) -> dict[str, Mapping[str, Any]]:
            return {k: r.get("Properties", {}) for k, r in resources.items() if r.get("Type") == kind}

        paths: dict[str, str] = {}
        parts = of_type("AWS::ApiGateway::Resource")

        def path_of(reference: Any) -> str:
            logical_id = reference.get("Ref") if isinstance(reference, dict) else None
            if logical_id not in parts:  # Fn::GetAtt [api, RootResourceId]
                return ""
            if logical_id not in paths:
                paths[logical_id] = f"{path_of(parts[logical_id]['ParentId'])}/{parts[logical_id]['PathPart']}"
            return paths[logical_id]

        routes: dict[str, frozenset[str]] = {}
        for method in of_type("AWS::ApiGateway::Method").values():
            path = path_of(method.get("ResourceId")) or "/"
            verb = str(method["HttpMethod"]).upper()
            routes[path] = routes.get(path, frozenset()) | (ANY_METHODS if verb == "ANY" else frozenset({verb}))
        (stage,) = [str(s["StageName"]) for s in of_type("AWS::ApiGateway::Stage").values()]
        responses = {
            str(r["ResponseType"]): GatewayResponse(
                int(r["StatusCode"]), str((r.get("ResponseTemplates") or {}).get("application/json", ""))
            )
            for r in of_type("AWS::ApiGateway::GatewayResponse").values()
        }
        return cls(stage=stage, routes=routes, gateway_responses=responses)

    def response(self, kind: str) -> GatewayResponse:
        """The gateway response of ``kind``: the API's own, else API Gateway's default."""
        return self.gateway_responses.get(kind) or DEFAULT_GATEWAY_RESPONSES[kind]


def api_gateway_event(
    method: str, raw_path: str, headers: dict[str, str], body: bytes, stage: str, resource: str | None = None
) -> dict[str, Any]:
    """The REST API (v1) proxy event API Gateway sends a Lambda proxy integration.

    ``raw_path`` is the path after the stage, with its query string.
    """
    split = urlsplit(raw_path)
    path = split.path
    query = dict(parse_qsl(split.query))
    text = body.decode("utf-8", errors="replace") if body else None
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource or path,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
        },
        "body": text,
        "isBase64Encoded": False,
    }


def local_api(runtime: LambdaRuntime, function_name: str, *, spec: RestApiSpec | None = None, port: int = 0) -> Server:
    """Start the local REST API in front of ``function_name``; its ``url`` is the stage's invoke URL."""
    api = spec or RestApiSpec()

    class Handler(QuietHandler):
        def unsupported_method(self) -> None:
            # Every method is routed (or refused) the way API Gateway routes it.
            self._handle()

        def _gateway(self, kind: str) -> None:
            answer = api.response(kind)
            headers = {"Content-Type": "application/json"}
            if answer.error_type:
                headers["x-amzn-ErrorType"] = answer.error_type
            self._answer(answer.status, answer.body.encode(), headers)

        def _handle(self) -> None:
            try:
                body = self._body(limit=API_GATEWAY_MAX_PAYLOAD_BYTES)
            except BodyError as error:
                if error.status == 413:
                    self._gateway("REQUEST_TOO_LARGE")
                else:
                    self._answer_json(400, {"error": error.message})
                return
            split = urlsplit(self.path)
            prefix = f"/{api.stage}"
            path = split.path
            resource = (path[len(prefix) :].rstrip("/") or "/") if path.startswith(prefix + "/") else None
            if resource is None or self.command not in api.routes.get(resource, frozenset()):
                self._gateway("MISSING_AUTHENTICATION_TOKEN")
                return
            raw_path = resource + (f"?{split.query}" if split.query else "")
            event = api_gateway_event(self.command, raw_path, dict(self.headers.items()), body, api.stage, resource)
            if len(json.dumps(event).encode()) > LAMBDA_MAX_PAYLOAD_BYTES:
                self._gateway("REQUEST_TOO_LARGE")
                return
            result = runtime.invoke(function_name, event)
            if result.function_error:
                self._gateway("INTEGRATION_FAILURE")
                return
            response = result.json()
            payload = response.get("body") or ""
            data = base64.b64decode(payload) if response.get("isBase64Encoded") else str(payload).encode()
            headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
            for key, values in (response.get("multiValueHeaders") or {}).items():
                headers[str(key)] = ", ".join(str(v) for v in values)
            headers.pop("Content-Length", None)
            self._answer(int(response.get("statusCode", 200)), data, headers)

    return Server(Handler, port, base_path=f"/{api.stage}")
