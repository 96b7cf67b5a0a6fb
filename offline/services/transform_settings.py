"""A transform job's settings: what the request asks, what the container says, what SageMaker defaults to.

SageMaker Developer Guide, "Use Your Own Inference Code with Batch Transform"
(https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-batch-code.html):

* the container gets ``SAGEMAKER_BATCH=true`` and, only when the CreateTransformJob request sets
  them, ``SAGEMAKER_MAX_PAYLOAD_IN_MB``, ``SAGEMAKER_BATCH_STRATEGY`` (``SINGLE_RECORD`` /
  ``MULTI_RECORD``) and ``SAGEMAKER_MAX_CONCURRENT_TRANSFORMS`` ("If the user doesn't set values
  for them, they aren't passed"; a ``MaxConcurrentTransforms`` of 0 counts as unset, API Reference
  "CreateTransformJob");
* each of the three is taken from the request, else from the container's
  ``GET /execution-parameters`` answer, else from the defaults: 1 transform, 6 MB, and
  ``MultiRecord`` (the default the SageMaker Python SDK's local mode applies).

What offline mode cannot run is refused here, before the job starts anything, with an
:class:`~offline.services.sagemaker_processing.UnsupportedJobError` naming it.
"""

from __future__ import annotations

from typing import Any, Final

from offline.services.sagemaker_processing import UnsupportedJobError
from offline.services.transform_records import Plan

DEFAULT_MAX_CONCURRENT_TRANSFORMS: Final = 1
DEFAULT_MAX_PAYLOAD_MB: Final = 6
_STRATEGIES: Final = {"MultiRecord": "MULTI_RECORD", "SingleRecord": "SINGLE_RECORD"}
_CSV: Final = "text/csv"


def batch_environment(job: Any) -> dict[str, str]:
    """The variables SageMaker sets on a transform container, beyond the model's and the job's ``Environment``."""
    env = {"SAGEMAKER_BATCH": "true"}
    if job.max_payload_in_mb is not None:
        env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(job.max_payload_in_mb)
    if job.batch_strategy in _STRATEGIES:
        env["SAGEMAKER_BATCH_STRATEGY"] = _STRATEGIES[job.batch_strategy]
    if job.max_concurrent_transforms:
        env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(job.max_concurrent_transforms)
    return env


def _media(value: Any) -> str:
    return str(value or "").split(";", 1)[0].strip().lower()


def unsupported(job: Any) -> list[str]:
    """What this job asks that offline mode does not emulate (empty when it can run)."""
    problems: list[str] = []
    source = (job.transform_input.get("DataSource") or {}).get("S3DataSource") or {}
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        problems.append(f"S3DataType {source.get('S3DataType')} (offline mode reads S3Prefix inputs only)")
    if job.transform_input.get("CompressionType", "None") not in ("None", None):
        problems.append(f"CompressionType {job.transform_input.get('CompressionType')} (offline: None only)")
    if job.transform_input.get("SplitType", "None") not in ("None", "Line", None):
        problems.append(f"SplitType {job.transform_input.get('SplitType')} (offline: Line or None)")
    if job.batch_strategy not in (None, *_STRATEGIES):
        problems.append(f"BatchStrategy {job.batch_strategy}")
    processing = job.data_processing or {}
    for name in ("InputFilter", "OutputFilter"):
        if processing.get(name, "$") != "$":
            problems.append(f"DataProcessing.{name} {processing[name]} (offline: $ only)")
    if processing.get("JoinSource", "None") == "Input" and (
        _media(job.transform_input.get("ContentType")) != _CSV or _media(job.transform_output.get("Accept")) != _CSV
    ):
        problems.append("JoinSource Input with content other than text/csv in and out (offline: CSV joins only)")
    return problems


def effective_plan(job: Any, container: dict[str, Any]) -> Plan:
    """The job's plan: the request's values, else the container's ``/execution-parameters``, else defaults."""
    problems = unsupported(job)
    if problems:
        raise UnsupportedJobError("offline mode cannot run this transform job: " + "; ".join(problems))
    strategy = job.batch_strategy or {v: k for k, v in _STRATEGIES.items()}.get(
        str(container.get("BatchStrategy", "")), "MultiRecord"
    )
    payload = job.max_payload_in_mb
    if payload is None:
        payload = _whole(container.get("MaxPayloadInMB"), DEFAULT_MAX_PAYLOAD_MB)
    concurrency = job.max_concurrent_transforms or _whole(
        container.get("MaxConcurrentTransforms"), DEFAULT_MAX_CONCURRENT_TRANSFORMS
    )
    return Plan(
        split_lines=job.transform_input.get("SplitType") == "Line",
        multi_record=strategy == "MultiRecord",
        max_payload_mb=int(payload),
        max_concurrent_transforms=max(1, int(concurrency)),
        assemble_lines=job.transform_output.get("AssembleWith") == "Line",
        join_input=(job.data_processing or {}).get("JoinSource") == "Input",
    )


def _whole(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default
