"""``notify``: each payload (run outcome, registered version, deployment) becomes one readable SNS message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws

from lambdas.common.sns import MAX_SUBJECT_LENGTH, safe_subject
from lambdas.notify import app
from lambdas.notify.app import outcome_metric
from lambdas.notify.deployment_messages import deployed_notification, skipped_notification
from lambdas.notify.logic import (
    MAX_CAUSE_CHARS,
    build_notification,
    describe_cause,
    failure_notification,
    success_notification,
)
from lambdas.notify.models import NotifyEvent
from lambdas.notify.registry_messages import registered_notification
from tests.unit.lambdas.conftest import REGION, FakeLambdaContext, load_event

CONSOLE = f"https://{REGION}.console.aws.amazon.com/states/home?region={REGION}#/v2/executions/details/"


def _event(name: str) -> NotifyEvent:
    return NotifyEvent.model_validate(load_event(name))


def test_failure_message_names_state_error_reason_run_and_link() -> None:
    # Given a training failure caught after Initiate produced a run
    event = _event("notify_failure")
    # When it is formatted
    note = failure_notification(event, "dev")
    # Then the subject and body say what failed, why, for which run, and where to look
    assert note.subject == "[FraudPipeline dev] FAILED at Train: States.TaskFailed"
    assert "failed at Train" in note.message
    assert "Error:   States.TaskFailed" in note.message
    assert "Reason:  AlgorithmError: validation channel holds no rows" in note.message
    assert "Run:     dev-20261123120000-1a2b3c4d" in note.message
    assert "Dataset: s3://fraud-data-dev/incoming/2026-11-01/" in note.message
    assert CONSOLE + event.execution_arn in note.message


def test_failure_message_pretty_prints_a_json_cause() -> None:
    # Given a cause that is a JSON document on one line
    event = _event("notify_failure")
    # When it is formatted
    note = failure_notification(event, "dev")
    # Then the cause appears indented, one key per line
    assert '  "TrainingJobStatus": "Failed",' in note.message


def test_failure_before_initiate_says_the_run_is_unknown() -> None:
    # Given a failure in Initiate itself: no run, a plain-text cause
    payload = load_event("notify_failure")
    payload["state"] = {
        "trigger": "schedule",
        "reason": "weekly retraining",
        "failed_state": "Initiate",
        "error": {"Error": "DatasetError", "Cause": "no dataset found under s3://fraud-data-dev/incoming/"},
    }
    # When it is formatted
    note = failure_notification(NotifyEvent.model_validate(payload), "dev")
    # Then it says so, names the trigger, and shows the cause verbatim
    assert "Run:     unknown" in note.message
    assert "Trigger: schedule" in note.message
    assert "no dataset found under s3://fraud-data-dev/incoming/" in note.message


def test_long_cause_is_cut_keeping_its_head_and_tail() -> None:
    # Given a cause far longer than anyone reads in an email
    cause = "HEAD " + "x" * 20_000 + " TAIL"
    # When it is described
    _reason, text = describe_cause(cause)
    # Then the start and end survive and the cut is stated
    assert len(text) < MAX_CAUSE_CHARS + 100
    assert text.startswith("HEAD ")
    assert text.endswith(" TAIL")
    assert "characters omitted" in text


def test_lambda_error_cause_yields_its_error_message_as_reason() -> None:
    # Given the cause Step Functions records for a Lambda that raised
    cause = json.dumps({"errorMessage": "SSM parameter /x does not exist", "errorType": "PipelineConfigError"})
    # When it is described
    reason, _text = describe_cause(cause)
    # Then the error message is the reason
    assert reason == "SSM parameter /x does not exist"


def test_no_stack_trace_reaches_a_notification() -> None:
    # Given the cause Step Functions records for a Lambda that raised: its stack trace included
    trace = ['  File "/var/task/lambdas/initiate_pipeline/datasets.py", line 112, in describe_dataset\n']
    cause = json.dumps(
        {
            "errorMessage": "dataset s3://b/incoming/d1/ is marked complete but has no objects under ...",
            "errorType": "DatasetError",
            "requestId": "0f6c2b6e",
            "stackTrace": trace,
        }
    )
    payload = load_event("notify_failure")
    payload["state"] = {"failed_state": "Initiate", "error": {"Error": "DatasetError", "Cause": cause}}
    # When it is formatted
    note = failure_notification(NotifyEvent.model_validate(payload), "dev")
    # Then the message says what was wrong, and nothing of the trace
    assert "Reason:  dataset s3://b/incoming/d1/ is marked complete" in note.message
    assert "stackTrace" not in note.message
    assert "File " not in note.message
    assert "datasets.py" not in note.message


def test_a_python_traceback_in_a_plain_text_cause_is_left_out() -> None:
    # Given a plain-text cause ending in a Python traceback
    cause = 'training failed: no rows\nTraceback (most recent call last):\n  File "train.py", line 3, in <module>\n'
    # When it is described
    _reason, text = describe_cause(cause)
    # Then the message is kept and the trace is not
    assert text.startswith("training failed: no rows")
    assert "train.py" not in text
    assert "stack trace omitted" in text


def test_subject_is_ascii_single_line_and_at_most_100_characters() -> None:
    # Given a subject with non-ASCII text, a line break and far too many characters
    raw = "[FraudPipeline dev] FAILED at Déploiement—final\nstep: " + "E" * 200
    # When it is made safe
    subject = safe_subject(raw)
    # Then SNS will accept it
    assert len(subject) <= MAX_SUBJECT_LENGTH
    assert subject.isascii()
    assert "\n" not in subject
    assert subject.startswith("[FraudPipeline dev] FAILED at Deploiement")
    assert subject.endswith("...")


def test_success_message_lists_run_metrics_endpoint_and_artifact() -> None:
    # Given a successful run's final state
    event = _event("notify_success")
    # When it is formatted
    note = success_notification(event, "dev")
    # Then it reports the run, each metric, the live endpoint and config, and the model artifact
    assert note.subject == "[FraudPipeline dev] run dev-20261123120000-1a2b3c4d deployed"
    assert "validation:auc  0.9412" in note.message
    assert "validation:f1   0.71" in note.message
    assert "Endpoint:        fraud-detector-dev" in note.message
    assert "Endpoint config: fraud-dev-config-0f6c2b6e" in note.message
    assert "Endpoint status: InService" in note.message
    assert "model.tar.gz" in note.message
    assert "Data version:    9f2c4e1d" in note.message
    assert CONSOLE + event.execution_arn in note.message


def test_success_without_metrics_says_none_were_reported() -> None:
    # Given a success state whose training job reported no metrics
    payload = load_event("notify_success")
    payload["state"]["training"]["metrics"] = []
    # When it is formatted
    note = success_notification(NotifyEvent.model_validate(payload), "dev")
    # Then the message says so rather than showing an empty section
    assert "(none reported)" in note.message


@pytest.fixture
def inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto SNS topic (in TOPIC_ARN) with an SQS queue subscribed; yields a reader of the queue."""
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(Name="fraud-dev")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("TOPIC_ARN", topic_arn)
        monkeypatch.setenv("ENVIRONMENT", "dev")

        def read() -> list[dict[str, Any]]:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            return [json.loads(message["Body"]) for message in messages]

        yield read


