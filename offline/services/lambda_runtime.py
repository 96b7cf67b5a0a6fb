"""Run the real Lambda handlers in this process, the way the Lambda runtime would.

A handler is imported from its template handler string (``lambdas.<name>.app.handler``)
and called with the function's template environment applied to ``os.environ`` for the
duration of the call, together with the credentials of a session of the function's
execution role (as Lambda sets ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
``AWS_SESSION_TOKEN``), so every call the handler makes is evaluated as that role. Because
the environment is process-wide, invocations are serialized by a lock. An exception becomes
what the Lambda service returns for an unhandled error: ``FunctionError: Unhandled`` and a
payload ``{"errorMessage", "errorType", "stackTrace"}``, which Step Functions turns into a
task failure whose Error is the exception type.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import threading
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import boto3  # type: ignore[import-untyped, unused-ignore]

if TYPE_CHECKING:
    from offline.services.iam.enforcement import Iam


class InjectedFaultError(RuntimeError):
    """Raised instead of running a handler when ``--fail-at`` names the invoking state."""


@dataclass(frozen=True)
class LambdaSpec:
    """What offline mode needs to run one function: its handler and its environment."""

    function_name: str
    handler: str
    environment: dict[str, str]
    timeout_seconds: int = 60
    memory_mb: int = 128
    asset_dir: Path | None = None
    #: The execution role; the handler's AWS calls are signed with a session of it.
    role_arn: str | None = None


@dataclass(frozen=True)
class InvokeResult:
    payload: bytes
    function_error: str | None = None

    def json(self) -> Any:
        return json.loads(self.payload or b"null")


@dataclass
class FakeContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "offline"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class LambdaRuntime:
    """The registered functions, and ``invoke`` to run one in-process."""

    def __init__(self, *, account: str, region: str, log_dir: Path | None = None, iam: Iam | None = None) -> None:
        self._log_dir = log_dir
        self._account = account
        self._region = region
        self._iam = iam
        self._functions: dict[str, LambdaSpec] = {}
        self._lock = threading.RLock()

    def register(self, spec: LambdaSpec) -> None:
        self._functions[spec.function_name] = spec

    def spec(self, name_or_arn: str) -> LambdaSpec:
        name = name_or_arn.split(":function:")[-1].split(":")[0]
        if name not in self._functions:
            raise KeyError(f"no function {name}; have {', '.join(sorted(self._functions))}")
        return self._functions[name]

    def functions(self) -> list[LambdaSpec]:
        return list(self._functions.values())

    def invoke(self, name_or_arn: str, event: Any, *, inject_fault: str | None = None) -> InvokeResult:
        """Call the function's handler with ``event``; never raises for handler errors."""
        spec = self.spec(name_or_arn)
        module_name, _, attribute = spec.handler.rpartition(".")
        arn = f"arn:aws:lambda:{self._region}:{self._account}:function:{spec.function_name}"
        context = FakeContext(
            spec.function_name, spec.memory_mb, arn, log_group_name=f"/aws/lambda/{spec.function_name}"
        )
        with self._lock, _environment(self._lambda_environment(spec)), self._output(spec):
            # A new default session per invocation reads this function's credentials from the
            # environment (boto3 caches the first credentials it finds for the process).
            boto3.DEFAULT_SESSION = None
            try:
                if inject_fault:
                    raise InjectedFaultError(inject_fault)
                handler = getattr(importlib.import_module(module_name), attribute)
                result = handler(event, context)
            except Exception as error:
                return InvokeResult(_error_payload(error), "Unhandled")
        return InvokeResult(json.dumps(result, default=str).encode())

    @contextlib.contextmanager
    def _output(self, spec: LambdaSpec) -> Iterator[None]:
        """Send what the handler prints (EMF metrics, logs) to its log file, as CloudWatch would."""
        if self._log_dir is None:
            yield
            return
        log = _log_file(self._log_dir / f"{spec.function_name}.log")
        with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            yield

    def _lambda_environment(self, spec: LambdaSpec) -> dict[str, str]:
        credentials = self._credentials(spec)
        return {
            **credentials,
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_REGION": self._region,
            "AWS_DEFAULT_REGION": self._region,
            **spec.environment,
            # X-Ray has no local daemon, and EMF metrics and INFO logs would drown the progress
            # lines; OFFLINE_LAMBDA_LOG_LEVEL=INFO shows the handlers' logs again.
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("OFFLINE_LAMBDA_LOG_LEVEL", "WARNING"),
        }

    def _credentials(self, spec: LambdaSpec) -> dict[str, str]:
        """The execution role's session, as Lambda puts it in the function's environment."""
        if self._iam is None or not spec.role_arn:
            return {}
        session = self._iam.assume(spec.role_arn, service="lambda.amazonaws.com", session_name=spec.function_name)
        return session.environment()


#: Log files stay open for the life of the process: a handler module's logger binds to the
#: stream that was stdout when the module was first imported, and keeps writing to it.
_open_logs: dict[Path, TextIO] = {}


def _log_file(path: Path) -> TextIO:
    if path not in _open_logs:
        path.parent.mkdir(parents=True, exist_ok=True)
        _open_logs[path] = path.open("a", buffering=1)
    return _open_logs[path]


def _error_payload(error: Exception) -> bytes:
    return json.dumps(
        {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "requestId": str(uuid.uuid4()),
            "stackTrace": traceback.format_tb(error.__traceback__),
        }
    ).encode()


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
