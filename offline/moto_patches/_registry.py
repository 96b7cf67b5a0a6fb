"""The record of what offline mode replaced in moto, so each patch can call what it replaced."""

from __future__ import annotations

from typing import Any

originals: dict[str, Any] = {}


def _key(owner: Any, name: str) -> str:
    return f"{getattr(owner, '__name__', owner)}.{name}"


def patch(owner: Any, name: str, replacement: Any) -> None:
    """Replace ``owner.name`` with ``replacement``, remembering what was there."""
    originals[_key(owner, name)] = getattr(owner, name, None)
    setattr(owner, name, replacement)


def original(owner: Any, name: str) -> Any:
    """What ``owner.name`` was before offline mode patched it."""
    return originals[_key(owner, name)]


def unpatched(owner: Any, name: str) -> Any:
    """The attribute as moto ships it, whether or not the patches are installed (tests)."""
    return originals.get(_key(owner, name), getattr(owner, name, None))