def test_handler_publishes_one_message_and_returns_its_id(inbox: Any, lambda_context: FakeLambdaContext) -> None:
    # Given the failure payload the state machine's catch sends
    payload = load_event("notify_failure")
    # When the handler is invoked
    result = app.handler(payload, lambda_context)
    # Then exactly that message reached the topic, and the handler returns its subject and id
    [published] = inbox()
    assert result == {"subject": published["Subject"], "message_id": published["MessageId"]}
    assert "States.TaskFailed" in published["Message"]


def test_success_message_reports_the_clean_up_of_old_versions() -> None:
    # Given the clean-up after the deploy deleted two old versions and kept three
    payload = load_event("notify_success")
    kept = ["fraud-dev-config-c", "fraud-dev-config-b", "fraud-dev-config-a"]
    payload["state"]["cleanup"] = {
        "kept_endpoint_configs": kept,
        "kept_models": [],
        "deleted_endpoint_config_count": 2,
        "deleted_model_count": 2,
    }
    # When it is formatted
    note = success_notification(NotifyEvent.model_validate(payload), "dev")
    # Then the message says what was deleted and what rollback can use
    assert "deleted 2 endpoint configs and 2 models" in note.message
    assert f"kept for rollback: {', '.join(kept)}" in note.message


def test_a_failed_clean_up_is_reported_in_the_success_message_without_a_stack_trace() -> None:
    # Given the clean-up Lambda failed after the new model went live (its cause carries a stack trace)
    payload = load_event("notify_success")
    cause = {
        "errorMessage": "Clean-up of old versions incomplete: deleted 1, could not delete 1: fraud-dev-model-a "
        "(AccessDeniedException: not authorized). The next successful run tries again.",
        "errorType": "CleanupIncompleteError",
        "stackTrace": ['  File "/var/task/lambdas/sagemaker_cleanup/logic.py", line 170, in prune\n'],
    }
    payload["state"]["cleanup_error"] = {"Error": "CleanupIncompleteError", "Cause": json.dumps(cause)}
    # When it is formatted
    note = success_notification(NotifyEvent.model_validate(payload), "dev")
    # Then the run is still reported as deployed, with the clean-up's failure and reason
    assert note.subject == "[FraudPipeline dev] run dev-20261123120000-1a2b3c4d deployed"
    assert "FAILED (CleanupIncompleteError): Clean-up of old versions incomplete" in note.message
    assert "fraud-dev-model-a (AccessDeniedException" in note.message
    assert "the next successful run deletes what this one left" in note.message
    # And nothing of the trace
    assert "logic.py" not in note.message
    assert "File " not in note.message


