"""The serving image holds only inference/ and two files of training/; the code must run from that."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_server_imports_from_the_inference_asset_alone(tmp_path: Path) -> None:
    # Given a copy of exactly what inference/Dockerfile copies into the image
    shutil.copytree(REPO / "inference", tmp_path / "inference", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "training").mkdir()
    for name in ("__init__.py", "feature_schema.py"):
        shutil.copy(REPO / "training" / name, tmp_path / "training" / name)
    # When the serving modules are imported from there
    result = subprocess.run(
        [sys.executable, "-c", "import inference.serve, inference.model, inference.app"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then nothing is missing
    assert result.returncode == 0, result.stderr


def test_the_training_package_and_schema_import_without_scikit_learn() -> None:
    # The Lambda asset vendors training/__init__.py and feature_schema.py without numpy or sklearn.
    code = "import sys, training, training.feature_schema; assert not {'sklearn', 'numpy'} & set(sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
