"""API Gateway (REST, v1) in front of the inference proxy Lambda.

Every request becomes the REST API proxy event API Gateway sends a Lambda proxy integration
(API Gateway developer guide, "Input format of a Lambda function for proxy integration"), for
the real ``inference_proxy`` handler; its proxy response is written back.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from offline.services.http_server import QuietHandler, Server
from offline.services.lambda_runtime import LambdaRuntime


def api_gateway_event(method: str, raw_path: str, headers: dict[str, str], body: bytes, stage: str) -> dict[str, Any]:
    """The REST API (v1) proxy event API Gateway sends a Lambda proxy integration."""
    split = urlsplit(raw_path)
    path = split.path
    query = dict(parse_qsl(split.query))
    text = body.decode("utf-8", errors="strict") if body else None
    try:
        encoded = False if text is None else text.encode() == body
    except UnicodeDecodeError:
        encoded = False
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/{stage}{path}",
            "stage": stage,
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
        },
        "body": text if encoded or text is None else base64.b64encode(body).decode(),
        "isBase64Encoded": not encoded and text is not None,
    }


def local_api(runtime: LambdaRuntime, function_name: str, *, stage: str = "offline", port: int = 0) -> Server:
    """Start the local REST API in front of ``function_name`` (the inference proxy)."""

    class Handler(QuietHandler):
        def _handle(self) -> None:
            body = self._body()
            path = urlsplit(self.path).path
            if path.startswith(f"/{stage}/"):
                path = path[len(stage) + 1 :]
            query = urlsplit(self.path).query
            event = api_gateway_event(
                self.command, path + (f"?{query}" if query else ""), dict(self.headers.items()), body, stage
            )
            result = runtime.invoke(function_name, event)
            if result.function_error:
                self._answer(502, b'{"message": "Internal server error"}', {"Content-Type": "application/json"})
                return
            response = result.json()
            payload = response.get("body") or ""
            data = base64.b64decode(payload) if response.get("isBase64Encoded") else str(payload).encode()
            headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
            for key, values in (response.get("multiValueHeaders") or {}).items():
                headers[str(key)] = ", ".join(str(v) for v in values)
            headers.pop("Content-Length", None)
            self._answer(int(response.get("statusCode", 200)), data, headers)

        do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815 - the stdlib's names

    return Server(Handler, port)
