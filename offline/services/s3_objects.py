"""Reading an S3 object the way AWS services read them: one GetObject, streamed to a file.

boto3's ``download_file`` starts with a HeadObject, whose 403 carries no body, so a refusal
would arrive as a bare "Forbidden". CodeBuild, SageMaker and the other services read with
GetObject, whose refusal explains itself; offline mode does the same.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any


def download(s3: Any, bucket: str, key: str, destination: Path) -> None:
    """Write ``s3://bucket/key`` to ``destination`` (raises botocore's ClientError)."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    with destination.open("wb") as handle:
        shutil.copyfileobj(body, handle)
