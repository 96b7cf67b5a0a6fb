"""Lazily created, cached boto3 clients.

Clients are built on first use, not at import, so tests can set credentials and
a region (and start moto) before any client exists, and a warm Lambda reuses
the same client across invocations. The cache is keyed by the region, any
``AWS_ENDPOINT_URL*`` overrides and the access key in the environment, so offline
mode, which points the SDK at a local server through those variables and runs
several functions (each with its own role's credentials) in one process, never
gets a client for a stale address or another function's role. In Lambda these
never change within one execution environment.
Tests call :func:`reset_clients` between cases.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]


def region() -> str:
    """The region the function runs in (``AWS_REGION`` in Lambda), else the SDK default."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def _endpoint_overrides() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_ENDPOINT_URL")))


def _identity() -> str:
    return os.environ.get("AWS_ACCESS_KEY_ID", "")


@functools.cache
def _client(
    service: str, region_name: str, _overrides: tuple[tuple[str, str], ...], _identity_key: str, config: Any
) -> Any:
    # boto3 reads the AWS_ENDPOINT_URL* and credential variables itself; they are part of the key only.
    return boto3.client(service, region_name=region_name, config=config)


def client(service: str, config: Any = None) -> Any:
    """A boto3 client for ``service`` in the current region, created once per region and endpoint.

    ``config`` is a ``botocore.config.Config``; pass a module-level instance so
    the cache can reuse the client.
    """
    return _client(service, region(), _endpoint_overrides(), _identity(), config)


def reset_clients() -> None:
    """Forget every cached client (for tests that switch regions or mocks)."""
    _client.cache_clear()
