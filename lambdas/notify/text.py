"""Small pieces every notification is built from."""

from __future__ import annotations

import math
from typing import Any


def subject_prefix(environment: str) -> str:
    """``[FraudPipeline <env>]``: how every subject starts, so mail filters can sort them."""
    return f"[FraudPipeline {environment}]"


def run_value(run: dict[str, Any] | None, *path: str) -> str | None:
    """``run[path[0]][path[1]]...`` as a string, or None where any step is missing."""
    node: Any = run
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return None if node is None else str(node)


def figure(value: float | None, digits: int = 3) -> str:
    """A metric for a table: fixed decimals, ``-`` when unknown."""
    if value is None:
        return "-"
    return "nan" if math.isnan(value) else f"{value:.{digits}f}"


def table(header: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    """A plain-text table with left-aligned columns and a rule under the header (reads well in any mail client)."""
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]

    def line(cells: list[str]) -> str:
        return (indent + "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))).rstrip()

    return [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]


def package_version(arn: str | None) -> str | None:
    """The version of ``arn:...:model-package/<group>/<version>``."""
    return arn.rstrip("/").rsplit("/", 1)[-1] if arn else None


def package_group(arn: str | None) -> str | None:
    """The group of ``arn:...:model-package/<group>/<version>``."""
    if not arn or "model-package/" not in arn:
        return None
    parts = arn.split("model-package/", 1)[1].split("/")
    return parts[0] if len(parts) > 1 else None
