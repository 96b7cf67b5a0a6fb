"""Suite-wide collection rules.

``make test`` runs the suite on two pytest-xdist workers with ``--dist loadgroup``: tests spread one by
one, except those in an ``xdist_group``, which share a worker. A module-scoped fixture is built once
per worker that needs it, and some are whole offline runs, so every test using one is grouped with
the module's other users of it (without xdist the marker does nothing).
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        shared = [
            name
            for name, definitions in info.name2fixturedefs.items()
            if definitions and definitions[-1].scope == "module"
        ]
        if shared:
            # One group per module: its module-scoped fixtures are built on one worker, once.
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