def test_a_clean_up_that_timed_out_is_reported_by_its_plain_cause() -> None:
    payload = load_event("notify_success")
    payload["state"]["cleanup_error"] = {"Error": "States.Timeout", "Cause": "Task timed out after 120.00 seconds"}
    note = success_notification(NotifyEvent.model_validate(payload), "dev")
    assert "FAILED (States.Timeout): Task timed out after 120.00 seconds" in note.message


# --- registered: a new model package version ------------------------------------------------------------

REGISTRY_KINDS = ("notify_registered", "notify_deployed", "notify_deployment_skipped", "notify_rolled_back")


def _registered(decision: str, *, environment_endpoint: str = "fraud-dev-endpoint") -> NotifyEvent:
    """The sample "registered" payload with the gate's decision changed (and the reason to match)."""
    payload = load_event("notify_registered")
    gate = payload["state"]["gate"]
    gate["decision"] = decision
    gate["approval_status"] = {"approved": "Approved", "pending": "PendingManualApproval"}.get(decision, "Rejected")
    if decision == "rejected":
        gate.update(
            passed=False,
            reason="PR-AUC 0.021 is below the floor 0.20; PR-AUC 0.021 is 0.289 below the champion's 0.310 "
            "(version 2, tolerance 0.05)",
        )
        gate["challenger"]["pr_auc"] = 0.021
        gate["checks"][0].update(value=0.021, passed=False)
        gate["checks"][2].update(value=0.021, passed=False)
    payload["state"]["run"]["names"]["endpoint"] = environment_endpoint
    return NotifyEvent.model_validate(payload)


