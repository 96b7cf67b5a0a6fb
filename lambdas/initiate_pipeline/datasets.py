"""Choosing the dataset a run trains on, checking it, and fingerprinting its contents.

A dataset is the folder ``<data prefix><dataset>/`` holding ``train/``, ``validation/`` and ``test/``
(held out: the evaluation step scores the new model and the live one on it).
It is complete when its completion marker ``<data prefix><dataset>/_SUCCESS`` exists: the
convention Hadoop, Spark and AWS Glue jobs follow, uploaded last. Only the marker starts a
run, so a run never sees a dataset still being uploaded.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

from lambdas.initiate_pipeline.models import DataVersion

CHANNELS = ("train", "validation", "test")
#: The object that says a dataset folder is complete.
COMPLETION_MARKER = "_SUCCESS"
#: A dataset's folder name ends up in S3 URIs of training jobs, notifications and logs; keep it plain.
DATASET_NAME_CHARACTERS = "[A-Za-z0-9._-]"
_DATASET_NAME = re.compile(rf"^{DATASET_NAME_CHARACTERS}+$")


class DatasetError(RuntimeError):
    """No usable dataset: the state machine's catch turns this into a failure notification."""


def _is_file(key: str) -> bool:
    """Skip the zero-byte "folder" placeholders that the console creates."""
    return not key.endswith("/")


def _check_dataset_name(dataset: str, where: str) -> None:
    """Refuse a dataset folder name with characters outside :data:`DATASET_NAME_CHARACTERS`."""
    if not _DATASET_NAME.match(dataset):
        raise DatasetError(
            f"{where}: dataset name {dataset!r} may only hold the characters {DATASET_NAME_CHARACTERS} "
            "(letters, digits, '.', '_', '-'); rename the folder"
        )


def dataset_prefix_for_key(bucket: str, data_prefix: str, object_key: str) -> str:
    """The dataset folder (``incoming/<dataset>/``) whose completion marker is ``object_key`` (decoded)."""
    expected = f"s3://{bucket}/{data_prefix}<dataset>/{COMPLETION_MARKER}"
    if not object_key.startswith(data_prefix):
        raise DatasetError(
            f"object s3://{bucket}/{object_key} is not under the data prefix s3://{bucket}/{data_prefix}"
        )
    dataset, sep, rest = object_key[len(data_prefix) :].partition("/")
    if not dataset or not sep or rest != COMPLETION_MARKER:
        raise DatasetError(
            f"object s3://{bucket}/{object_key} is not a dataset's completion marker; expected {expected}, "
            "uploaded after the dataset's train/, validation/ and test/ files"
        )
    _check_dataset_name(dataset, f"object s3://{bucket}/{object_key}")
    return f"{data_prefix}{dataset}/"


def newest_dataset_prefix(s3: Any, bucket: str, data_prefix: str) -> str:
    """The complete dataset folder under ``data_prefix`` whose completion marker is the most recent."""
    newest: dict[str, datetime] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=data_prefix):
        for item in page.get("Contents", []):
            key: str = item["Key"]
            dataset, sep, rest = key[len(data_prefix) :].partition("/")
            if not dataset or not sep or rest != COMPLETION_MARKER:
                continue
            newest[dataset] = item["LastModified"]
    if not newest:
        raise DatasetError(
            f"no complete dataset under s3://{bucket}/{data_prefix}: upload <dataset>/train/, validation/ and test/, "
            f"then the completion marker <dataset>/{COMPLETION_MARKER}"
        )
    # Ties (same second) go to the lexically last name, so the choice is deterministic.
    dataset = max(newest, key=lambda name: (newest[name], name))
    # Refused rather than skipped: silently training on an older dataset would hide the problem.
    _check_dataset_name(dataset, f"newest dataset s3://{bucket}/{data_prefix}{dataset}/")
    return f"{data_prefix}{dataset}/"


def current_objects(s3: Any, bucket: str, prefix: str) -> dict[str, str]:
    """``{key: version id, or ETag where the bucket is not versioned}`` of the live objects under ``prefix``."""
    objects: dict[str, str] = {}
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            key: str = version["Key"]
            if not version.get("IsLatest") or not _is_file(key) or key.endswith(f"/{COMPLETION_MARKER}"):
                continue
            version_id = version.get("VersionId")
            objects[key] = version_id if version_id and version_id != "null" else str(version["ETag"]).strip('"')
    return objects


def data_version(objects: dict[str, str]) -> str:
    """SHA-256 over the sorted ``key`` / ``version`` pairs: changes whenever any object does."""
    digest = hashlib.sha256()
    for key in sorted(objects):
        digest.update(f"{key}\t{objects[key]}\n".encode())
    return digest.hexdigest()


def describe_dataset(s3: Any, bucket: str, prefix: str) -> DataVersion:
    """Check ``prefix`` holds both channels and return its location and version."""
    objects = current_objects(s3, bucket, prefix)
    missing = [channel for channel in CHANNELS if not any(key.startswith(f"{prefix}{channel}/") for key in objects)]
    if missing:
        wanted = " and ".join(f"s3://{bucket}/{prefix}{channel}/" for channel in missing)
        raise DatasetError(
            f"dataset s3://{bucket}/{prefix} is marked complete but has no objects under {wanted}; "
            f"upload them, then the marker {COMPLETION_MARKER} again"
        )
    return DataVersion(
        bucket=bucket,
        prefix=prefix,
        train_uri=f"s3://{bucket}/{prefix}train/",
        validation_uri=f"s3://{bucket}/{prefix}validation/",
        test_uri=f"s3://{bucket}/{prefix}test/",
        version=data_version(objects),
    )
