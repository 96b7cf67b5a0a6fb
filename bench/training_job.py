"""The benchmarks' model: the real training job on synthetic data, as SageMaker would run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[1]


def run_training_job(work: Path, rows: int, job_name: str) -> tuple[Path, float]:
    """Write splits of ``rows`` synthetic rows to ``work/data``, run ``python -m training.train`` on them.

    Returns the job's root (the ``/opt/ml`` layout: ``model/``, ``output/data/``) and the job's seconds.
    ``work/data/test.csv`` stays for the caller.
    """
    from training.synthetic import write_splits

    data = work / "data"
    write_splits(data, rows=rows, seed=2026)
    root = work / "opt_ml"
    for channel in ("train", "validation"):
        (root / "input/data" / channel).mkdir(parents=True)
        shutil.move(data / f"{channel}.csv", root / "input/data" / channel / f"{channel}.csv")
    env = os.environ | {"SM_PREFIX": str(root), "PYTHONPATH": str(REPO), "TRAINING_JOB_NAME": job_name}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "training.train"], env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return root, time.perf_counter() - started
