"""The baseline of ``bench.proxy_overhead``: the least a Lambda that calls a SageMaker endpoint can be.

It imports boto3 and creates its sagemaker-runtime client at import, as a minimal handler would,
and passes the body through. No validation, logging, metrics or tracing: what the proxy's cold
start is compared with.
"""

from __future__ import annotations

import os
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]

runtime = boto3.client("sagemaker-runtime")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Forward the body; answer the endpoint's text."""
    response = runtime.invoke_endpoint(
        EndpointName=os.environ["ENDPOINT_NAME"],
        ContentType="text/csv",
        Accept="application/json",
        Body=(event.get("body") or "").encode(),
    )
    return {"statusCode": 200, "body": response["Body"].read().decode()}
