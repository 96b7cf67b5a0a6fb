"""The two local HTTP front doors: SageMaker Runtime's InvokeEndpoint and the REST API.

* ``RuntimeProxy`` implements ``POST /endpoints/<name>/invocations`` (what boto3's
  ``sagemaker-runtime`` client sends) by forwarding to the endpoint's live model server.
  ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` points the inference Lambda's client at it. A
  container 4xx/5xx becomes SageMaker's ``ModelError`` (HTTP 424 with
  ``OriginalStatusCode``/``OriginalMessage``), an unknown or not-yet-InService endpoint a
  ``ValidationError``, as AWS answers.
* ``LocalApi`` turns any request into an API Gateway REST proxy event for the real
  ``inference_proxy`` handler and writes its proxy response back.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from offline.lambda_runtime import LambdaRuntime


class _QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server:
    """A ThreadingHTTPServer on 127.0.0.1 running in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def runtime_proxy(route: Callable[[str], str | None], *, account: str, region: str, port: int = 0) -> Server:
    """Start the local SageMaker Runtime; ``route(endpoint)`` gives the live server's base URL."""

    class Handler(_QuietHandler):
        def do_POST(self) -> None:
            parts = urlsplit(self.path).path.strip("/").split("/")
            body = self._body()
            if len(parts) != 3 or parts[0] != "endpoints" or parts[2] != "invocations":
                self._error(404, "UnknownOperationException", f"no operation at {self.path}")
                return
            name = unquote(parts[1])
            self._invoke(name, body)

        def _invoke(self, name: str, body: bytes) -> None:
            headers = {"Content-Type": self.headers.get("Content-Type", "application/octet-stream")}
            if self.headers.get("Accept"):
                headers["Accept"] = self.headers["Accept"]
            # One retry covers the instant routing switches to a new process during an update.
            for attempt in range(2):
                base = route(name)
                if base is None:
                    self._error(400, "ValidationError", f"Endpoint {name} of account {account} not found.")
                    return
                request = urllib.request.Request(f"{base}/invocations", data=body, headers=headers, method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        self._answer(
                            200,
                            response.read(),
                            {
                                "Content-Type": response.headers.get("Content-Type", "application/json"),
                                "x-Amzn-Invoked-Production-Variant": "AllTraffic",
                            },
                        )
                        return
                except urllib.error.HTTPError as error:
                    self._model_error(name, error.code, error.read().decode(errors="replace"))
                    return
                except (urllib.error.URLError, ConnectionError):
                    if attempt == 0:
                        time.sleep(0.2)
                        continue
                    self._error(500, "InternalFailure", f"endpoint {name} did not answer")
                    return

        def _model_error(self, name: str, status: int, message: str) -> None:
            kind = "client" if status < 500 else "server"
            log_stream = f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/Endpoints/{name}"
            payload = {
                "ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL",
                "LogStreamArn": log_stream,
                "Message": f'Received {kind} error ({status}) from primary with message "{message}". '
                f"See {log_stream} in account {account} for more information.",
                "OriginalMessage": message,
                "OriginalStatusCode": status,
            }
            self._answer(
                424,
                json.dumps(payload).encode(),
                {"Content-Type": "application/json", "x-amzn-ErrorType": "ModelError"},
            )

        def _error(self, status: int, code: str, message: str) -> None:
            body = json.dumps({"__type": code, "message": message}).encode()
            self._answer(status, body, {"Content-Type": "application/json", "x-amzn-ErrorType": code})

    return Server(Handler, port)


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

    class Handler(_QuietHandler):
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
