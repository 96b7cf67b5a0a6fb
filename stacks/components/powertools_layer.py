"""Where AWS publishes the Powertools for AWS Lambda (Python) v3 layer, and its ARN for a stack.

The layer is a public layer version owned by an AWS account, and the account
differs by partition and, in GovCloud, by region. Source: the "Lambda Layer",
"AWS China regions" and "AWS GovCloud regions" sections of the Powertools for
AWS Lambda (Python) installation page,
https://docs.aws.amazon.com/powertools/python/latest/getting-started/install/
(docs/getting-started/install.md and docs/includes/_layer_homepage_x86.md in
aws-powertools/powertools-lambda-python), as of layer version 27.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from aws_cdk import Aws, CfnMapping, Stack, Token
from constructs import Construct

from stacks.regions import SUPPORTED_REGIONS

#: The layer's name for the Lambda runtime and architecture every function here uses.
LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python313-x86_64"

_COMMERCIAL_ACCOUNT = "017000801446"
_COMMERCIAL_REGIONS = (
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
    "us-west-1",
    "us-west-2",
)

#: Region → the account that publishes the layer there (aws, aws-cn and aws-us-gov partitions).
POWERTOOLS_LAYER_ACCOUNTS: Mapping[str, str] = MappingProxyType(
    {
        **dict.fromkeys(_COMMERCIAL_REGIONS, _COMMERCIAL_ACCOUNT),
        # China: published in cn-north-1 only (not cn-northwest-1).
        "cn-north-1": "498634801083",
        # GovCloud: a different account in each region.
        "us-gov-east-1": "165087284144",
        "us-gov-west-1": "165093116878",
    }
)

_MAPPING_ID = "PowertoolsLayerAccounts"


def powertools_layer_arn(scope: Construct, *, version: int) -> str:
    """The layer version's ARN in ``scope``'s stack, for a region known at synth or only at deploy.

    With a region known at synth the ARN is literal. A region-agnostic stack
    gets one ``CfnMapping`` (supported region → publishing account) that
    CloudFormation reads at deploy; the stack's region rule keeps deployments
    to those regions, so the lookup cannot miss.
    """
    stack = Stack.of(scope)
    if Token.is_unresolved(stack.region):
        mapping = stack.node.try_find_child(_MAPPING_ID)
        if not isinstance(mapping, CfnMapping):
            mapping = CfnMapping(
                stack,
                _MAPPING_ID,
                mapping={region: {"account": POWERTOOLS_LAYER_ACCOUNTS[region]} for region in SUPPORTED_REGIONS},
            )
        account = mapping.find_in_map(Aws.REGION, "account")
    else:
        try:
            account = POWERTOOLS_LAYER_ACCOUNTS[stack.region]
        except KeyError:
            known = ", ".join(sorted(POWERTOOLS_LAYER_ACCOUNTS))
            raise ValueError(f"the Powertools layer is not published in {stack.region}; it is in: {known}") from None
    return f"arn:{stack.partition}:lambda:{stack.region}:{account}:layer:{LAYER_NAME}:{version}"
