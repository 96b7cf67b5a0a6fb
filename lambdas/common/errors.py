"""Errors every Lambda can raise, in a module that imports nothing heavy.

The inference proxy's cold start cannot afford pydantic (``lambdas.common.settings``
imports it), yet raises the same :class:`ConfigurationError` as the other functions.
"""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """The function's environment is missing or malformed: a deployment bug, not a user error."""
