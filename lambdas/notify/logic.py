"""Formatting pipeline outcomes as readable SNS messages.

This module formats a retraining run's end (``success`` / ``failure``, failures of any
state machine included) and dispatches the other kinds to the modules beside it:
:mod:`.registry_messages` (``registered``) and :mod:`.deployment_messages`
(``deployed`` / ``deployment_skipped``).
"""

from __future__ import annotations

import json
import math
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from lambdas.common.sns import execution_console_url, publish, safe_subject
from lambdas.notify.batch_messages import batch_notification
from lambdas.notify.deployment_messages import deployed_notification, rolled_back_notification, skipped_notification
from lambdas.notify.drift_messages import drift_notification
from lambdas.notify.models import ErrorInfo, Metric, Notification, NotifyEvent, NotifySettings, PipelineState
from lambdas.notify.registry_messages import registered_notification
from lambdas.notify.text import run_value as _run_value

#: Longest cause shown in full; longer ones keep their head and tail.
MAX_CAUSE_CHARS = 4_000
#: Longest clean-up failure detail in a success message.
MAX_CLEANUP_DETAIL_CHARS = 600

#: Keys of a stack trace in a JSON cause (Lambda's error document uses ``stackTrace``).
_TRACE_KEYS = frozenset({"stackTrace", "trace", "traceback"})
_PYTHON_TRACEBACK = "Traceback (most recent call last):"

#: Keys under which AWS services put the one line that explains a failure.
_REASON_KEYS = ("FailureReason", "errorMessage", "ErrorMessage", "StatusMessage", "message", "Message")


def _truncate(text: str, limit: int = MAX_CAUSE_CHARS) -> str:
    """Keep the head and the tail (where stack traces end) of an over-long text."""
    if len(text) <= limit:
        return text
    head = limit * 3 // 4
    tail = limit - head
    omitted = len(text) - head - tail
    return f"{text[:head]}\n... ({omitted} characters omitted) ...\n{text[-tail:]}"


def _find_reason(document: Any) -> str | None:
    """The first failure reason found in a JSON cause, searched breadth-first."""
    queue = [document]
    while queue:
        node = queue.pop(0)
        if isinstance(node, dict):
            for key in _REASON_KEYS:
                value = node.get(key)
                if isinstance(value, str) and value.strip():
                    return value.strip()
            queue.extend(node.values())
        elif isinstance(node, list):
            queue.extend(node)
    return None


def _without_traces(document: Any) -> Any:
    """``document`` without stack traces: they help whoever debugs the code, not whoever reads the mail,
    and they are in the function's logs."""
    if isinstance(document, dict):
        return {key: _without_traces(value) for key, value in document.items() if key not in _TRACE_KEYS}
    if isinstance(document, list):
        return [_without_traces(item) for item in document]
    return document


def _text_without_traceback(text: str) -> str:
    head, marker, _trace = text.partition(_PYTHON_TRACEBACK)
    return (head.rstrip() + "\n(stack trace omitted; see the logs)") if marker else text


def describe_cause(cause: str | None) -> tuple[str | None, str]:
    """``(one-line reason if the cause says one, the cause for humans)``.

    A JSON cause (Lambda errors, SageMaker and CodeBuild descriptions) is
    pretty-printed; any cause is cut to :data:`MAX_CAUSE_CHARS`. Stack traces are
    left out: a Lambda error's ``stackTrace`` and any Python traceback.
    """
    if not cause or not cause.strip():
        return None, "(no cause given)"
    try:
        document = json.loads(cause)
    except json.JSONDecodeError:
        return None, _truncate(_text_without_traceback(cause.strip()))
    if not isinstance(document, (dict, list)):
        return None, _truncate(_text_without_traceback(cause.strip()))
    document = _without_traces(document)
    return _find_reason(document), _truncate(json.dumps(document, indent=2, ensure_ascii=False, default=str))


def _format_value(value: float | str | None) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}".rstrip("0").rstrip(".")
    return "-" if value is None else str(value)


def failure_notification(event: NotifyEvent, environment: str) -> Notification:
    """Which state failed, with what error and why, for which run, and where to look."""
    state = event.state
    error = state.error or ErrorInfo()
    failed_state = state.failed_state or "an unknown state"
    run_id = _run_value(state.run, "run_id")
    reason, cause = describe_cause(error.Cause)
    lines = [
        f"The fraud-detection pipeline ({environment}) failed at {failed_state}.",
        "",
        f"Run:     {run_id or 'unknown (the run failed before it was initiated)'}",
        f"State:   {failed_state}",
        f"Error:   {error.Error}",
    ]
    trigger = (state.model_extra or {}).get("trigger")
    if state.run is None and isinstance(trigger, str):
        lines.append(f"Trigger: {trigger}")
    if reason:
        lines.append(f"Reason:  {reason}")
    dataset = _run_value(state.run, "data", "prefix")
    if dataset:
        lines.append(f"Dataset: s3://{_run_value(state.run, 'data', 'bucket')}/{dataset}")
    lines += ["", "Cause:", cause, "", f"Execution: {execution_console_url(event.execution_arn)}"]
    subject = f"[FraudPipeline {environment}] FAILED at {failed_state}: {error.Error}"
    return Notification(subject=safe_subject(subject), message="\n".join(lines))


