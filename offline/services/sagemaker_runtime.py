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

Each request goes where ``route`` says at that moment: during a deployment with traffic
shifting, the fleet's weighted split (``offline.services.traffic_routing``), the answer naming the
variant in ``x-Amzn-Invoked-Production-Variant``. Every request that reached a container, or was
meant to, is reported once to ``on_invocation`` with what SageMaker measures for its CloudWatch
metrics (Developer Guide, "Amazon SageMaker AI metrics in Amazon CloudWatch"): the container's
status (a container that did not answer counts as 5xx), ``ModelLatency`` (the time to send the
request to the container and read its answer) and ``OverheadLatency`` (the rest of the time
from receiving the request to answering it), in microseconds.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from offline.services.endpoint_metrics import Invocation
from offline.services.http_server import BodyError, QuietHandler, Server
from offline.services.traffic_routing import RouteTarget

#: InvokeEndpoint's request Body quota (SageMaker API Reference, InvokeEndpoint).
MAX_BODY_BYTES = 6 * 1024 * 1024


@dataclass(frozen=True)
class Exchange:
    """One request a container answered with success, as data capture sees it."""

    endpoint: str
    variant: str
    config_name: str
    request: bytes
    request_type: str
    response: bytes
    response_type: str
    at: float
    inference_id: str | None = None


@dataclass(frozen=True)
class _Answer:
    """What the container answered: its status, body and content type; status 500 and no body if it did not."""

    status: int
    body: bytes
    content_type: str
    answered: bool = True


def runtime_proxy(
    route: Callable[[str], RouteTarget | str | None],
    *,
    account: str,
    region: str,
    port: int = 0,
    authorize: Callable[[Mapping[str, str], str], str | None] | None = None,
    on_invocation: Callable[[Invocation], None] | None = None,
    on_exchange: Callable[[Exchange], None] | None = None,
) -> Server:
    """Start the local SageMaker Runtime; ``route(endpoint)`` picks the server for each request.

    ``route`` answers a :class:`RouteTarget` (or only a base URL, for the ``AllTraffic`` variant).
    ``authorize(headers, endpoint)`` returns None to allow the call, else AWS's refusal message.
    ``on_invocation`` is called once per forwarded request (the endpoint metrics); ``on_exchange``
    once per request answered 2xx, with both bodies (data capture), after the answer is sent.
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
            started, at = time.perf_counter(), time.time()
            headers = {"Content-Type": self.headers.get("Content-Type", "application/octet-stream")}
            if self.headers.get("Accept"):
                headers["Accept"] = self.headers["Accept"]
            forwarded = _forward_with_retry(route, name, body, headers)
            if forwarded is None:
                self._error(400, "ValidationError", f"Endpoint {name} of account {account} not found.")
                return
            target, answer, model_seconds = forwarded
            try:
                # Reported before the answer is sent: whoever got the answer can count the request.
                if on_invocation is not None:
                    total = time.perf_counter() - started
                    on_invocation(
                        Invocation(
                            endpoint=name,
                            variant=target.variant,
                            config_name=target.config_name,
                            status=answer.status,
                            model_latency_us=round(model_seconds * 1e6),
                            overhead_latency_us=max(0, round((total - model_seconds) * 1e6)),
                            at=at,
                        )
                    )
            finally:
                self._reply(name, target, answer)
            if on_exchange is not None and answer.answered and answer.status < 300:
                on_exchange(
                    Exchange(
                        endpoint=name,
                        variant=target.variant,
                        config_name=target.config_name,
                        request=body,
                        request_type=headers["Content-Type"],
                        response=answer.body,
                        response_type=answer.content_type,
                        at=at,
                        inference_id=self.headers.get("X-Amzn-SageMaker-Inference-Id"),
                    )
                )

        def _reply(self, name: str, target: RouteTarget, answer: _Answer) -> None:
            if not answer.answered:
                self._error(500, "InternalFailure", f"endpoint {name} did not answer")
            elif answer.status >= 400:
                self._model_error(name, answer.status, answer.body.decode(errors="replace"))
            else:
                headers = {"Content-Type": answer.content_type, "x-Amzn-Invoked-Production-Variant": target.variant}
                self._answer(200, answer.body, headers)

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


def _target(routed: RouteTarget | str | None) -> RouteTarget | None:
    if routed is None or isinstance(routed, RouteTarget):
        return routed
    return RouteTarget(url=routed, config_name="")


def _forward_with_retry(
    route: Callable[[str], RouteTarget | str | None], name: str, body: bytes, headers: dict[str, str]
) -> tuple[RouteTarget, _Answer, float] | None:
    """Where the request went, the answer and the container's time; None for an endpoint with no server.

    One retry covers the instant routing switches to a new process during an update.
    """
    for attempt in range(2):
        target = _target(route(name))
        if target is None:
            return None
        sent = time.perf_counter()
        answer = _forward(f"{target.url}/invocations", body, headers)
        if answer.answered or attempt == 1:
            return target, answer, time.perf_counter() - sent
        time.sleep(0.2)
    raise AssertionError("unreachable: the second attempt always returns")


def _forward(url: str, body: bytes, headers: dict[str, str]) -> _Answer:
    """POST to the container; a 4xx/5xx is an answer too, a refused or dropped connection is not."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            content_type = response.headers.get("Content-Type", "application/json")
            return _Answer(response.status, response.read(), content_type)
    except urllib.error.HTTPError as error:
        return _Answer(error.code, error.read(), error.headers.get("Content-Type", "application/json"))
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return _Answer(500, b"", "application/json", answered=False)
