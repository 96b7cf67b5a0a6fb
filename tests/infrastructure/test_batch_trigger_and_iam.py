"""The batch state machine's trigger (the rule on the data bucket) and the IAM of everything it runs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from offline.services.event_patterns import matches
from tests.infrastructure.conftest import Synthesized


def _statements(template: Template, role_prefix: str) -> list[dict[str, Any]]:
    """Every statement of the policies attached to the role whose logical id starts with ``role_prefix``."""
    return [
        statement
        for policy in template.find_resources("AWS::IAM::Policy").values()
        if any(role.get("Ref", "").startswith(role_prefix) for role in policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _granted(statements: list[dict[str, Any]], action: str) -> list[str]:
    """The resources ``action`` is allowed on, each rendered as JSON text."""
    return [
        json.dumps(resource)
        for statement in statements
        if action in _as_list(statement["Action"])
        for resource in _as_list(statement["Resource"])
    ]


def _s3_rules(dev: Synthesized) -> dict[str, dict[str, Any]]:
    """``{"batch" | "retraining": rule}``: the two rules started by objects created in the data bucket."""
    rules = dev.pipeline.find_resources("AWS::Events::Rule", {"Properties": {"EventPattern": {"source": ["aws.s3"]}}})
    found: dict[str, dict[str, Any]] = {}
    for rule in rules.values():
        target = json.dumps(rule["Properties"]["Targets"])
        found["batch" if "BatchStateMachine" in target else "retraining"] = dict(rule)
    return found


def _object_created(key: str) -> dict[str, Any]:
    return {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": "data-bucket"}, "object": {"key": key}},
    }


def _pattern_for_bucket(rule: dict[str, Any]) -> dict[str, Any]:
    """The rule's pattern with the data bucket's name (an import at synth) replaced by a literal."""
    pattern = json.loads(json.dumps(rule["Properties"]["EventPattern"]))
    pattern["detail"]["bucket"]["name"] = ["data-bucket"]
    return pattern


# -- trigger ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "starts_batch", "starts_retraining"),
    [
        ("batch/incoming/2026-11-24/_SUCCESS", True, False),
        ("batch/incoming/2026-11-24/part-0001.csv", False, False),
        ("incoming/2026-11-24/_SUCCESS", False, True),
        ("incoming/2026-11-24/train/train.csv", False, False),
        ("batch/output/2026-11-24/_SUCCESS.out", False, False),
    ],
)
def test_only_a_batch_marker_starts_a_batch_and_only_a_dataset_marker_starts_retraining(
    dev: Synthesized, key: str, starts_batch: bool, starts_retraining: bool
) -> None:
    # Given the two rules on objects created in the data bucket
    rules = _s3_rules(dev)
    # When an object with this key is created
    event = _object_created(key)
    # Then exactly the expected state machine starts
    assert matches(_pattern_for_bucket(rules["batch"]), event) is starts_batch
    assert matches(_pattern_for_bucket(rules["retraining"]), event) is starts_retraining


def test_the_batch_rule_passes_the_markers_bucket_and_key(dev: Synthesized) -> None:
    rule = _s3_rules(dev)["batch"]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"] == {"key": [{"wildcard": "batch/incoming/*/_SUCCESS"}]}
    assert "DataBucket" in json.dumps(pattern["detail"]["bucket"])
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"]["Ref"].startswith("BatchStateMachine")
    transformer = target["InputTransformer"]
    assert json.loads(
        transformer["InputTemplate"].replace("<detail-bucket-name>", '"b"').replace("<detail-object-key>", '"k"')
    ) == {"bucket": "b", "object_key": "k"}
    assert transformer["InputPathsMap"] == {
        "detail-bucket-name": "$.detail.bucket.name",
        "detail-object-key": "$.detail.object.key",
    }


# -- IAM -------------------------------------------------------------------------------------------


def test_the_state_machine_may_run_the_transform_integration_on_batch_names_only(dev: Synthesized) -> None:
    statements = _statements(dev.pipeline, "BatchStateMachineRole")
    jobs = ":transform-job/fraud-dev-batch-*"
    for action in (
        "sagemaker:CreateTransformJob",
        "sagemaker:DescribeTransformJob",
        "sagemaker:StopTransformJob",
        "sagemaker:AddTags",
    ):
        (resource,) = _granted(statements, action)
        assert jobs in resource, action
    assert sorted(r.split(":")[-1][:-4] for r in _granted(statements, "sagemaker:ListTags")) == sorted(
        ["model/fraud-dev-batch-*", "transform-job/fraud-dev-batch-*"]
    )
    # The .sync integration's managed rule, and nothing else of EventBridge
    for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule"):
        (rule,) = _granted(statements, action)
        assert rule.endswith(':rule/StepFunctionsGetEventsForSageMakerTransformJobsRule"]]}'), rule


def test_the_state_machine_creates_and_deletes_only_batch_models_and_passes_only_the_sagemaker_role(
    dev: Synthesized,
) -> None:
    statements = _statements(dev.pipeline, "BatchStateMachineRole")
    for action in ("sagemaker:CreateModel", "sagemaker:deleteModel"):
        (resource,) = _granted(statements, action)
        assert resource.endswith(':model/fraud-dev-batch-*"]]}'), action
    (package,) = _granted(statements, "sagemaker:describeModelPackage")
    assert package.endswith(':model-package/fraud-dev-models/*"]]}')
    assert _granted(statements, "sagemaker:listModelPackages") == ['"*"']
    (passing,) = [s for s in statements if "iam:PassRole" in _as_list(s["Action"])]
    assert passing["Resource"]["Fn::GetAtt"][0].startswith("SageMakerExecutionRole")
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_the_execution_role_writes_batch_scores_only_under_batch_output(dev: Synthesized) -> None:
    statements = _statements(dev.pipeline, "SageMakerExecutionRole")
    data_bucket_writes = [r for r in _granted(statements, "s3:PutObject") if "DataBucket" in r]
    assert len(data_bucket_writes) == 1
    assert data_bucket_writes[0].endswith('"/batch/output/*"]]}')
    # It reads the batch (the whole data bucket is readable to it)
    assert any(r.endswith('"/*"]]}') and "DataBucket" in r for r in _granted(statements, "s3:GetObject*"))
    # And encrypts the scores with the environment's key
    (key,) = _granted(statements, "kms:GenerateDataKey*")
    assert "ExportsOutputFnGetAttKey" in key


def test_the_summary_reads_the_output_and_the_prepare_step_reads_nothing(dev: Synthesized) -> None:
    summary = _statements(dev.pipeline, "BatchSummarizeRole")
    reads = _granted(summary, "s3:GetObject*")
    assert [r for r in reads if r.endswith('"]]}')] == [r for r in reads if r.endswith('"/batch/output/*"]]}')]
    assert _granted(summary, "s3:PutObject") == []
    prepare = _statements(dev.pipeline, "BatchPrepareRole")
    assert {a for s in prepare for a in _as_list(s["Action"])} == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    }


def test_both_functions_know_the_environment_its_data_bucket_and_name_prefix(dev: Synthesized) -> None:
    for handler in ("prepare_handler", "summary_handler"):
        dev.pipeline.has_resource_properties(
            "AWS::Lambda::Function",
            {
                "Handler": f"lambdas.batch_scoring.app.{handler}",
                "Environment": {
                    "Variables": Match.object_like(
                        {
                            "ENVIRONMENT": "dev",
                            "NAME_PREFIX": "fraud-dev-",
                            "DATA_BUCKET": {"Fn::ImportValue": Match.string_like_regexp("DataBucket")},
                        }
                    )
                },
            },
        )


def test_the_batch_state_machine_logs_everything_is_traced_and_bounded(dev: Synthesized) -> None:
    machines = dev.pipeline.find_resources("AWS::StepFunctions::StateMachine")
    (machine,) = [m for logical_id, m in machines.items() if logical_id.startswith("BatchStateMachine")]
    properties = machine["Properties"]
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert properties["LoggingConfiguration"]["Level"] == "ALL"
    assert dev.state_machine_definition("batch")["TimeoutSeconds"] == dev.config.batch.max_runtime_seconds + 3600
