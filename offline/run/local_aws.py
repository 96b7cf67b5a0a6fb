"""The local AWS: moto in server mode, in this process, on 127.0.0.1.

It runs in-process (``ThreadedMotoServer``) so that offline mode can patch moto's internals
(see ``offline.moto_patches``) while still serving real HTTP, so the aws CLI or boto3 in
another shell can look inside with ``--endpoint-url``.

moto's Step Functions engine only executes definitions when its
``stepfunctions.execute_state_machine`` config is on. In decorator mode that is
``mock_aws(config=...)``; in server mode it is the ``/moto-api/config`` endpoint, which
writes ``moto.core.config.default_user_config``. We set that dict directly because the
server runs in this process.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped, unused-ignore]

from offline.services.client_cache import ClientCache

ACCESS_KEY = "testing"
SECRET_KEY = "testing"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalAws:
    """A running moto server and a factory for boto3 clients pointed at it (one client per service and config)."""

    endpoint_url: str
    account: str
    region: str
    _clients: ClientCache = field(default_factory=ClientCache, repr=False, compare=False)

    def client(self, service: str, **config: Any) -> Any:
        return self._clients.get(
            (service, repr(sorted(config.items()))),
            lambda: boto3.client(
                service,
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
                config=Config(retries={"max_attempts": 2, "mode": "standard"}, **config),
            ),
        )

    def environment(self) -> dict[str, str]:
        """Variables that point an AWS SDK (boto3 or the aws CLI) at this moto server."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }


@contextmanager
def running_moto(*, account: str, region: str, port: int | None = None) -> Iterator[LocalAws]:
    """Start moto on a free port with Step Functions execution on; stop it on exit.

    The process environment is pointed at it for the duration (boto3 clients created by
    Lambda handlers running in-process, and moto's own Step Functions engine, which reaches
    services at ``localhost:$MOTO_PORT``), and restored afterwards.
    """
    from moto.core.config import default_user_config
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    port = port or free_port()
    saved = dict(os.environ)
    saved_config = dict(default_user_config.get("stepfunctions", {}))
    saved_iam = dict(default_user_config.get("iam", {}))
    os.environ["MOTO_PORT"] = str(port)
    os.environ["MOTO_ACCOUNT_ID"] = account
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    # Roles may attach AWS managed policies; offline IAM evaluates their real documents.
    default_user_config["iam"] = {"load_aws_managed_policies": True}
    # Backends read this config when they are made. A thread of an earlier local AWS in this process
    # may have touched one after that one reset them (IAM then made without the managed policies,
    # and AttachRolePolicy of an AWS managed policy failed at provisioning): start from none.
    _reset_backends()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    local = LocalAws(endpoint_url=f"http://127.0.0.1:{port}", account=account, region=region)
    os.environ.update(local.environment())
    try:
        yield local
    finally:
        _stop(server, port)
        default_user_config["stepfunctions"] = saved_config  # type: ignore[typeddict-item]
        default_user_config["iam"] = saved_iam  # type: ignore[typeddict-item]
        os.environ.clear()
        os.environ.update(saved)
        _reset_backends()


def _stop(server: Any, port: int) -> None:
    """Stop moto's server without waiting out its poll.

    Its ``serve_forever`` looks for a stop request every 0.5 s while no connection comes; a
    connection wakes it, so one is made until it has stopped (half a second saved per local AWS).
    """
    stopping = threading.Thread(target=server.stop, daemon=True)
    stopping.start()
    while stopping.is_alive():
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        stopping.join(0.01)


def _reset_backends() -> None:
    """Forget every resource, so a second local AWS in the same process starts empty."""
    from moto.core.base_backend import BackendDict

    BackendDict.reset()
