"""Environment variables parsed into pydantic models, read when a handler runs."""

from __future__ import annotations

import os
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from lambdas.common.errors import ConfigurationError

__all__ = ["ConfigurationError", "EnvSettings"]

SettingsT = TypeVar("SettingsT", bound="EnvSettings")


class EnvSettings(BaseModel):
    """Base for a function's settings; field names are the lower-case environment variable names."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_env(cls: type[SettingsT]) -> SettingsT:
        """Read the fields from ``os.environ`` (``FIELD_NAME`` in upper case)."""
        values = {name: os.environ[name.upper()] for name in cls.model_fields if name.upper() in os.environ}
        try:
            return cls.model_validate(values)
        except ValidationError as err:
            problems = "; ".join(
                f"{str(error['loc'][0]).upper()}: {error['msg']}" for error in err.errors(include_url=False)
            )
            raise ConfigurationError(f"invalid environment for {cls.__name__}: {problems}") from None
