"""Settings that close the loop: what the endpoint captures, how drift is judged, how batches are scored.

Each is one object under an environment in ``cdk.json`` (``data_capture``, ``drift``, ``batch``),
validated here and carried on :class:`stacks.config.EnvironmentConfig`.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_SCHEDULE = re.compile(r"^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(\S+ \S+ \S+ \S+ \S+ \S+\))$")
#: Batch transform's MaxPayloadInMB bounds (SageMaker API Reference, CreateTransformJob).
MAX_TRANSFORM_PAYLOAD_MB = 100


def _instance_type(value: str) -> str:
    if not _INSTANCE_TYPE.match(value):
        raise ValueError(f"{value!r} is not a SageMaker instance type such as 'ml.m5.large'")
    return value


class DataCapture(BaseModel):
    """The endpoint config's ``DataCaptureConfig``: input and output, to ``data-capture/`` in the artifacts bucket."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Share of requests captured (SageMaker's ``InitialSamplingPercentage``, 0-100).
    sampling_percentage: int = Field(default=100, ge=0, le=100)
    #: Capture files are deleted after this many days (an S3 lifecycle rule on ``data-capture/``).
    retention_days: int = Field(default=90, ge=1, le=3650)


class DriftTolerance(BaseModel):
    """When a feature (or the predicted probability) counts as drifted, and when drift retrains.

    A feature drifts when its PSI is at least ``psi`` **and** the two-sample test rejects "same
    distribution" at ``p_value``: PSI says the shift is large enough to matter, the test that it is
    not noise. Retraining starts when at least ``min_drifted_features`` features drifted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    psi: float = Field(default=0.2, gt=0, le=10)
    p_value: float = Field(default=0.01, gt=0, lt=1)
    min_drifted_features: int = Field(default=1, ge=1)


class Drift(BaseModel):
    """The drift job: a SageMaker Processing job on a schedule, comparing captured data with the training baseline."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: EventBridge schedule of the drift job; null turns it off (it can still be started by hand).
    schedule: str | None = "rate(1 day)"
    #: The captured requests the job looks at: those of the last ``window_hours``.
    window_hours: int = Field(default=24, ge=1, le=24 * 31)
    #: Fewer captured records than this is reported as "insufficient data", never as "no drift".
    min_records: int = Field(default=200, ge=1)
    tolerance: DriftTolerance = Field(default_factory=DriftTolerance)
    #: At most one drift-triggered retraining per this many hours (a drifted world keeps drifting).
    retrain_cooldown_hours: int = Field(default=24, ge=0, le=24 * 31)
    instance_type: str = "ml.m5.large"
    max_runtime_seconds: int = Field(default=3600, ge=60, le=432000)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is not None and not _SCHEDULE.match(value):
            raise ValueError(
                f"{value!r} is not an EventBridge schedule; use 'rate(1 day)' or 'cron(0 4 * * ? *)', "
                "or null to disable"
            )
        return value

    @field_validator("instance_type")
    @classmethod
    def _instance(cls, value: str) -> str:
        return _instance_type(value)


class Batch(BaseModel):
    """Batch transform of ``batch/incoming/<name>/`` with the latest Approved version."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    instance_type: str = "ml.m5.large"
    instance_count: int = Field(default=1, ge=1, le=20)
    #: The largest mini-batch SageMaker sends the container (``MaxPayloadInMB``); rows are never split.
    max_payload_mb: int = Field(default=6, ge=1, le=MAX_TRANSFORM_PAYLOAD_MB)
    #: Parallel requests per instance (``MaxConcurrentTransforms``): the container's worker count.
    max_concurrent_transforms: int = Field(default=2, ge=1, le=64)
    max_runtime_seconds: int = Field(default=3600, ge=60, le=172800)

    @field_validator("instance_type")
    @classmethod
    def _instance(cls, value: str) -> str:
        return _instance_type(value)
