"""The boundary of ``inference_proxy``: its environment."""

from __future__ import annotations

from pydantic import Field

from lambdas.common.settings import EnvSettings


class ProxySettings(EnvSettings):
    """The function's environment variables."""

    endpoint_name: str = Field(min_length=1)