def test_registered_message_compares_challenger_and_champion_in_a_table() -> None:
    # Given an approved version 3 with champion version 2
    event = _registered("approved")
    # When it is formatted
    note = registered_notification(event, "dev")
    # Then a table shows both models' figures, metric by metric, at their own thresholds
    assert "  Metric     Challenger (v3)  Champion (v2)" in note.message
    assert "  PR-AUC     0.412            0.310" in note.message
    assert "  ROC-AUC    0.931            0.902" in note.message
    assert "  Precision  0.550            0.480" in note.message
    assert "  Recall     0.700            0.650" in note.message
    assert "  Threshold  0.410            0.380" in note.message
    # And the decision, the reason, the checks and the lineage
    assert "Decision: approved" in note.message
    assert "Reason:   All checks passed: PR-AUC 0.412 meets the floor 0.20" in note.message
    assert "passed  pr_auc vs champion  0.412  >= 0.260" in note.message
    assert "MLflow run:        5f1c0a9e2b7d4c3a8e6f1b2d3c4a5e6f" in note.message
    assert "Data version:      9f2c4e1d" in note.message
    assert CONSOLE + event.execution_arn in note.message


def test_an_approved_version_says_it_is_being_deployed() -> None:
    note = registered_notification(_registered("approved"), "dev")
    assert note.subject == "[FraudPipeline dev] version 3 approved"
    assert "registered version 3 of fraud-dev-models as Approved" in note.message
    assert "The deployment state machine is deploying version 3 to fraud-dev-endpoint" in note.message
    assert "make approve" not in note.message


def test_a_pending_version_gives_the_exact_commands_that_decide() -> None:
    # Given prod, where a version that passed the gate awaits manual approval
    note = registered_notification(_registered("pending", environment_endpoint="fraud-prod-endpoint"), "prod")
    # Then the subject says so, and the message gives the approve and reject commands for this version
    assert note.subject == "[FraudPipeline prod] version 3 awaits approval"
    assert "Nothing is deployed until someone decides." in note.message
    assert "    make approve ENV=prod VERSION=3" in note.message
    assert "    python -m pipeline models approve --env prod 3" in note.message
    assert "    python -m pipeline models reject --env prod 3" in note.message
    assert "deploys it to fraud-prod-endpoint" in note.message


def test_a_rejected_version_explains_why_and_that_the_live_model_keeps_serving() -> None:
    note = registered_notification(_registered("rejected"), "dev")
    assert note.subject == "[FraudPipeline dev] version 3 rejected by the quality gate"
    assert "Reason:   PR-AUC 0.021 is below the floor 0.20; PR-AUC 0.021 is 0.289 below" in note.message
    assert "FAILED  pr_auc floor        0.021  >= 0.200" in note.message
    assert "the live model keeps serving" in note.message
    assert "stays in the registry as Rejected" in note.message
    assert "make approve" not in note.message


def test_a_first_version_has_no_champion_column() -> None:
    payload = load_event("notify_registered")
    payload["state"]["gate"]["champion"] = None
    payload["state"]["gate"]["checks"] = payload["state"]["gate"]["checks"][:2]
    note = registered_notification(NotifyEvent.model_validate(payload), "dev")
    assert "  Metric     Challenger (v3)\n" in note.message
    assert "Champion" not in note.message.split("No champion")[0]
    assert "No champion: no version was Approved before this one." in note.message


def test_a_run_without_mlflow_says_tracking_was_off_or_unavailable() -> None:
    payload = load_event("notify_registered")
    payload["state"]["gate"]["mlflow_run_id"] = "none"
    note = registered_notification(NotifyEvent.model_validate(payload), "dev")
    assert "MLflow run:        none (tracking was off or unavailable" in note.message


# --- deployed and deployment_skipped ------------------------------------------------------------------


