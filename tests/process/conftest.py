"""Process-level fixtures: a dataset in SageMaker's layout, one real training run, one real server.

Training runs once per session; the server runs once per session on a free port.
Every subprocess is killed in teardown, whatever the tests did.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from training.synthetic import write_splits

REPO = Path(__file__).resolve().parents[2]
#: Small and quick: the process tests prove the contracts, not the model's quality.
HYPERPARAMETERS = {"max_iter": "30", "max_depth": "6"}


def job_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment SageMaker would give a training container whose /opt/ml is ``root``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    env |= {
        "SM_CHANNEL_TRAIN": str(root / "input/data/train"),
        "SM_CHANNEL_VALIDATION": str(root / "input/data/validation"),
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DATA_DIR": str(root / "output/data"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_INPUT_CONFIG_DIR": str(root / "input/config"),
        "SM_NUM_CPUS": "1",  # shared CI cores: OpenMP spinning threads slow small fits down badly
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
    }
    return env | extra


def layout_job(root: Path, data_dir: Path, hyperparameters: dict[str, str]) -> None:
    """Copy the splits into the channels and write hyperparameters.json, as SageMaker does."""
    for channel in ("train", "validation"):
        target = root / "input/data" / channel
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{channel}.csv").write_bytes((data_dir / f"{channel}.csv").read_bytes())
    (root / "input/config").mkdir(parents=True, exist_ok=True)
    (root / "input/config/hyperparameters.json").write_text(json.dumps(hyperparameters))


def run_training(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training.train"], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("dataset")
    write_splits(directory, rows=6_000, seed=17)
    return directory


@dataclass(frozen=True)
class TrainedJob:
    root: Path
    result: subprocess.CompletedProcess[str]

    @property
    def model_dir(self) -> Path:
        return self.root / "model"


@pytest.fixture(scope="session")
def trained_job(tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> TrainedJob:
    root = tmp_path_factory.mktemp("opt_ml")
    layout_job(root, dataset, HYPERPARAMETERS)
    env = job_env(root, TRAINING_JOB_NAME="fraud-train-test-1", DATA_VERSION="data-v1", CODE_VERSION="code-v1")
    return TrainedJob(root, run_training(env))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_server(model_dir: Path, workers: int = 2, **extra_env: str) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SM_", "SAGEMAKER_"))}
    env |= {
        "SM_MODEL_DIR": str(model_dir),
        "SAGEMAKER_BIND_TO_PORT": str(port),
        "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
        "SERVE_HOST": "127.0.0.1",
        "PYTHONPATH": str(REPO),
    } | extra_env
    process = subprocess.Popen(
        [sys.executable, "-m", "inference.serve"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    server = Server(process, port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode}: {output}")
        try:
            with urllib.request.urlopen(f"{server.url}/ping", timeout=1) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    stop_server(server)
    raise RuntimeError("server did not answer /ping within 30 s")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)
    if server.process.stdout:
        server.process.stdout.close()


@pytest.fixture(scope="session")
def server(trained_job: TrainedJob) -> Iterator[Server]:
    assert trained_job.result.returncode == 0, trained_job.result.stderr
    running = start_server(trained_job.model_dir)
    try:
        yield running
    finally:
        stop_server(running)
