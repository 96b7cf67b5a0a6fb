"""The local services the moto patches dispatch to, for the local AWS that is running now.

moto's patched methods are module-level functions with moto's signatures, so they find
offline mode's objects here rather than through arguments. One local AWS runs at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from offline.run.faults import FaultPlan
    from offline.services.cloudwatch_alarms import AlarmActions
    from offline.services.codebuild import LocalCodeBuild
    from offline.services.iam.enforcement import Iam
    from offline.services.lambda_runtime import LambdaRuntime
    from offline.services.sagemaker_hosting import EndpointFleet
    from offline.services.sagemaker_processing import ProcessingJobRunner
    from offline.services.sagemaker_training import TrainingJobRunner
    from offline.services.sagemaker_transform import TransformJobRunner


@dataclass
class Services:
    lambdas: LambdaRuntime
    codebuild: LocalCodeBuild
    training: TrainingJobRunner
    fleet: EndpointFleet
    faults: FaultPlan
    #: Called with (bucket name, key, size, etag, version id) for each S3 "Object Created".
    on_object_created: Callable[[dict[str, Any]], None]
    #: Longest a Wait state or a Retry interval really sleeps (seconds).
    max_wait_seconds: float = 2.0
    #: Offline IAM; None only where a test runs the services without it.
    iam: Iam | None = None
    #: What CloudWatch does when an alarm changes state.
    alarms: AlarmActions | None = None
    #: SageMaker Processing jobs; None where a test runs the services without them.
    processing: ProcessingJobRunner | None = None
    #: SageMaker batch transform jobs; None where a test runs the services without them.
    transform: TransformJobRunner | None = None
    #: Simulated seconds per real second for deployment-guardrail bakes and alarm periods (60: a minute a second).
    time_scale: float = 60.0


_active: Services | None = None


def activate(active: Services | None) -> None:
    global _active
    _active = active


def current() -> Services | None:
    return _active


def services() -> Services:
    if _active is None:
        raise RuntimeError("offline mode's local services are not running")
    return _active
