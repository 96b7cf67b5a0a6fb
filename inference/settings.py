"""The hosting contract's knobs for ``inference.serve``, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from inference import fault_injection
from inference.batch import BatchSettings
from inference.env_values import whole_number
from inference.model import LoadedModel, load_model

#: Threads per worker that parse and score large bodies off the event loop (``inference.asgi``).
#: Scoring releases the GIL (onnxruntime, numpy); parsing holds it, so a few are enough.
THREADS: Final = 4


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The hosting contract's knobs, read once from the environment."""

    model_dir: str
    host: str
    port: int
    workers: int
    threads: int
    timeout: int
    model_version: str | None = None
    #: ``INFERENCE_FAULT_5XX_RATE``: the share of /invocations answered 500 (offline scenario testing only).
    fault_5xx_rate: float = 0.0
    #: Batch transform mode and its bounds (``SAGEMAKER_BATCH``, ``inference.batch``).
    batch: BatchSettings = field(default_factory=BatchSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServerSettings:
        """Read ``SM_MODEL_DIR``, ``SAGEMAKER_BIND_TO_PORT``, ``SAGEMAKER_MODEL_SERVER_WORKERS``..."""

        def integer(name: str, default: int, low: int) -> int:
            value = whole_number(env, name, low)
            return default if value is None else value

        batch = BatchSettings.from_env(env)
        workers = integer("SAGEMAKER_MODEL_SERVER_WORKERS", os.cpu_count() or 1, 1)
        return cls(
            model_dir=env.get("SM_MODEL_DIR") or "/opt/ml/model",
            host=env.get("SERVE_HOST") or "0.0.0.0",
            port=integer("SAGEMAKER_BIND_TO_PORT", 8080, 1),
            # A transform job keeps SAGEMAKER_MAX_CONCURRENT_TRANSFORMS requests open: one worker process each.
            workers=(batch.max_concurrent_transforms or workers) if batch.enabled else workers,
            threads=integer("SERVE_THREADS", THREADS, 1),
            timeout=integer("SAGEMAKER_MODEL_SERVER_TIMEOUT", 60, 1),
            model_version=env.get("MODEL_VERSION", "").strip() or None,
            fault_5xx_rate=fault_injection.parse_rate(env.get(fault_injection.VARIABLE)),
            batch=batch,
        )


def served_model(settings: ServerSettings) -> LoadedModel:
    """The model to serve, reporting ``MODEL_VERSION`` when set; raises :class:`ModelLoadError`."""
    model = load_model(settings.model_dir)
    return replace(model, version=settings.model_version) if settings.model_version else model
