"""Docs and docstrings name files that exist: a reader who follows a reference finds it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
#: Files under this repository's top-level folders, as docs and docstrings write them (with an extension,
#: so that prose such as "training/serving" is not taken for a path).
_PATH = re.compile(
    r"(?<![\w/.])((?:stacks|lambdas|training|inference|offline|pipeline|tests|docs|buildspecs|bench)/[\w./-]*\.\w+)"
)
#: Paths in other repositories that a docstring cites as its source.
EXTERNAL = {
    # stacks/components/powertools_layer.py: pages of aws-powertools/powertools-lambda-python
    "docs/getting-started/install.md",
    "docs/includes/_layer_homepage_x86.md",
}
SOURCES = sorted(
    [REPO / "README.md", *REPO.glob("docs/*.md"), REPO / "offline" / "README.md"]
    + [
        p
        for folder in ("stacks", "lambdas", "training", "inference", "offline", "pipeline")
        for p in (REPO / folder).rglob("*.py")
    ]
)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_repository_path_a_document_names_exists(source: Path) -> None:
    missing = sorted(
        {
            path
            for path in _PATH.findall(source.read_text())
            if "<" not in path and "*" not in path and path not in EXTERNAL and not (REPO / path).exists()
        }
    )
    assert missing == [], f"{source.relative_to(REPO)} names files that do not exist"


def test_no_document_points_at_an_architecture_file_the_repository_lacks() -> None:
    for source in SOURCES:
        if not (REPO / "ARCHITECTURE.md").exists():
            assert "see ARCHITECTURE.md" not in source.read_text(), source
