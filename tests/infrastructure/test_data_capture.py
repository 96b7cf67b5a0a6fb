"""Data capture: every endpoint config captures requests and answers, and the captures expire."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Template

from tests.infrastructure.conftest import Synthesized


def _capture(synthesized: Synthesized) -> dict[str, Any]:
    config = synthesized.state_machine_definition("deployment")["States"]["CreateEndpointConfig"]
    return dict(config["Parameters"]["DataCaptureConfig"])


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_statements(template: Template, role_prefix: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if any(role.get("Ref", "").startswith(role_prefix) for role in policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _lifecycle(template: Template, bucket_prefix: str) -> list[dict[str, Any]]:
    buckets = template.find_resources("AWS::S3::Bucket")
    (bucket,) = [b for logical_id, b in buckets.items() if logical_id.startswith(bucket_prefix)]
    return list(bucket["Properties"]["LifecycleConfiguration"]["Rules"])


def test_the_endpoint_config_captures_input_and_output_as_text_encrypted_into_the_artifacts_bucket(
    dev: Synthesized,
) -> None:
    capture = _capture(dev)
    assert capture["EnableCapture"] is True
    assert capture["CaptureOptions"] == [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]
    # CSV and JSON bodies are stored as text (encoding CSV / JSON), not base64
    assert capture["CaptureContentTypeHeader"] == {
        "CsvContentTypes": ["text/csv"],
        "JsonContentTypes": ["application/json"],
    }
    # SageMaker appends <endpoint>/<variant>/yyyy/mm/dd/hh/ to the destination itself
    assert re.fullmatch(
        r"s3://\$\{Import:FraudPipeline-dev-Storage:ExportsOutputRefArtifactsBucket\w+\}/data-capture",
        capture["DestinationS3Uri"],
    ), capture["DestinationS3Uri"]
    assert re.fullmatch(
        r"\$\{Import:FraudPipeline-dev-Storage:ExportsOutputFnGetAttKey\w+Arn\w+\}", capture["KmsKeyId"]
    )


@pytest.mark.parametrize(("env_name", "expected"), [("dev", 100), ("prod", 20)])
def test_the_sampling_percentage_is_the_environments(
    env_name: str, expected: int, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(env_name)
    assert synthesized.config.data_capture.sampling_percentage == expected
    assert _capture(synthesized)["InitialSamplingPercentage"] == expected


def test_the_variant_and_capture_are_one_endpoint_config(dev: Synthesized) -> None:
    parameters = dev.state_machine_definition("deployment")["States"]["CreateEndpointConfig"]["Parameters"]
    assert set(parameters) == {"EndpointConfigName.$", "ProductionVariants", "DataCaptureConfig"}
    # No volume key: the capture key is the only KMS key SageMaker is given here, so the caller needs no grant
    assert "KmsKeyId" not in parameters


def test_the_execution_role_may_write_captures_with_the_key(dev: Synthesized) -> None:
    # SageMaker writes the capture files as the endpoint's execution role
    statements = _role_statements(dev.pipeline, "SageMakerExecutionRole")
    writes = [
        json.dumps(resource)
        for statement in statements
        if "s3:PutObject" in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    ]
    artifacts = [w for w in writes if "ArtifactsBucket" in w]
    assert any(w.endswith(('"/*"]]}', '"/data-capture/*"]]}')) for w in artifacts), artifacts
    key_actions = {
        action
        for statement in statements
        if "ExportsOutputFnGetAttKey" in json.dumps(statement["Resource"])
        for action in _as_list(statement["Action"])
    }
    # S3 asks KMS for a data key as the writer (SSE-KMS); SageMaker documents kms:Encrypt for a key it is given
    assert {"kms:GenerateDataKey*", "kms:Encrypt"} <= key_actions


@pytest.mark.parametrize(("env_name", "days"), [("dev", 14), ("prod", 90)])
def test_captures_expire_after_the_environments_retention(
    env_name: str, days: int, request: pytest.FixtureRequest
) -> None:
    synthesized: Synthesized = request.getfixturevalue(env_name)
    assert synthesized.config.data_capture.retention_days == days
    rules = {rule["Id"]: rule for rule in _lifecycle(synthesized.storage, "ArtifactsBucket")}
    assert rules["ExpireDataCapture"] == {
        "Id": "ExpireDataCapture",
        "Prefix": "data-capture/",
        "ExpirationInDays": days,
        # The bucket is versioned: an expired capture must not live on as a noncurrent version
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
        "Status": "Enabled",
    }
    # The rest of the bucket keeps its own rule, and the data bucket has no capture rule
    assert "ExpireOldVersions" in rules
    assert all(rule.get("Prefix") != "data-capture/" for rule in _lifecycle(synthesized.storage, "DataBucket"))
