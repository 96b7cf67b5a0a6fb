"""The deployment state machine's notifications: a version went live, or nothing was deployed and why."""

from __future__ import annotations

from lambdas.common.sns import execution_console_url, safe_subject
from lambdas.notify.models import DeploymentRun, Notification, NotifyEvent
from lambdas.notify.registry_messages import approve_commands
from lambdas.notify.text import subject_prefix


def _run(event: NotifyEvent) -> DeploymentRun:
    return DeploymentRun.model_validate(event.state.run or {})


def _endpoint(event: NotifyEvent, run: DeploymentRun, environment: str) -> str:
    endpoint = event.state.endpoint
    return (
        (endpoint.EndpointName if endpoint else None)
        or (run.names.endpoint if run.names else None)
        or f"the {environment} endpoint"
    )


def _replaced(run: DeploymentRun) -> str:
    live = run.live
    if live is None:
        return "nothing: the endpoint was created (or replaced after a failure)"
    config = f"endpoint config {live.endpoint_config or '?'}"
    return f"version {live.version} ({config})" if live.version else f"{config}, not made from a registered version"


def _trigger(run: DeploymentRun, version: str) -> str:
    if run.trigger == "rejected":
        rejected = run.live.version if run.live and run.live.version else "?"
        return f"rollback: version {rejected} was rejected while live"
    if run.trigger == "approved":
        return f"version {version} was approved"
    return "-"


def _rollout(event: NotifyEvent) -> str:
    update = event.state.update
    return (update.traffic if update else None) or "-"


def rolled_back_notification(event: NotifyEvent, environment: str) -> Notification:
    """SageMaker put the previous version back: which alarm fired, what the canary saw, what became of the version."""
    run = _run(event)
    report = event.state.rollback.report if event.state.rollback else None
    if report is not None and report.outcome == "superseded":
        return superseded_notification(event, environment)
    version = (run.package.version if run.package else None) or (report.version if report else None) or "?"
    endpoint = _endpoint(event, run, environment)
    alarms = report.alarms if report else []
    canary = report.canary if report and report.canary else None
    latency = canary.max_model_latency_ms if canary else None
    lines = [
        f"Version {version} was rolled back on endpoint {endpoint}; the previous version still serves.",
        "",
        *(report.summary.splitlines() if report and report.summary else []),
        "",
        *(f"Alarm:           {alarm.name} ({alarm.state}): {alarm.reason or '-'}" for alarm in alarms),
        *([] if alarms else ["Alarm:           none fired"]),
        f"Canary:          {canary.invocations if canary else '?'} requests to the new fleet, "
        f"{canary.errors_5xx if canary else '?'} answered 5xx, worst model latency "
        f"{f'{latency:g} ms' if latency is not None else '-'}",
        f"Rollout:         {_rollout(event)}",
        f"SageMaker says:  {(report.failure_reason if report else None) or '-'}",
        f"Version status:  {'Rejected, so nothing redeploys it' if report and report.rejected else 'unchanged'}",
        f"Serving config:  {(event.state.endpoint.EndpointConfigName if event.state.endpoint else None) or '-'}",
        f"Model package:   {(run.package.arn if run.package else None) or '-'}",
        "",
        f"Execution: {execution_console_url(event.execution_arn)}",
    ]
    fired = f" by alarm {', '.join(alarm.name for alarm in alarms)}" if alarms else ""
    subject = f"{subject_prefix(environment)} version {version} rolled back{fired}"
    return Notification(subject=safe_subject(subject), message="\n".join(lines))


