"""A CloudFormation rule that refuses to deploy a region-agnostic stack outside the supported regions."""

from __future__ import annotations

from aws_cdk import Aws, CfnRule, CfnRuleAssertion, Fn, Stack, Token

from stacks.regions import SUPPORTED_REGIONS

RULE_ID = "SupportedRegion"


def require_supported_region(stack: Stack) -> CfnRule | None:
    """Add the rule to ``stack`` when its region is only known at deploy; return it (None when not needed).

    Without it, a deployment to a region lacking the Powertools layer or the
    base image would fail half-way with a bare ``Fn::FindInMap`` error.
    CloudFormation evaluates rules before it creates anything, and prints the
    description. A stack pinned to a region needs no rule: config validation
    has already refused unsupported regions at synth.
    """
    if not Token.is_unresolved(stack.region):
        return None
    return CfnRule(
        stack,
        RULE_ID,
        assertions=[
            CfnRuleAssertion(
                assert_=Fn.condition_contains(list(SUPPORTED_REGIONS), Aws.REGION),
                assert_description=(
                    "This app deploys only where the Powertools for AWS Lambda layer and SageMaker's "
                    f"scikit-learn image both exist: {', '.join(SUPPORTED_REGIONS)}"
                ),
            )
        ],
    )