def test_deployed_message_says_which_version_serves_where_and_what_it_replaced() -> None:
    event = _event("notify_deployed")
    note = deployed_notification(event, "dev", [])
    assert note.subject == "[FraudPipeline dev] version 3 deployed to fraud-dev-endpoint"
    assert note.message.startswith("Version 3 is now serving on endpoint fraud-dev-endpoint.")
    assert "Trigger:         version 3 was approved" in note.message
    assert "Replaced:        version 2 (endpoint config fraud-dev-v2-7c1e9a3b)" in note.message
    assert "Model package:   arn:aws:sagemaker:us-east-1:123456789012:model-package/fraud-dev-models/3" in note.message
    assert "Training run:    dev-20261123120000-1a2b3c4d" in note.message
    assert "Endpoint config: fraud-dev-v3-5b2d8f10" in note.message
    assert CONSOLE + event.execution_arn in note.message


def test_a_rollback_says_which_rejected_version_it_replaced() -> None:
    # Given the deployment that rolled back from rejected version 4 to version 3
    payload = load_event("notify_deployed")
    run = payload["state"]["run"]
    run.update(trigger="rejected", reason="rejected version 4 is live; rolling back to version 3")
    run["live"].update(version="4", endpoint_config="fraud-dev-v4-0d9c8b7a")
    # When it is formatted
    note = deployed_notification(NotifyEvent.model_validate(payload), "dev", [])
    # Then subject and body say it was a rollback, and from what
    assert note.subject == "[FraudPipeline dev] rolled back to version 3 (version 4 rejected)"
    assert "Trigger:         rollback: version 4 was rejected while live" in note.message
    assert "Replaced:        version 4 (endpoint config fraud-dev-v4-0d9c8b7a)" in note.message


def test_a_first_deployment_says_the_endpoint_was_created() -> None:
    payload = load_event("notify_deployed")
    payload["state"]["run"]["live"] = None
    note = deployed_notification(NotifyEvent.model_validate(payload), "dev", [])
    assert "Replaced:        nothing: the endpoint was created" in note.message


def test_a_first_deployment_says_it_had_no_canary() -> None:
    payload = load_event("notify_deployed")
    payload["state"]["update"] = {
        "kind": "create",
        "traffic": "first deployment: the endpoint is created with all traffic on this version (no canary: there "
        "is no live version to shift from)",
    }
    note = deployed_notification(NotifyEvent.model_validate(payload), "dev", [])
    assert "Rollout:         first deployment" in note.message
    assert "no canary" in note.message


def test_a_rollback_names_the_alarm_the_canary_figures_and_the_rejection() -> None:
    # Given SageMaker rolled version 3 back because the 5xx alarm fired during the canary
    note = build_notification(_event("notify_rolled_back"), "dev")
    # Then the subject names the alarm, and the body the canary's figures and what became of the version
    assert note.subject == "[FraudPipeline dev] version 3 rolled back by alarm fraud-detector-dev-5xx-rate"
    assert note.message.startswith("Version 3 was rolled back on endpoint fraud-dev-endpoint;")
    assert "Alarm:           fraud-detector-dev-5xx-rate (ALARM): Threshold Crossed" in note.message
    assert (
        "Canary:          240 requests to the new fleet, 51 answered 5xx, worst model latency 12.5 ms" in note.message
    )
    assert "Version status:  Rejected, so nothing redeploys it" in note.message
    assert "Serving config:  fraud-dev-v2-7c1e9a3b" in note.message


def test_a_rollback_without_an_alarm_leaves_the_version_alone() -> None:
    payload = load_event("notify_rolled_back")
    payload["state"]["rollback"]["report"].update(alarms=[], rejected=False)
    note = build_notification(NotifyEvent.model_validate(payload), "dev")
    assert note.subject == "[FraudPipeline dev] version 3 rolled back"
    assert "Alarm:           none fired" in note.message
    assert "Version status:  unchanged" in note.message


