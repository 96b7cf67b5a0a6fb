"""The boundary of ``inference_proxy``: its environment.

A plain dataclass, not the pydantic ``EnvSettings`` the other functions use: importing pydantic
costs this latency-sensitive function about 20 ms of every cold start, for one string.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from lambdas.common.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """The function's environment variables."""

    endpoint_name: str

    @classmethod
    def from_env(cls) -> ProxySettings:
        """Read ``ENDPOINT_NAME``; refuse an unset or empty one.

        Read on every call (a dictionary lookup), not once at import: offline mode and the tests
        run the handler under environments that change between invocations of one process.
        """
        endpoint_name = os.environ.get("ENDPOINT_NAME", "")
        if not endpoint_name:
            raise ConfigurationError("invalid environment for ProxySettings: ENDPOINT_NAME: must be a non-empty name")
        return cls(endpoint_name=endpoint_name)
