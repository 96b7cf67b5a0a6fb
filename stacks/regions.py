"""The regions this app deploys to.

A region is supported when both things the app takes from AWS exist there:
the public Powertools for AWS Lambda layer (``stacks.components.powertools_layer``)
and SageMaker's scikit-learn 1.9-0 framework image (``stacks.components.base_image``,
from the sagemaker SDK's registry table). The list is written out rather than
computed so that config validation stays cheap and the README can list it;
``tests/infrastructure/test_regions.py`` checks it is exactly that intersection
and that the README lists the same regions.
"""

from __future__ import annotations

SUPPORTED_REGIONS: tuple[str, ...] = (
    "af-south-1",
    "ap-east-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ca-central-1",
    "ca-west-1",
    "cn-north-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-gov-east-1",
    "us-gov-west-1",
    "us-west-1",
    "us-west-2",
)
