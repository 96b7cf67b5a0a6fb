"""The serving image needs no scikit-learn, scipy or joblib, and scores with the runtime training checked."""

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
NOT_IN_THE_IMAGE = ("sklearn", "scipy", "joblib", "threadpoolctl")

#: Run in a fresh interpreter: importing any of these fails, as it would in the image.
_SCORE_WITHOUT_SKLEARN = """
import sys
from importlib.abc import MetaPathFinder

class Refuse(MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {refused!r}:
            raise ImportError(f"{{name}} is not in the serving image")
        return None

sys.meta_path.insert(0, Refuse())
import numpy as np
from inference.model import load_model
import inference.serve
from inference.asgi import make_app
model = load_model({model_dir!r})
print(model.runtime, model.score(np.array([[125.5, 14, np.nan, 0, 2, 400, 1, 0.02]]))[0])
assert not set({refused!r}) & {{name.split(".")[0] for name in sys.modules}}
"""


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def test_the_server_loads_and_scores_with_scikit_learn_scipy_and_joblib_unavailable(
    tmp_path: Path, model_dir: Path
) -> None:
    # Given exactly what inference/Dockerfile copies into the image
    shutil.copytree(REPO / "inference", tmp_path / "inference", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "training").mkdir()
    for name in ("__init__.py", "feature_schema.py"):
        shutil.copy(REPO / "training" / name, tmp_path / "training" / name)
    # When a model is loaded and scores a row with a missing value, with those libraries refused
    code = _SCORE_WITHOUT_SKLEARN.format(refused=NOT_IN_THE_IMAGE, model_dir=str(model_dir))
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Then it scores with onnxruntime
    assert result.returncode == 0, result.stderr
    runtime, probability = result.stdout.rsplit(" ", 1)
    assert runtime.startswith("onnxruntime ")
    assert 0.0 < float(probability) < 1.0


def test_the_serving_image_installs_no_scikit_learn_and_the_runtime_training_checks_with() -> None:
    serving = _pins(REPO / "inference/requirements.txt")
    training = _pins(REPO / "training/requirements.txt")
    assert not {"scikit-learn", "scipy", "joblib", "threadpoolctl", "gunicorn", "granian"} & set(serving)
    # Training checks every export with onnxruntime: the image must score with the same release.
    assert serving["onnxruntime"] == training["onnxruntime"]
    assert serving["numpy"] == training["numpy"]
