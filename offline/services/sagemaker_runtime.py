"""SageMaker Runtime's InvokeEndpoint, in front of the local model servers.

``POST /endpoints/<name>/invocations`` (what boto3's ``sagemaker-runtime`` client sends) is
forwarded to the endpoint's live model server. ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` points
the inference Lambda's client at it. A container 4xx/5xx becomes SageMaker's ``ModelError``
(HTTP 424 with ``OriginalStatusCode``/``OriginalMessage``), an unknown or not-yet-InService
endpoint a ``ValidationError``, as AWS answers (SageMaker API Reference, InvokeEndpoint, Errors).
A body over InvokeEndpoint's 6 MB (``Body``, "Maximum length of 6291456") never reaches the
container: a 413, worded as SageMaker has worded it ("HTTP content length exceeded N bytes").
Another method or path is an ``UnknownOperationException``; a body that cannot be read, a 400
JSON: every answer is JSON, as AWS's are.
The caller needs ``sagemaker:InvokeEndpoint`` on the endpoint: ``authorize`` evaluates the
signed request (``offline.services.iam``) and a refusal is ``AccessDeniedException`` (403).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from urllib.parse import unquote, urlsplit

from offline.services.http_server import BodyError, QuietHandler, Server

#: InvokeEndpoint's request Body quota (SageMaker API Reference, InvokeEndpoint).
MAX_BODY_BYTES = 6 * 1024 * 1024


def runtime_proxy(
    route: Callable[[str], str | None],
    *,
    account: str,
    region: str,
    port: int = 0,
    authorize: Callable[[Mapping[str, str], str], str | None] | None = None,
) -> Server:
    """Start the local SageMaker Runtime; ``route(endpoint)`` gives the live server's base URL.

    ``authorize(headers, endpoint)`` returns None to allow the call, else AWS's refusal message.
    """

    class Handler(QuietHandler):
        def unsupported_method(self) -> None:
            self._error(404, "UnknownOperationException", f"no operation {self.command} {self.path[:200]}")

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            parts = urlsplit(self.path).path.strip("/").split("/")
            try:
                body = self._body(limit=MAX_BODY_BYTES)
            except BodyError as error:
                if error.status == 413:
                    message = f"HTTP content length exceeded {MAX_BODY_BYTES} bytes."
                    self._answer(413, json.dumps({"message": message}).encode(), {"Content-Type": "application/json"})
                else:
                    self._error(400, "ValidationError", error.message)
                return
            if len(parts) != 3 or parts[0] != "endpoints" or parts[2] != "invocations":
                self._error(404, "UnknownOperationException", f"no operation at {self.path}")
                return
            name = unquote(parts[1])
            refusal = authorize(dict(self.headers.items()), name) if authorize is not None else None
            if refusal is not None:
                self._error(403, "AccessDeniedException", refusal)
                return
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
