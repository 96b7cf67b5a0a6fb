"""Shapes offline mode gives SageMaker and CodeBuild results, as AWS does."""

from __future__ import annotations

import datetime

from offline.services.codebuild import pascal_case
from offline.services.codebuild_shims import _split_image
from offline.services.sagemaker_training import capture_metrics, parse_s3_uri
from offline.services.stepfunctions import jsonable
from training.metrics_contract import METRIC_DEFINITIONS, format_metric_line


def test_metrics_are_captured_with_the_jobs_own_definitions_last_value_wins():
    # Given the job's MetricDefinitions and the lines training prints
    definitions = [dict(d) for d in METRIC_DEFINITIONS]
    lines = [format_metric_line("validation:roc_auc", 0.5), "noise", format_metric_line("validation:roc_auc", 0.91)]

    # When SageMaker would scan stdout
    metrics = capture_metrics(definitions, lines)

    # Then only the metric that was printed is reported, with its last value
    assert [(m["MetricName"], m["Value"]) for m in metrics] == [("validation:roc_auc", 0.91)]


def test_codebuild_records_become_step_functions_pascal_case():
    build = {"buildStatus": "SUCCEEDED", "environment": {"environmentVariables": [{"name": "A", "value": "1"}]}}

    assert pascal_case(build) == {
        "BuildStatus": "SUCCEEDED",
        "Environment": {"EnvironmentVariables": [{"Name": "A", "Value": "1"}]},
    }


def test_sagemaker_timestamps_become_epoch_milliseconds():
    moment = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

    assert jsonable({"CreationTime": moment, "ResponseMetadata": {}}) == {"CreationTime": 1767225600000}


def test_image_references_split_into_repository_and_tag():
    assert _split_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/repo/name:abc") == ("repo/name", "abc")
    assert _split_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/repo") == ("repo", "latest")


def test_s3_uris_split_into_bucket_and_key():
    assert parse_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b/")
