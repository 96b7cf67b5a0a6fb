"""Reading whole numbers from the environment, with errors that name the variable and its bounds."""

from __future__ import annotations

from collections.abc import Mapping


def whole_number(env: Mapping[str, str], name: str, low: int, high: int | None = None) -> int | None:
    """``env[name]`` as an int in ``[low, high]`` (no upper bound when ``high`` is None); None when unset or blank.

    A value that is not a whole number, or lies outside the bounds, is a :class:`ValueError` saying so.
    """
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw[:40]!r}") from None
    if high is None:
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    elif not low <= value <= high:
        # SageMaker's MaxPayloadInMB 0 asks for bodies of any size, streamed: a bound keeps a worker's memory in check.
        why = " (0 means unbounded, streamed bodies, which this server does not take)" if value == 0 else ""
        raise ValueError(f"{name} must be from {low} to {high}, got {value}{why}")
    return value
