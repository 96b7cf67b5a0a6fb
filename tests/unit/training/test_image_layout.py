"""The training image holds what its Dockerfile copies; the training and evaluation jobs must run from that."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _copied_sources() -> list[str]:
    """The repository paths training/Dockerfile COPYs into the image (requirements files aside)."""
    sources: list[str] = []
    for line in (REPO / "training/Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            sources += [s.rstrip("/") for s in line.split()[1:-1] if "requirements" not in s]
    return sources


def _training_image_paths() -> tuple[str, ...]:
    """``TRAINING_IMAGE_PATHS`` read from its module's source (importing it would start the CDK's jsii runtime)."""
    tree = ast.parse((REPO / "stacks/components/source_bundle.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TRAINING_IMAGE_PATHS":
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("TRAINING_IMAGE_PATHS not found")


def test_the_image_asset_holds_everything_the_dockerfile_copies() -> None:
    covered = _training_image_paths()
    assert _copied_sources() == ["training", "inference/__init__.py", "inference/model.py"]
    assert all(any(s == p or s.startswith(f"{p}/") for p in covered) for s in _copied_sources())


def test_both_jobs_import_from_what_the_image_holds(tmp_path: Path) -> None:
    # Given a copy of exactly what training/Dockerfile copies into the image
    for source in _copied_sources():
        target = tmp_path / source
        target.parent.mkdir(parents=True, exist_ok=True)
        if (REPO / source).is_dir():
            shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / source, target)
    # When the entry points and the serving loader evaluation uses are imported from there
    code = "import training.train, training.evaluate, training.synthetic, training.tracking, inference.model"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then nothing is missing
    assert result.returncode == 0, result.stderr
