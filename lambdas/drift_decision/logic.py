"""Everything ``drift_decision`` decides, with the AWS clients passed in.

It reads the drift job's ``drift_report.json``. When the job found drift in at least
``MIN_DRIFTED_FEATURES`` features, it starts a retraining run (``trigger: drift``), at most one
per ``RETRAIN_COOLDOWN_HOURS``: a drifted world keeps drifting, and a retraining loop every
day would only cost money. The limit is the retraining state machine's own history
(ListExecutions), where drift-started runs are named ``drift-<yyyymmddHHMMSS>``: any such run,
whatever its status, started within the cool-down holds the next one back.

The execution name comes from this drift run's start, so a retried invocation finds the run it
started instead of starting a second one (StartExecution is idempotent for the same name and
input while it runs; Step Functions API Reference, StartExecution).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]

from lambdas.drift_decision.models import (
    DecideEvent,
    DecideSettings,
    DriftDecision,
    DriftReport,
    PreviousRun,
    RetrainingAction,
)

REPORT_JSON = "drift_report.json"
REPORT_HTML = "drift_report.html"
#: Retraining executions a drift starts are named ``drift-<UTC yyyymmddHHMMSS of the drift run>``.
EXECUTION_PREFIX = "drift-"
_TIME = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Clients:
    """The AWS clients the step uses; tests pass moto-backed ones."""

    s3: Any
    sfn: Any


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_report(s3: Any, report_uri: str) -> DriftReport:
    """``<report_uri>drift_report.json``, parsed."""
    bucket, _, prefix = report_uri.removeprefix("s3://").partition("/")
    body = s3.get_object(Bucket=bucket, Key=f"{prefix}{REPORT_JSON}")["Body"].read()
    return DriftReport.model_validate(json.loads(body))


def retraining_reason(report: DriftReport) -> str:
    """``drift in <features>``: the retraining run's reason, shown in its notifications."""
    return f"drift in {', '.join(report.drifted_features)}"


def last_drift_run(sfn: Any, state_machine_arn: str, since: datetime) -> PreviousRun | None:
    """The newest retraining execution named ``drift-*`` started at or after ``since``, whatever its status."""
    newest: tuple[datetime, PreviousRun] | None = None
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn):
        for execution in page.get("executions", []):
            name = str(execution["name"])
            started = utc(execution["startDate"])
            if not name.startswith(EXECUTION_PREFIX) or started < since:
                continue
            if newest is None or started > newest[0]:
                run = PreviousRun(name=name, started=started.strftime(_TIME), status=str(execution.get("status")))
                newest = (started, run)
    return newest[1] if newest else None


def execution_arn(state_machine_arn: str, name: str) -> str:
    """``arn:<p>:states:<r>:<a>:stateMachine:<machine>`` → ``...:execution:<machine>:<name>``."""
    head, _, machine = state_machine_arn.rpartition(":stateMachine:")
    return f"{head}:execution:{machine}:{name}"


def start_retraining(
    sfn: Any, settings: DecideSettings, *, name: str, reason: str, report_json: str
) -> RetrainingAction:
    """StartExecution ``name``; a name already taken is this run's own earlier start (a retried invocation)."""
    arn = settings.retraining_state_machine_arn
    payload = {"trigger": "drift", "reason": reason, "drift_report": report_json}
    try:
        started = str(sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(payload))["executionArn"])
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        started = execution_arn(arn, name)
    return RetrainingAction(
        action="started", reason=f"retraining run {name} started: {reason}", execution_name=name, execution_arn=started
    )


def _rate_limited(previous: PreviousRun, cooldown_hours: int) -> RetrainingAction:
    return RetrainingAction(
        action="rate_limited",
        reason=(
            f"rate limited, retraining not started: at most one drift-triggered run per {cooldown_hours} h, "
            f"last drift run {previous.name} at {previous.started} ({previous.status})"
        ),
        last_drift_run=previous,
    )


def retraining(
    report: DriftReport, settings: DecideSettings, sfn: Any, *, started: datetime, report_json: str
) -> RetrainingAction:
    """Start, hold back, or skip the retraining the report calls for."""
    drifted = len(report.drifted_features)
    if report.status != "drift":
        return RetrainingAction(action="not_needed", reason=f"no retraining: {report.status.replace('_', ' ')}")
    if drifted < settings.min_drifted_features:
        return RetrainingAction(
            action="not_needed",
            reason=f"below tolerance: {drifted} drifted feature(s), retraining needs {settings.min_drifted_features}",
        )
    name = f"{EXECUTION_PREFIX}{started:%Y%m%d%H%M%S}"
    if settings.retrain_cooldown_hours > 0:
        since = started - timedelta(hours=settings.retrain_cooldown_hours)
        previous = last_drift_run(sfn, settings.retraining_state_machine_arn, since)
        if previous is not None and previous.name != name:
            return _rate_limited(previous, settings.retrain_cooldown_hours)
    return start_retraining(sfn, settings, name=name, reason=retraining_reason(report), report_json=report_json)


def status_reason(report: DriftReport) -> str:
    """The few words the notification's subject carries."""
    if report.status == "insufficient_data":
        if report.min_records is not None and report.records < report.min_records:
            return f"{report.records} records (need {report.min_records})"
        return report.summary or f"{report.records} records"
    if report.status == "no_drift":
        return f"no drift in {report.records} records"
    return retraining_reason(report)


def decide(event: DecideEvent, settings: DecideSettings, clients: Clients) -> DriftDecision:
    """Read the report; start a rate-limited retraining on drift; return the drift notification's document."""
    run = event.run
    report = read_report(clients.s3, run.report_uri)
    report_json = f"{run.report_uri}{REPORT_JSON}"
    action = retraining(report, settings, clients.sfn, started=utc(run.started), report_json=report_json)
    return DriftDecision(
        status=report.status,
        reason=status_reason(report),
        summary=report.summary,
        endpoint=run.endpoint,
        model_version=report.model_version or run.model_version or None,
        window=report.window or run.window,
        records=report.records,
        min_records=report.min_records,
        drifted_features=report.drifted_features,
        features=report.features,
        prediction=report.prediction,
        ground_truth=report.ground_truth,
        report_json=report_json,
        report_html=f"{run.report_uri}{REPORT_HTML}",
        job_name=run.job_name,
        retraining=action,
    )
