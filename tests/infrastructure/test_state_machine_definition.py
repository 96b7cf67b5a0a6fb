"""Checks on the parsed Amazon States Language the pipeline stack synthesizes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from stacks.components.task_retries import AUTOSCALING_ERRORS, CODEBUILD_ERRORS, LAMBDA_SERVICE_ERRORS
from tests.infrastructure.conftest import Synthesized, walk_states
from training.metrics_contract import METRIC_DEFINITIONS, METRIC_NAMES, format_metric_line

CATCHABLE = {"Task", "Parallel", "Map"}
ERROR_PATH = {"NotifyFailure", "NotifyFailureFallback", "PipelineFailed"}


def _reaches(states: dict[str, Any], start: str, goal: str) -> list[str]:
    """The chain of Next states from ``start`` until ``goal`` (fails on a loop or a dead end)."""
    path, current = [start], start
    while current != goal:
        state = states[current]
        current = state.get("Next") or state.get("Default") or ""
        assert current, f"{start} does not lead to {goal}: {path}"
        assert current not in path, f"{start} loops before reaching {goal}: {path}"
        path.append(current)
    return path


def test_every_top_level_task_parallel_and_map_catches_all_errors_into_notify_then_fail(
    definition: dict[str, Any],
) -> None:
    states = definition["States"]
    protected = [n for n, s in states.items() if s["Type"] in CATCHABLE and n not in ERROR_PATH]
    # Given the states that can fail on their own
    assert {"Initiate", "BuildImages", "Train", "Evaluate", "Gate", "Register", "ResolveVersion", "CreateModel"} <= set(
        protected
    )
    for name in protected:
        # Then each catches States.ALL, keeping the error at $.error
        catch_all = [c for c in states[name].get("Catch", []) if c["ErrorEquals"] == ["States.ALL"]]
        assert len(catch_all) == 1, f"{name} has no States.ALL catch"
        assert catch_all[0]["ResultPath"] == "$.error"
        # And the catch records the state's name, notifies, and fails the execution
        path = _reaches(states, catch_all[0]["Next"], "PipelineFailed")
        assert path[-2:] == ["NotifyFailure", "PipelineFailed"], path
        assert states[catch_all[0]["Next"]]["Result"] == name
    assert states["PipelineFailed"]["Type"] == "Fail"
    assert states["PipelineFailed"]["ErrorPath"] == "$.error.Error"


def test_the_notify_lambda_receives_the_whole_state_and_the_execution_arn(definition: dict[str, Any]) -> None:
    notify = definition["States"]["NotifyFailure"]
    assert notify["Resource"].endswith(":states:::lambda:invoke")
    assert notify["Parameters"]["Payload"] == {"kind": "failure", "execution_arn.$": "$$.Execution.Id", "state.$": "$"}


def test_a_failing_notifier_falls_back_to_publishing_the_original_error_itself(definition: dict[str, Any]) -> None:
    states = definition["States"]
    # Given the notify Lambda fails after its retries
    (catch,) = states["NotifyFailure"]["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"]
    # Then the original error stays at $.error and the fallback publishes to the topic directly
    assert catch["ResultPath"] == "$.notify_error"
    fallback = states[catch["Next"]]
    assert fallback["Resource"].endswith(":states:::sns:publish")
    assert "Alerts" in str(fallback["Parameters"]["TopicArn"])
    assert fallback["Parameters"]["Subject.$"] == "States.Format('[FraudPipeline dev] FAILED at {}', $.failed_state)"
    message = fallback["Parameters"]["Message.$"]
    for reference in ("$.failed_state", "$.error.Error", "$$.Execution.Id"):
        assert reference in message
    # And no stack trace can reach it: the Cause (which carries one for a Lambda error) is left out
    assert "$.error.Cause" not in message
    # And the execution still fails with the original error, and the fallback cannot loop
    assert fallback["Next"] == "PipelineFailed"
    assert "Catch" not in fallback


def test_failures_detected_by_choices_also_go_through_notify(definition: dict[str, Any]) -> None:
    states = definition["States"]
    for name in (
        "EndpointFailed",
        "EndpointTimedOut",
        "EndpointNeverSettled",
        "EndpointUpdateRollbackFailed",
        "EndpointOutOfService",
        "EndpointDeleting",
    ):
        assert states[name]["Type"] == "Pass"
        assert states[name]["Next"] == "NotifyFailure"
        assert set(states[name]["Parameters"]) == {"failed_state", "error", "run.$"}


@pytest.mark.parametrize(
    ("state", "resource"),
    [
        ("Initiate", "${InitiateFunction"),
        ("BuildTrainingImage", ":states:::codebuild:startBuild.sync"),
        ("BuildInferenceImage", ":states:::codebuild:startBuild.sync"),
        ("Train", ":states:::sagemaker:createTrainingJob.sync"),
        ("CreateModel", ":states:::sagemaker:createModel"),
        ("CreateEndpointConfig", ":states:::sagemaker:createEndpointConfig"),
        ("FindEndpoint", ":states:::aws-sdk:sagemaker:listEndpoints"),
        ("DescribeExistingEndpoint", ":states:::aws-sdk:sagemaker:describeEndpoint"),
        ("DeleteFailedEndpoint", ":states:::aws-sdk:sagemaker:deleteEndpoint"),
        ("NotifyFailureFallback", ":states:::sns:publish"),
        ("CreateEndpoint", ":states:::sagemaker:createEndpoint"),
        ("UpdateEndpoint", ":states:::aws-sdk:sagemaker:updateEndpoint"),
        ("DescribeLiveConfig", ":states:::aws-sdk:sagemaker:describeEndpointConfig"),
        ("FindScaling", ":states:::aws-sdk:applicationautoscaling:describeScalableTargets"),
        ("DeregisterScaling", ":states:::aws-sdk:applicationautoscaling:deregisterScalableTarget"),
        ("RegisterScaling", ":states:::aws-sdk:applicationautoscaling:registerScalableTarget"),
        ("PutScalingPolicy", ":states:::aws-sdk:applicationautoscaling:putScalingPolicy"),
        ("ExplainRollback", ":states:::lambda:invoke"),
        ("NotifyRolledBack", ":states:::lambda:invoke"),
        ("CheckEndpoint", ":states:::aws-sdk:sagemaker:describeEndpoint"),
        ("FindChampion", ":states:::aws-sdk:sagemaker:listModelPackages"),
        ("DescribeChampion", ":states:::aws-sdk:sagemaker:describeModelPackage"),
        ("Evaluate", ":states:::sagemaker:createProcessingJob.sync"),
        ("Gate", "${QualityGateFunction"),
        ("Register", ":states:::aws-sdk:sagemaker:createModelPackage"),
        ("NotifyRegistered", ":states:::lambda:invoke"),
        ("ResolveVersion", "${ResolveDeploymentFunction"),
        ("NotifyDeployed", ":states:::lambda:invoke"),
        ("NotifySkipped", ":states:::lambda:invoke"),
    ],
)
def test_expected_service_integrations_exist(definition: dict[str, Any], state: str, resource: str) -> None:
    states = dict(walk_states(definition["States"]))
    assert states[state]["Type"] == "Task"
    assert states[state]["Resource"].endswith(resource) or states[state]["Resource"].startswith(resource)


def test_training_retries_service_errors_but_never_re_runs_a_failed_job(definition: dict[str, Any]) -> None:
    # Optimized SageMaker tasks report every service error, throttling included, under one name.
    retried = [e for r in definition["States"]["Train"].get("Retry", []) for e in r["ErrorEquals"]]
    assert retried == ["SageMaker.AmazonSageMakerException"]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("sagemaker:create", ["SageMaker.AmazonSageMakerException"]),
        ("aws-sdk:sagemaker:list", ["SageMaker.SageMakerException"]),
        ("aws-sdk:sagemaker:describe", ["SageMaker.SageMakerException"]),
        ("aws-sdk:sagemaker:delete", ["SageMaker.SageMakerException"]),
        ("aws-sdk:sagemaker:updateEndpoint", []),
        ("aws-sdk:applicationautoscaling:", AUTOSCALING_ERRORS),
        ("lambda:invoke", LAMBDA_SERVICE_ERRORS),
        ("codebuild:startBuild", CODEBUILD_ERRORS),
    ],
)
def test_each_integration_retries_the_error_names_aws_raises_for_it(
    definition: dict[str, Any], kind: str, expected: list[str]
) -> None:
    tasks = [
        (n, s)
        for n, s in walk_states(definition["States"])
        if s["Type"] == "Task" and f":states:::{kind}" in s["Resource"]
    ]
    assert tasks, kind
    for name, state in tasks:
        retried = [e for r in state.get("Retry", []) for e in r["ErrorEquals"]]
        assert retried == expected, name


def test_the_lambda_tasks_retry_what_the_error_handling_guide_recommends() -> None:
    assert {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"} <= set(
        LAMBDA_SERVICE_ERRORS
    )


def test_no_state_retries_everything(definition: dict[str, Any]) -> None:
    for name, state in walk_states(definition["States"]):
        for retry in state.get("Retry", []):
            assert "States.ALL" not in retry["ErrorEquals"], name
            assert "States.TaskFailed" not in retry["ErrorEquals"], name


def test_training_results_select_only_fields_every_completed_job_has(definition: dict[str, Any]) -> None:
    # A path to an absent field (FinalMetricDataList when no metric was emitted) is an uncatchable
    # States.Runtime error, so the run would end without a notification.
    selector = definition["States"]["Train"]["ResultSelector"]
    assert selector == {"job_name.$": "$.TrainingJobName", "model_artifacts.$": "$.ModelArtifacts.S3ModelArtifacts"}


def test_training_job_uses_both_channels_the_run_names_and_the_metric_definitions(definition: dict[str, Any]) -> None:
    parameters = definition["States"]["Train"]["Parameters"]
    assert parameters["TrainingJobName.$"] == "$.run.names.training_job"
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri.$"] for c in parameters["InputDataConfig"]}
    assert channels == {"train": "$.run.data.train_uri", "validation": "$.run.data.validation_uri"}
    assert parameters["HyperParameters.$"] == "$.run.hyperparameters"
    assert parameters["OutputDataConfig"]["S3OutputPath.$"] == "$.run.output_uri"
    assert parameters["Environment"] == {
        "DATA_VERSION.$": "$.run.data.version",
        "CODE_VERSION.$": "$.run.code.version",
        "RUN_ID.$": "$.run.run_id",
        "ENVIRONMENT": "dev",
    }
    assert parameters["AlgorithmSpecification"]["MetricDefinitions"] == [dict(d) for d in METRIC_DEFINITIONS]


def test_metric_definitions_capture_the_lines_training_prints(definition: dict[str, Any]) -> None:
    definitions = definition["States"]["Train"]["Parameters"]["AlgorithmSpecification"]["MetricDefinitions"]
    for name, metric in zip(METRIC_NAMES, definitions, strict=True):
        line = f"2026-11-23 12:00:00 INFO {format_metric_line(name, 0.8125)}"
        match = re.search(metric["Regex"], line)
        assert match is not None, name
        assert float(match.group(1)) == pytest.approx(0.8125), name


def test_the_model_is_created_from_the_registered_version_and_reports_it(definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert states["CreateModel"]["Parameters"]["ModelName.$"] == "$.run.names.model"
    container = states["CreateModel"]["Parameters"]["PrimaryContainer"]
    assert container["ModelPackageName.$"] == "$.run.package.arn"
    assert "Image" not in container
    assert "ModelDataUrl" not in container
    assert container["Environment"] == {"MODEL_VERSION.$": "$.run.package.version"}
    variant = states["CreateEndpointConfig"]["Parameters"]["ProductionVariants"][0]
    assert variant["ModelName.$"] == "$.run.names.model"
    assert states["CreateEndpointConfig"]["Parameters"]["EndpointConfigName.$"] == "$.run.names.endpoint_config"


def test_the_endpoint_lookup_cannot_confuse_missing_with_throttled(definition: dict[str, Any]) -> None:
    states = definition["States"]
    # Given a lookup that answers "not there" with an empty list, not an error
    find = states["FindEndpoint"]
    assert find["Parameters"] == {"NameContains.$": "$.run.names.endpoint", "MaxResults": 100}
    assert find["ResultSelector"] == {"names.$": "$.Endpoints[*].EndpointName"}
    assert [c["ErrorEquals"] for c in find["Catch"]] == [["States.ALL"]]
    # Then the exact name decides between creating and looking closer
    assert states["EndpointExists"]["Parameters"] == {
        "found.$": "States.ArrayContains($.existing.names, $.run.names.endpoint)"
    }
    (missing,) = states["EndpointMissing"]["Choices"]
    assert missing == {"Variable": "$.existing.found", "BooleanEquals": False, "Next": "FirstDeployment"}
    # A first deployment has nothing to shift traffic from, and records so
    assert states["FirstDeployment"]["Next"] == "CreateEndpoint"
    assert states["FirstDeployment"]["Parameters"]["kind"] == "create"
    assert "no canary" in states["FirstDeployment"]["Parameters"]["traffic"]
    assert states["EndpointMissing"]["Default"] == "DescribeExistingEndpoint"


def _choice_targets(choice: dict[str, Any]) -> dict[str, str]:
    targets = {}
    for rule in choice["Choices"]:
        for option in rule.get("Or", [rule]):
            targets[option["StringEquals"]] = rule["Next"]
    return targets


def test_an_existing_endpoint_is_updated_replaced_or_waited_for_by_its_status(definition: dict[str, Any]) -> None:
    states = definition["States"]
    assert states["DescribeExistingEndpoint"]["Next"] == "ExistingEndpointStatus"
    status = states["ExistingEndpointStatus"]
    # Given SageMaker's rules: only an endpoint that serves can be updated; a Failed one can only be deleted
    assert _choice_targets(status) == {
        "InService": "DescribeLiveConfig",
        "UpdateRollbackFailed": "DescribeLiveConfig",
        "Failed": "DeleteFailedEndpoint",
        "OutOfService": "DeleteFailedEndpoint",
    }
    # Then anything in progress (Creating, Updating, SystemUpdating, RollingBack, Deleting) is waited out,
    # and a deleted endpoint is looked up again until it is gone (then created)
    assert status["Default"] == "CountLookup"
    assert states["DeleteFailedEndpoint"]["Next"] == "CountLookup"
    assert states["CountLookup"]["Next"] == "LookupBudgetLeft"
    assert states["LookupBudgetLeft"]["Default"] == "WaitBeforeLookingAgain"
    assert states["WaitBeforeLookingAgain"]["Next"] == "FindEndpoint"
    assert states["LookupBudgetLeft"]["Choices"][0]["Next"] == "EndpointNeverSettled"
    assert states["CreateEndpoint"]["Next"] == states["UpdateEndpoint"]["Next"] == "StartWaiting"
    # An update keeps the live instance count unless the instance type changes (then scaling goes first)
    same = states["SameInstanceType"]
    assert same["Choices"][0]["Variable"] == "$.live.instance_type"
    assert same["Choices"][0]["StringEqualsPath"] == "$.run.settings.endpoint_instance_type"
    assert same["Choices"][0]["Next"] == "KeepInstanceCount"
    assert states["KeepInstanceCount"]["Parameters"]["retain"] is True
    assert same["Default"] == "FindScaling"
    assert states["ScalingRegistered"]["Choices"][0]["Next"] == "DeregisterScaling"
    assert states["DeregisterScaling"]["Next"] == states["ScalingRegistered"]["Default"] == "NewInstanceType"
    assert states["NewInstanceType"]["Parameters"]["retain"] is False


def test_endpoint_wait_loop_is_bounded(dev: Synthesized, definition: dict[str, Any]) -> None:
    states = definition["States"]
    # Given the loop Wait → Check → Status → Count → Budget → Wait
    assert _reaches(states, "StartWaiting", "CheckEndpoint") == ["StartWaiting", "WaitForEndpoint", "CheckEndpoint"]
    assert states["WaitForEndpoint"]["Seconds"] == dev.config.endpoint_poll_seconds
    assert states["EndpointStatus"]["Default"] == "CountPoll"
    assert states["CountPoll"]["Parameters"] == {"count.$": "States.MathAdd($.polls.count, 1)"}
    assert states["StartWaiting"]["Result"] == {"count": 0}
    # Then the budget check leaves the loop after endpoint_max_polls checks
    (limit,) = states["PollBudgetLeft"]["Choices"]
    assert limit == {
        "Variable": "$.polls.count",
        "NumericGreaterThanEquals": dev.config.endpoint_max_polls,
        "Next": "EndpointTimedOut",
    }
    assert states["PollBudgetLeft"]["Default"] == "WaitForEndpoint"


def test_failed_endpoint_is_an_error_and_in_service_is_verified_against_this_runs_config(
    definition: dict[str, Any],
) -> None:
    states = definition["States"]
    outcomes = {c.get("StringEquals"): c["Next"] for c in states["EndpointStatus"]["Choices"]}
    # Every status DescribeEndpoint documents: the ones that end a deployment end it, the rest are waited out
    assert outcomes == {
        "InService": "VerifyLiveConfig",
        "Failed": "EndpointFailed",
        "UpdateRollbackFailed": "EndpointUpdateRollbackFailed",
        "OutOfService": "EndpointOutOfService",
        "Deleting": "EndpointDeleting",
    }
    (same_config,) = states["VerifyLiveConfig"]["Choices"]
    assert same_config["Variable"] == "$.endpoint.EndpointConfigName"
    assert same_config["StringEqualsPath"] == "$.run.names.endpoint_config"
    # A verified deploy registers autoscaling, cleans up old versions (whatever that step's outcome), notifies
    assert same_config["Next"] == "RegisterScaling"
    assert states["RegisterScaling"]["Next"] == "PutScalingPolicy"
    assert states["PutScalingPolicy"]["Next"] == "CleanUpOldVersions"
    assert states["CleanUpOldVersions"]["Next"] == "NotifyDeployed"
    # Another config live means SageMaker rolled the update back: its own outcome, explained once
    assert states["VerifyLiveConfig"]["Default"] == "ExplainRollback"
    assert states["ExplainRollback"]["Next"] == "NotifyRolledBack"
    assert states["NotifyRolledBack"]["Next"] == "RolledBackOrSuperseded"
    # ... unless a later deployment put a third config live: superseded, a success
    (superseded,) = states["RolledBackOrSuperseded"]["Choices"]
    assert superseded == {
        "Variable": "$.rollback.report.outcome",
        "StringEquals": "superseded",
        "Next": "Superseded",
    }
    assert states["Superseded"] == {"Type": "Succeed"}
    assert states["RolledBackOrSuperseded"]["Default"] == "RolledBack"
    assert states["ExplainRollback"]["Parameters"]["Payload"]["existing.$"] == "$.existing"
    assert states["RolledBack"] == {
        "Type": "Fail",
        "Error": "DeploymentRolledBack",
        "CausePath": "$.rollback.report.summary",
    }
    assert states["NotifyDeployed"]["Next"] == "Deployed"


def test_a_run_in_progress_makes_the_new_execution_wait_in_line(dev: Any, definition: dict[str, Any]) -> None:
    states = definition["States"]
    # Initiate answers "queued" while another run is in progress ...
    assert states["Initiate"]["Next"] == "WaitIfRunInProgress"
    (queued,) = states["WaitIfRunInProgress"]["Choices"]
    assert queued == {"Variable": "$.run.queued", "BooleanEquals": True, "Next": "WaitInLine"}
    assert states["WaitIfRunInProgress"]["Default"] == "BuildImages"
    # ... and is asked again after the configured wait, with the whole state (so it sees $.run)
    assert states["WaitInLine"] == {"Type": "Wait", "Seconds": dev.config.queue_poll_seconds, "Next": "Initiate"}
    assert states["Initiate"]["Parameters"]["input.$"] == "$"


def test_each_image_build_is_skipped_when_its_tag_exists(definition: dict[str, Any]) -> None:
    branches = definition["States"]["BuildImages"]["Branches"]
    assert len(branches) == 2
    for branch, kind in zip(branches, ("training", "inference"), strict=True):
        check = branch["States"][branch["StartAt"]]
        (needed,) = check["Choices"]
        assert needed["Variable"] == f"$.run.code.{kind}.build_needed"
        build = branch["States"][needed["Next"]]
        assert build["Parameters"]["EnvironmentVariablesOverride"] == [
            {"Name": "IMAGE_TAG", "Type": "PLAINTEXT", "Value.$": f"$.run.code.{kind}.image_tag"}
        ]
        assert branch["States"][check["Default"]]["Type"] == "Pass"
