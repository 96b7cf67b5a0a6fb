"""Run ids and SageMaker resource names derived from the Step Functions execution."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

#: SageMaker's rule for training job, model and endpoint config names.
SAGEMAKER_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*$")
SAGEMAKER_NAME_MAX = 63

_HASH_CHARS = 8


def short_hash(text: str, length: int = _HASH_CHARS) -> str:
    """The first ``length`` hex digits of the SHA-256 of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _slug(text: str) -> str:
    """Letters and digits of ``text``, every other run of characters turned into one hyphen."""
    return re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-")


def run_id(environment: str, execution_name: str, start_time: datetime) -> str:
    """``<env>-<UTC yyyymmddHHMMSS of the execution start>-<hash of the execution name>``."""
    started = start_time.astimezone(UTC) if start_time.tzinfo else start_time
    return f"{_slug(environment)}-{started:%Y%m%d%H%M%S}-{short_hash(execution_name)}"


def sagemaker_name(prefix: str, execution_name: str, unique_key: str) -> str:
    """``<prefix>-<execution name, trimmed to fit>-<hash of unique_key>``, valid for SageMaker, lower case.

    The hash keeps names unique even when two long execution names share the
    trimmed part, and lets a name be traced back to its execution. Lower case
    because SageMaker lower-cases names in ARNs, which IAM policies match.
    """
    suffix = short_hash(unique_key)
    head = _slug(prefix)[: SAGEMAKER_NAME_MAX - len(suffix) - 1].strip("-")
    room = SAGEMAKER_NAME_MAX - len(head) - len(suffix) - 2
    middle = _slug(execution_name)[: max(room, 0)].strip("-")
    name = "-".join(part for part in (head, middle, suffix) if part).lower()
    if not SAGEMAKER_NAME_PATTERN.match(name) or len(name) > SAGEMAKER_NAME_MAX:  # pragma: no cover - by design
        raise ValueError(f"derived an invalid SageMaker name {name!r}")
    return name
