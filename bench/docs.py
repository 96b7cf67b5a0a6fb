"""``docs/benchmarks.md`` holds one section per benchmark script; each script rewrites only its own.

A section is everything between ``<!-- section: NAME -->`` and ``<!-- end: NAME -->``.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path


def marked(name: str, content: str) -> str:
    """``content`` between the markers of section ``name``."""
    return f"<!-- section: {name} -->\n{content.strip()}\n<!-- end: {name} -->\n"


def sections(text: str) -> dict[str, str]:
    """Every marked section of ``text`` by name, markers included."""
    pattern = re.compile(r"<!-- section: (?P<name>[\w.-]+) -->\n.*?<!-- end: (?P=name) -->\n", re.DOTALL)
    return {match["name"]: match[0] for match in pattern.finditer(text)}


def write_section(doc: Path, name: str, content: str) -> None:
    """Replace section ``name`` of ``doc`` with ``content``, or append it; the rest of the file stays."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    block = marked(name, content)
    existing = sections(text).get(name)
    text = text.replace(existing, block) if existing else text.rstrip("\n") + "\n\n" + block
    doc.write_text(text, encoding="utf-8")


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo``, or ``unknown CPU``."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages now (the machine may be shared)."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def machine() -> str:
    """Cores, CPU model, Python and the load average at start: the line each section's **Machine:** gives."""
    return (
        f"{os.cpu_count()} cores, {cpu_model()}, Python {platform.python_version()}; "
        f"load average at start {load_average()}"
    )