def _cleanup_lines(state: PipelineState) -> list[str]:
    """What the clean-up of old models and endpoint configs did, or why it could not (never a stack trace)."""
    if state.cleanup_error is not None:
        reason, text = describe_cause(state.cleanup_error.Cause)
        if reason is None and text and not text.lstrip().startswith(("{", "[")):
            reason = text.splitlines()[0]
        detail = (reason or "the cause is in the execution's history")[:MAX_CLEANUP_DETAIL_CHARS]
        return [
            "",
            "Clean-up of old versions:",
            f"  FAILED ({state.cleanup_error.Error}): {detail}",
            "  The new model is serving all the same; the next successful run deletes what this one left.",
        ]
    if state.cleanup is not None:
        cleanup = state.cleanup
        return [
            "",
            "Clean-up of old versions:",
            f"  deleted {cleanup.deleted_endpoint_config_count} endpoint configs and "
            f"{cleanup.deleted_model_count} models",
            f"  kept for rollback: {', '.join(cleanup.kept_endpoint_configs) or '-'}",
        ]
    return []


def success_notification(event: NotifyEvent, environment: str) -> Notification:
    """The run that finished, its metrics and what is now serving."""
    state = event.state
    run_id = _run_value(state.run, "run_id") or "unknown"
    training = state.training
    endpoint = state.endpoint
    lines = [
        f"The fraud-detection pipeline ({environment}) finished run {run_id}: the new model is serving.",
        "",
        f"Run:             {run_id}",
        f"Data version:    {_run_value(state.run, 'data', 'version') or '-'}",
        f"Code version:    {_run_value(state.run, 'code', 'version') or '-'}",
        f"Training job:    {(training.job_name if training else None) or '-'}",
        f"Model artifact:  {(training.model_artifacts if training else None) or '-'}",
        f"Endpoint:        {(endpoint.EndpointName if endpoint else None) or '-'}",
        f"Endpoint config: {(endpoint.EndpointConfigName if endpoint else None) or '-'}",
        f"Endpoint status: {(endpoint.EndpointStatus if endpoint else None) or '-'}",
        "",
        "Metrics:",
    ]
    metrics = training.metrics if training else []
    if metrics:
        width = max(len(metric.MetricName) for metric in metrics)
        lines += [f"  {metric.MetricName.ljust(width)}  {_format_value(metric.Value)}" for metric in metrics]
    elif training is not None and training.metrics_error:
        lines.append(f"  (unavailable: {training.metrics_error})")
    else:
        lines.append("  (none reported)")
    lines += _cleanup_lines(state)
    lines += ["", f"Execution: {execution_console_url(event.execution_arn)}"]
    subject = f"[FraudPipeline {environment}] run {run_id} deployed"
    return Notification(subject=safe_subject(subject), message="\n".join(lines))


def with_reported_metrics(event: NotifyEvent, sagemaker: Any) -> NotifyEvent:
    """A success event completed with the training job's final metrics, read from SageMaker.

    The state machine keeps only fields every Completed job has (``FinalMetricDataList`` is
    absent when a job emitted no metric, and selecting it would be an uncatchable
    States.Runtime error), so the metrics are read here. A failed read is reported in the
    message instead of failing the notification.
    """
    training = event.state.training
    if event.kind != "success" or training is None or not training.job_name or training.metrics:
        return event
    try:
        job = sagemaker.describe_training_job(TrainingJobName=training.job_name)
    except ClientError as error:
        details = error.response.get("Error", {})
        update: dict[str, Any] = {"metrics_error": f"{details.get('Code')}: {details.get('Message')}"}
    else:
        update = {"metrics": [Metric.model_validate(m) for m in job.get("FinalMetricDataList") or []]}
    state = event.state.model_copy(update={"training": training.model_copy(update=update)})
    return event.model_copy(update={"state": state})


def build_notification(event: NotifyEvent, environment: str) -> Notification:
    """The subject and message for ``event``, by its kind."""
    if event.kind == "success":
        return success_notification(event, environment)
    if event.kind == "registered":
        return registered_notification(event, environment)
    if event.kind == "deployed":
        return deployed_notification(event, environment, _cleanup_lines(event.state))
    if event.kind == "deployment_skipped":
        return skipped_notification(event, environment)
    if event.kind == "rolled_back":
        return rolled_back_notification(event, environment)
    if event.kind == "drift":
        return drift_notification(event, environment)
    if event.kind == "batch_scored":
        return batch_notification(event, environment)
    return failure_notification(event, environment)


def notify(event: NotifyEvent, settings: NotifySettings, sns: Any) -> dict[str, str]:
    """Publish the notification for ``event``; return ``{"subject", "message_id"}``."""
    notification = build_notification(event, settings.environment)
    message_id = publish(sns, topic_arn=settings.topic_arn, subject=notification.subject, message=notification.message)
    return {"subject": notification.subject, "message_id": message_id}