def test_a_superseded_deployment_names_the_later_config_and_rejects_nothing() -> None:
    # Given a later deployment put another config live while this run waited for its own
    payload = load_event("notify_rolled_back")
    payload["state"]["endpoint"].update(EndpointConfigName="fraud-dev-v4-0d9c8b7a", FailureReason=None)
    payload["state"]["rollback"]["report"].update(
        outcome="superseded", alarms=[], rejected=False, summary="Version 3 was superseded: a later deployment"
    )
    event = NotifyEvent.model_validate(payload)
    note = build_notification(event, "dev")
    # Then it says superseded, not rolled back, and names both configs
    assert note.subject == "[FraudPipeline dev] version 3 superseded on fraud-dev-endpoint"
    assert "rolled back" not in note.message
    assert "Serving config:  fraud-dev-v4-0d9c8b7a" in note.message
    assert "This run's:      fraud-dev-v3-5b2d8f10" in note.message
    assert "Version status:  unchanged" in note.message
    # And it counts as superseded
    assert outcome_metric(event) == "DeploymentsSuperseded"


def test_deployed_message_reports_the_clean_up_of_old_versions() -> None:
    # Given the deployment's clean-up step reported what it deleted
    payload = load_event("notify_deployed")
    payload["state"]["cleanup"] = {"kept_endpoint_configs": ["fraud-dev-v3-5b2d8f10"], "deleted_model_count": 1}
    # When the handler's dispatch formats it
    note = build_notification(NotifyEvent.model_validate(payload), "dev")
    # Then the clean-up is reported as after a retraining run's deploy
    assert "kept for rollback: fraud-dev-v3-5b2d8f10" in note.message


def test_skipped_message_gives_the_reason_and_how_to_roll_back() -> None:
    event = _event("notify_deployment_skipped")
    note = skipped_notification(event, "dev")
    assert note.subject == "[FraudPipeline dev] deployment skipped after version 4 was rejected"
    assert "Reason:   rejected version 4 is live and no other version is Approved" in note.message
    assert "Live:     version 4 (endpoint config fraud-dev-v4-0d9c8b7a)" in note.message
    assert "  make approve ENV=dev VERSION=<n>" in note.message
    assert CONSOLE + event.execution_arn in note.message


@pytest.mark.parametrize("name", REGISTRY_KINDS)
def test_new_kinds_have_short_ascii_subjects(name: str) -> None:
    # Given an environment name long enough to push a subject over SNS's limit
    note = build_notification(_event(name), "a-very-long-environment-name-" * 3)
    assert len(note.subject) <= MAX_SUBJECT_LENGTH
    assert note.subject.isascii()


@pytest.mark.parametrize(
    ("name", "metric"),
    [
        ("notify_registered", "ModelsRegistered"),
        ("notify_deployed", "ModelsDeployed"),
        ("notify_deployment_skipped", "DeploymentsSkipped"),
        ("notify_rolled_back", "DeploymentsRolledBack"),
    ],
)
def test_handler_publishes_each_new_kind_and_counts_it(
    inbox: Any, lambda_context: FakeLambdaContext, capsys: pytest.CaptureFixture[str], name: str, metric: str
) -> None:
    # Given a payload of one of the new kinds
    # When the handler is invoked
    result = app.handler(load_event(name), lambda_context)
    # Then the message is published, and counted under its own metric
    [published] = inbox()
    assert result["subject"] == published["Subject"]
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(m.get(metric) == [1.0] and m.get("NotificationsSent") == [1.0] for m in emitted)


def test_a_tracking_server_that_was_down_is_named_in_the_notification() -> None:
    payload = load_event("notify_registered")
    payload["state"]["gate"]["mlflow_run_id"] = "none"
    payload["state"]["gate"]["mlflow"] = "unavailable (connection refused)"
    note = registered_notification(NotifyEvent.model_validate(payload), "dev")
    assert "MLflow run:        none: tracking was unavailable (connection refused); the run went on" in note.message
