"""The drift state machine: its schedule, the Processing job it runs, its error handling and its IAM."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template

from stacks.components.task_retries import LAMBDA_SERVICE_ERRORS, SAGEMAKER_OPTIMIZED_ERRORS
from tests.infrastructure.conftest import Synthesized

ERROR_PATH = {"NotifyFailure", "NotifyFailureFallback", "PipelineFailed"}
PROCESSING = "/opt/ml/processing"


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return Synthesized("stage", tmp_path_factory.mktemp("cdk-stage"))


@pytest.fixture(scope="module")
def drift(dev: Synthesized) -> dict[str, Any]:
    return dev.state_machine_definition("drift")


def _machine_id(template: Template, prefix: str) -> str:
    (logical_id,) = [i for i in template.find_resources("AWS::StepFunctions::StateMachine") if i.startswith(prefix)]
    return logical_id


def _drift_schedules(synth: Synthesized) -> list[dict[str, Any]]:
    """The schedule rules that start the drift state machine."""
    machine = _machine_id(synth.pipeline, "DriftStateMachine")
    rules = synth.pipeline.find_resources("AWS::Events::Rule").values()
    return [
        rule["Properties"]
        for rule in rules
        if "ScheduleExpression" in rule["Properties"]
        and any(target["Arn"] == {"Ref": machine} for target in rule["Properties"]["Targets"])
    ]


def _role_grants(template: Template, role_prefix: str) -> dict[str, list[dict[str, Any]]]:
    """action → the statements allowing it, over every policy attached to the role whose logical id starts so."""
    roles = [i for i in template.find_resources("AWS::IAM::Role") if i.startswith(role_prefix)]
    assert len(roles) == 1, roles
    granted: dict[str, list[dict[str, Any]]] = {}
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": roles[0]} not in policy["Properties"]["Roles"]:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                granted.setdefault(action, []).append(statement)
    return granted


def _resources(statements: list[dict[str, Any]]) -> list[str]:
    rendered = []
    for statement in statements:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        rendered += [json.dumps(resource) for resource in resources]
    return rendered


# -- schedule ---------------------------------------------------------------------------------------


def test_the_drift_job_is_scheduled_per_environment_and_not_in_dev(
    dev: Synthesized, stage: Synthesized, prod: Synthesized
) -> None:
    # Given dev's drift schedule is null, there is no rule, but the state machine exists to start by hand
    assert dev.config.drift.schedule is None
    assert _drift_schedules(dev) == []
    assert _machine_id(dev.pipeline, "DriftStateMachine")
    # Then stage and prod start it on their own schedules, saying it was the schedule
    for synth, expression in ((stage, "rate(1 day)"), (prod, "cron(0 4 * * ? *)")):
        (rule,) = _drift_schedules(synth)
        assert rule["ScheduleExpression"] == synth.config.drift.schedule == expression
        (target,) = rule["Targets"]
        assert json.loads(target["Input"]) == {"trigger": "schedule"}


def test_the_pipeline_stack_outputs_the_drift_state_machine(dev: Synthesized) -> None:
    outputs = dev.pipeline.find_outputs("DriftStateMachineArn")
    (output,) = outputs.values()
    assert output["Value"] == {"Ref": _machine_id(dev.pipeline, "DriftStateMachine")}


# -- the flow -----------------------------------------------------------------------------------------


def test_prepare_then_examine_or_report_why_not(drift: dict[str, Any]) -> None:
    states = drift["States"]
    assert drift["StartAt"] == "PrepareDrift"
    assert states["PrepareDrift"]["ResultPath"] == "$.run"
    assert states["PrepareDrift"]["Next"] == "ShouldExamineDrift"
    choice = states["ShouldExamineDrift"]
    (rule,) = choice["Choices"]
    assert rule == {"Variable": "$.run.outcome", "StringEquals": "examine", "Next": "DriftLabelsPresent"}
    # Nothing to examine: prepare_drift's notice becomes $.drift and is notified; the run succeeds
    assert states[choice["Default"]] == {
        "Type": "Pass",
        "InputPath": "$.run.notice",
        "ResultPath": "$.drift",
        "Next": "NotifyDrift",
    }
    assert states["NotifyDrift"]["Next"] == "DriftChecked"
    assert states["DriftChecked"]["Type"] == "Succeed"


def test_the_job_is_decided_on_then_notified(drift: dict[str, Any]) -> None:
    states = drift["States"]
    assert states["DriftJob"]["Next"] == "DecideDrift"
    decide = states["DecideDrift"]
    assert decide["Parameters"] == {"run.$": "$.run"}
    assert decide["ResultPath"] == "$.drift"
    assert decide["Next"] == "NotifyDrift"
    notify = states["NotifyDrift"]
    assert notify["Parameters"]["Payload"] == {"kind": "drift", "execution_arn.$": "$$.Execution.Id", "state.$": "$"}


def test_every_task_is_caught_into_notify_then_fail_and_retries_only_transient_errors(drift: dict[str, Any]) -> None:
    states = drift["States"]
    tasks = {name for name, state in states.items() if state["Type"] == "Task" and name not in ERROR_PATH}
    assert tasks == {"PrepareDrift", "DriftJob", "DecideDrift", "NotifyDrift"}
    for name in tasks:
        (catch,) = states[name]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"]
        assert catch["ResultPath"] == "$.error"
        record = states[catch["Next"]]
        assert record["Result"] == name
        assert record["Next"] == "NotifyFailure"
        retried = [error for retry in states[name]["Retry"] for error in retry["ErrorEquals"]]
        assert retried == (SAGEMAKER_OPTIMIZED_ERRORS if name == "DriftJob" else LAMBDA_SERVICE_ERRORS), name
    assert states["NotifyFailure"]["Next"] == "PipelineFailed"
    assert states["PipelineFailed"]["Type"] == "Fail"


def test_drift_state_names_are_unique_across_the_app(dev: Synthesized, drift: dict[str, Any]) -> None:
    others: set[str] = set()
    for which in ("retraining", "deployment"):
        others |= set(dev.state_machine_definition(which)["States"])
    shared = set(drift["States"]) & others
    assert shared == ERROR_PATH


# -- the processing job -------------------------------------------------------------------------------


def test_the_job_runs_the_monitor_on_the_training_image_with_the_environments_settings(
    stage: Synthesized,
) -> None:
    job = stage.state_machine_definition("drift")["States"]["DriftJob"]
    assert job["Resource"].endswith(":states:::sagemaker:createProcessingJob.sync")
    parameters = job["Parameters"]
    assert parameters["ProcessingJobName.$"] == "$.run.job_name"
    assert parameters["AppSpecification"] == {
        "ImageUri.$": "$.run.image_uri",
        "ContainerEntrypoint": ["python3", "-m", "training.monitor"],
    }
    assert "SageMakerExecutionRole" in parameters["RoleArn"]
    drift = stage.config.drift
    assert parameters["ProcessingResources"]["ClusterConfig"]["InstanceType"] == drift.instance_type
    assert parameters["StoppingCondition"] == {"MaxRuntimeInSeconds": drift.max_runtime_seconds}
    assert parameters["Environment"] == {
        "WINDOW_START.$": "$.run.window.start",
        "WINDOW_END.$": "$.run.window.end",
        "MODEL_VERSION.$": "$.run.model_version",
        "MIN_RECORDS": "500",
        "PSI_THRESHOLD": str(drift.tolerance.psi),
        "P_VALUE": str(drift.tolerance.p_value),
        "MIN_DRIFTED_FEATURES": str(drift.tolerance.min_drifted_features),
        "ENVIRONMENT": "stage",
        "ENDPOINT_NAME": "fraud-detector-stage",
        "MIN_PR_AUC": str(stage.config.quality_gate.min_pr_auc),
        "MIN_ROC_AUC": str(stage.config.quality_gate.min_roc_auc),
        "METRICS_NAMESPACE": "FraudPipeline/Drift",
        "AWS_DEFAULT_REGION": "${AWS::Region}",
    }
    (output,) = parameters["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"] == {
        "S3Uri.$": "$.run.report_uri",
        "LocalPath": f"{PROCESSING}/output",
        "S3UploadMode": "EndOfJob",
    }
    assert "Key" in parameters["ProcessingOutputConfig"]["KmsKeyId"]
    assert parameters["ProcessingInputs.$"] == "$.drift_inputs.inputs"
    assert job["ResultSelector"] == {"job_name.$": "$.ProcessingJobName", "status.$": "$.ProcessingJobStatus"}


def test_labels_are_an_input_only_when_there_are_some(drift: dict[str, Any]) -> None:
    states = drift["States"]
    choice = states["DriftLabelsPresent"]
    (rule,) = choice["Choices"]
    assert rule["Variable"] == "$.run.labels_found"
    assert rule["BooleanEquals"] is True

    def inputs(state: str) -> dict[str, tuple[str, str]]:
        assert states[state]["Next"] == "DriftJob"
        assert states[state]["ResultPath"] == "$.drift_inputs"
        return {
            item["InputName"]: (item["S3Input"]["S3Uri.$"], item["S3Input"]["LocalPath"])
            for item in states[state]["Parameters"]["inputs"]
        }

    capture = ("$.run.capture_uri", f"{PROCESSING}/input/capture")
    model = ("$.run.model_data_url", f"{PROCESSING}/input/model")
    assert inputs(rule["Next"]) == {
        "capture": capture,
        "model": model,
        "labels": ("$.run.labels_uri", f"{PROCESSING}/input/labels"),
    }
    assert inputs(choice["Default"]) == {"capture": capture, "model": model}


# -- IAM ----------------------------------------------------------------------------------------------


def test_the_job_role_publishes_metrics_only_in_the_drift_namespace(dev: Synthesized) -> None:
    grants = _role_grants(dev.pipeline, "SageMakerExecutionRole")
    conditions = [statement.get("Condition") for statement in grants["cloudwatch:PutMetricData"]]
    assert {"StringEquals": {"cloudwatch:namespace": "FraudPipeline/Drift"}} in conditions
    assert None not in conditions


def test_the_job_role_reads_capture_and_labels_and_writes_reports(dev: Synthesized) -> None:
    grants = _role_grants(dev.pipeline, "SageMakerExecutionRole")
    read = " ".join(_resources(grants["s3:GetObject*"]))
    written = " ".join(_resources(grants["s3:PutObject"]))
    assert "ArtifactsBucket" in read
    assert "/data-capture/*" in read
    assert "DataBucket" in read
    assert "/labels/*" in read
    assert "/drift-reports/*" in written
    assert any("Key" in resource for resource in _resources(grants["kms:Decrypt"]))


def test_the_state_machine_runs_only_this_environments_drift_jobs(dev: Synthesized) -> None:
    grants = _role_grants(dev.pipeline, "DriftStateMachineRole")
    for action in ("sagemaker:CreateProcessingJob", "sagemaker:DescribeProcessingJob", "sagemaker:AddTags"):
        (resource,) = _resources(grants[action])
        assert resource.endswith(':processing-job/fraud-dev-drift-*"]]}'), resource
    (passed,) = grants["iam:PassRole"]
    assert "SageMakerExecutionRole" in json.dumps(passed["Resource"])
    assert passed["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert "StepFunctionsGetEventsForSageMakerProcessingJobsRule" in " ".join(_resources(grants["events:PutRule"]))


def test_the_decision_may_list_and_start_only_the_retraining_state_machine(dev: Synthesized) -> None:
    grants = _role_grants(dev.pipeline, "DriftDecideRole")
    retraining = json.dumps({"Ref": _machine_id(dev.pipeline, "WorkflowStateMachine")})
    assert _resources(grants["states:StartExecution"]) == [retraining]
    assert _resources(grants["states:ListExecutions"]) == [retraining]
    # The reports' objects (and the bucket itself, for the grant's List*/GetBucket*), nothing else
    read = _resources(grants["s3:GetObject*"])
    assert len(read) == 2
    assert all("ArtifactsBucket" in r for r in read)
    assert [r for r in read if "/" in r.split("ArtifactsBucket")[-1]] == [r for r in read if "/drift-reports/*" in r]
    assert not any(action.startswith("sagemaker:") for action in grants)


def test_prepare_reads_what_serves_and_lists_without_reading_objects(dev: Synthesized) -> None:
    grants = _role_grants(dev.pipeline, "DriftPrepareRole")
    assert _resources(grants["sagemaker:DescribeEndpoint"])[0].endswith(':endpoint/fraud-detector-dev"]]}')
    assert _resources(grants["sagemaker:DescribeModel"])[0].endswith(':model/fraud-dev-*"]]}')
    assert "TrainingImages" in _resources(grants["ecr:DescribeImages"])[0]
    assert len(_resources(grants["s3:ListBucket"])) == 2
    assert not any(action.startswith("s3:Get") or action.startswith("s3:Put") for action in grants)


def test_the_lambdas_get_their_settings(dev: Synthesized) -> None:
    functions = dev.pipeline.find_resources("AWS::Lambda::Function")
    by_handler = {f["Properties"]["Handler"]: f["Properties"]["Environment"]["Variables"] for f in functions.values()}
    prepare = by_handler["lambdas.prepare_drift.app.handler"]
    assert prepare["WINDOW_HOURS"] == str(dev.config.drift.window_hours)
    assert prepare["ENDPOINT_NAME"] == "fraud-detector-dev"
    assert prepare["NAME_PREFIX"] == "fraud-dev-"
    assert len(prepare["TRAINING_SOURCE_HASH"]) == 64
    decide = by_handler["lambdas.drift_decision.app.handler"]
    assert decide["RETRAINING_STATE_MACHINE_ARN"] == {"Ref": _machine_id(dev.pipeline, "WorkflowStateMachine")}
    assert decide["RETRAIN_COOLDOWN_HOURS"] == str(dev.config.drift.retrain_cooldown_hours)
    assert decide["MIN_DRIFTED_FEATURES"] == str(dev.config.drift.tolerance.min_drifted_features)


# -- live quality alarms ------------------------------------------------------------------------------


def test_live_quality_below_the_gates_floors_alarms_on_the_topic(stage: Synthesized) -> None:
    alarms = [
        a["Properties"]
        for a in stage.pipeline.find_resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Namespace") == "FraudPipeline/Drift"
    ]
    by_metric = {alarm["MetricName"]: alarm for alarm in alarms}
    gate = stage.config.quality_gate
    assert set(by_metric) == {"LiveRocAuc", "LivePrAuc"}
    for metric, floor in (("LiveRocAuc", gate.min_roc_auc), ("LivePrAuc", gate.min_pr_auc)):
        alarm = by_metric[metric]
        assert alarm["Threshold"] == floor
        assert alarm["ComparisonOperator"] == "LessThanThreshold"
        assert alarm["Dimensions"] == [{"Name": "Environment", "Value": "stage"}]
        # No labels, no data point: that is not a breach
        assert alarm["TreatMissingData"] == "notBreaching"
        assert "Alerts" in json.dumps(alarm["AlarmActions"])