def superseded_notification(event: NotifyEvent, environment: str) -> Notification:
    """A later deployment put another config live while this one waited: nothing failed, nothing rejected."""
    run = _run(event)
    report = event.state.rollback.report if event.state.rollback else None
    version = (run.package.version if run.package else None) or (report.version if report else None) or "?"
    endpoint = _endpoint(event, run, environment)
    serving = (event.state.endpoint.EndpointConfigName if event.state.endpoint else None) or "-"
    lines = [
        f"Version {version} was superseded on endpoint {endpoint} by a later deployment.",
        "",
        *(report.summary.splitlines() if report and report.summary else []),
        "",
        f"Serving config:  {serving}",
        f"This run's:      {(run.names.endpoint_config if run.names else None) or '-'}",
        f"Rollout:         {_rollout(event)}",
        "Version status:  unchanged",
        f"Model package:   {(run.package.arn if run.package else None) or '-'}",
        "",
        f"Execution: {execution_console_url(event.execution_arn)}",
    ]
    subject = f"{subject_prefix(environment)} version {version} superseded on {endpoint}"
    return Notification(subject=safe_subject(subject), message="\n".join(lines))


def deployed_notification(event: NotifyEvent, environment: str, cleanup: list[str]) -> Notification:
    """Which version now serves where, what it replaced and why; ``cleanup`` reports the clean-up of old versions."""
    run = _run(event)
    package = run.package
    version = (package.version if package else None) or "?"
    endpoint = _endpoint(event, run, environment)
    state_endpoint = event.state.endpoint
    lines = [
        f"Version {version} is now serving on endpoint {endpoint}.",
        "",
        f"Trigger:         {_trigger(run, version)}",
        f"Reason:          {run.reason or '-'}",
        f"Replaced:        {_replaced(run)}",
        f"Rollout:         {_rollout(event)}",
        f"Model package:   {(package.arn if package else None) or '-'}",
        f"Training run:    {(package.run_id if package else None) or '-'}",
        f"Data version:    {(package.data_version if package else None) or '-'}",
        f"Model artifact:  {(package.model_data_url if package else None) or '-'}",
        f"Model:           {(run.names.model if run.names else None) or '-'}",
        f"Endpoint config: {(state_endpoint.EndpointConfigName if state_endpoint else None) or '-'}",
        f"Endpoint status: {(state_endpoint.EndpointStatus if state_endpoint else None) or '-'}",
        *cleanup,
        "",
        f"Execution: {execution_console_url(event.execution_arn)}",
    ]
    if run.trigger == "rejected":
        rejected = run.live.version if run.live and run.live.version else "?"
        subject = f"{subject_prefix(environment)} rolled back to version {version} (version {rejected} rejected)"
    else:
        subject = f"{subject_prefix(environment)} version {version} deployed to {endpoint}"
    return Notification(subject=safe_subject(subject), message="\n".join(lines))


def skipped_notification(event: NotifyEvent, environment: str) -> Notification:
    """Why the deployment deployed nothing, and (after a rejection) how to roll back by hand."""
    run = _run(event)
    # A skip worth telling people about concerns the version the event was about: the one
    # found (approved) or the live one (rejected).
    about = (run.package.version if run.package else None) or (run.live.version if run.live else None)
    live = run.live
    serving = (
        f"version {live.version} (endpoint config {live.endpoint_config})"
        if live and live.version
        else (f"endpoint config {live.endpoint_config}" if live else "nothing")
    )
    lines = [
        f"The deployment ({environment}) deployed nothing.",
        "",
        f"Reason:   {run.reason or '-'}",
        f"Trigger:  {f'version {about} was {run.trigger}' if about and run.trigger else run.trigger or '-'}",
        f"Live:     {serving}",
    ]
    if run.trigger == "rejected":
        lines += [
            "",
            "To roll back, approve an earlier version (python -m pipeline models list "
            f"--env {environment} shows them):",
            *(f"  {command}" for command in approve_commands(environment, "<n>")),
        ]
    lines += ["", f"Execution: {execution_console_url(event.execution_arn)}"]
    after = f" after version {about} was {run.trigger}" if about and run.trigger else ""
    subject = f"{subject_prefix(environment)} deployment skipped{after}"
    return Notification(subject=safe_subject(subject), message="\n".join(lines))
