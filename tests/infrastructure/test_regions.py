"""Regions and partitions: where the app can run, and the partition-specific ARNs it uses there."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks.components.base_image import registry_regions
from stacks.components.powertools_layer import POWERTOOLS_LAYER_ACCOUNTS
from stacks.components.python_function import PythonFunction
from stacks.config import ConfigError, load_environment
from stacks.regions import SUPPORTED_REGIONS
from tests.infrastructure.conftest import CDK_CONTEXT, REPO, Synthesized

LAYER = "AWSLambdaPowertoolsPythonV3-python313-x86_64"
_REGION = re.compile(r"`([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d)`")


def _context(**dev: Any) -> dict[str, Any]:
    context = json.loads(json.dumps(CDK_CONTEXT))
    context["environments"]["dev"].update(dev)
    return context


def _readme_section(title: str) -> str:
    readme = (REPO / "README.md").read_text()
    start = readme.index(f"\n## {title}\n")
    end = readme.find("\n## ", start + 1)
    return readme[start : end if end != -1 else None]


# -- which regions -----------------------------------------------------------------------------------


def test_supported_regions_are_exactly_where_both_the_layer_and_the_base_image_exist() -> None:
    # Given the regions the Powertools layer is published in and the base image's registry table
    # When they are intersected
    both = set(POWERTOOLS_LAYER_ACCOUNTS) & registry_regions()
    # Then that is the supported set, kept sorted
    assert set(SUPPORTED_REGIONS) == both
    assert list(SUPPORTED_REGIONS) == sorted(SUPPORTED_REGIONS)


def test_readme_lists_exactly_the_supported_regions() -> None:
    # Given the README's "Supported regions" section
    listed = _REGION.findall(_readme_section("Supported regions"))
    # Then it names every supported region once, and no other
    assert sorted(listed) == sorted(set(listed))
    assert set(listed) == set(SUPPORTED_REGIONS)


@pytest.mark.parametrize("region", ["cn-northwest-1", "us-iso-east-1", "mx-central-1"])
def test_config_refuses_a_region_outside_the_supported_set(region: str) -> None:
    # Given an environment pinned to a region lacking the layer or the base image
    # When its config is validated
    with pytest.raises(ConfigError) as raised:
        load_environment(_context(region=region, account="123456789012"), "dev")
    # Then the error names the key and the region and lists the supported regions
    message = str(raised.value)
    assert "environments.dev.region" in message
    assert repr(region) in message
    assert ", ".join(SUPPORTED_REGIONS) in message


def test_app_stops_with_a_clean_error_for_an_unsupported_region(tmp_path: Path) -> None:
    # Given cdk.json's context with dev pinned to a region without the Powertools layer
    context = {**_context(region="cn-northwest-1"), "env": "dev"}
    # When app.py runs the way the CDK CLI runs it
    completed = subprocess.run(
        [sys.executable, str(REPO / "app.py")],
        cwd=REPO,
        env={**os.environ, "CDK_OUTDIR": str(tmp_path), "CDK_CONTEXT_JSON": json.dumps(context)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    # Then it exits non-zero with one "error:" line naming the region, not a traceback
    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "'cn-northwest-1'" in completed.stderr


# -- partition-specific ARNs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "arn_prefix"),
    [
        ("eu-west-1", "arn:aws:lambda:eu-west-1:017000801446"),
        ("cn-north-1", "arn:aws-cn:lambda:cn-north-1:498634801083"),
        ("us-gov-east-1", "arn:aws-us-gov:lambda:us-gov-east-1:165087284144"),
        ("us-gov-west-1", "arn:aws-us-gov:lambda:us-gov-west-1:165093116878"),
    ],
)
def test_a_function_uses_the_layer_published_in_its_region(region: str, arn_prefix: str, tmp_path: Path) -> None:
    # Given a stack pinned to a region of the commercial, China or GovCloud partition (with cdk.json's feature flags)
    app = cdk.App(outdir=str(tmp_path), context=CDK_CONTEXT)
    stack = cdk.Stack(app, "Functions", env=cdk.Environment(account="123456789012", region=region))
    # When a function is built in it
    PythonFunction(
        stack,
        "Notify",
        name="notify",
        description="a function",
        environment={},
        log_retention=cdk.aws_logs.RetentionDays.ONE_WEEK,
        removal_policy=cdk.RemovalPolicy.DESTROY,
        powertools_layer_version=27,
    )
    # Then its layer is the one AWS publishes in that partition and region, under that region's account
    Template.from_stack(stack).has_resource_properties(
        "AWS::Lambda::Function", {"Layers": [f"{arn_prefix}:layer:{LAYER}:27"]}
    )


def test_a_region_agnostic_stack_looks_the_layer_account_up_by_region(dev: Synthesized) -> None:
    # Given dev, which pins no region
    for template in (dev.pipeline, dev.inference):
        # When its functions' layers are read
        functions = template.find_resources("AWS::Lambda::Function")
        # Then each layer ARN takes the partition and region from the deployment and the account from a mapping
        for function in functions.values():
            (layer,) = function["Properties"]["Layers"]
            rendered = json.dumps(layer)
            assert '{"Ref": "AWS::Partition"}' in rendered
            assert '"Fn::FindInMap": ["PowertoolsLayerAccounts", {"Ref": "AWS::Region"}, "account"]' in rendered
        # And the mapping holds every supported region's publishing account
        (mapping,) = template.find_mappings("PowertoolsLayerAccounts").values()
        assert {region: row["account"] for region, row in mapping.items()} == {
            region: POWERTOOLS_LAYER_ACCOUNTS[region] for region in SUPPORTED_REGIONS
        }


def test_region_agnostic_stacks_refuse_an_unsupported_region_at_deploy(dev: Synthesized) -> None:
    # Given every stack of dev, which pins no region
    templates = [dev.storage, dev.pipeline, dev.inference, dev.api_gateway_account]
    for template in templates:
        assert template is not None
        # When its CloudFormation rules are read
        rule = template.to_json()["Rules"]["SupportedRegion"]
        # Then one assertion requires the deployment region to be a supported one, saying which are
        (assertion,) = rule["Assertions"]
        assert assertion["Assert"] == {"Fn::Contains": [list(SUPPORTED_REGIONS), {"Ref": "AWS::Region"}]}
        assert ", ".join(SUPPORTED_REGIONS) in assertion["AssertDescription"]


@pytest.fixture(scope="module")
def china(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return Synthesized("dev", tmp_path_factory.mktemp("cdk-china"), region="cn-north-1", account="123456789012")


def test_a_china_region_app_uses_china_accounts_and_needs_no_deploy_time_region_rule(china: Synthesized) -> None:
    # Given dev pinned to cn-north-1
    # When the pipeline's functions and image builds are read
    functions = china.pipeline.find_resources("AWS::Lambda::Function")
    layers = json.dumps([function["Properties"]["Layers"] for function in functions.values()])
    builds = json.dumps(china.pipeline.find_resources("AWS::CodeBuild::Project"))
    # Then the layer and the base image come from the China accounts, in the aws-cn partition
    assert f"arn:aws-cn:lambda:cn-north-1:498634801083:layer:{LAYER}:27" in layers
    assert "017000801446" not in layers
    assert "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-scikit-learn:1.9-0-cpu-py3" in builds
    # And no stack carries the region rule: synth already checked the region
    for template in (china.storage, china.pipeline, china.inference):
        assert "SupportedRegion" not in template.to_json().get("Rules", {})
