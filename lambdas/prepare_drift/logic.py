"""Everything ``prepare_drift`` decides, with the AWS clients passed in.

The drift job compares the requests the endpoint captured in the last ``WINDOW_HOURS`` with the
training baseline of the version it serves. Before a Processing job is paid for, this step checks
there is something to compare: a live registered version (its ``model.tar.gz`` holds the baseline),
captured requests, and the training image of the code this stack was deployed with. Anything
missing ends the run with an ``insufficient_data`` (or ``skipped``) notice, never "no drift".

Names and times come from the execution's start, not the clock, so a retried invocation
answers the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lambdas.prepare_drift.live import NoLiveModelError, has_objects, image_exists, image_tag, live_model
from lambdas.prepare_drift.models import DriftRun, LiveModel, Outcome, PrepareEvent, PrepareSettings, Window

#: ISO 8601 in UTC, as the monitor's WINDOW_START / WINDOW_END expect.
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Clients:
    """The AWS clients the step uses; tests pass moto-backed ones."""

    sagemaker: Any
    s3: Any
    ecr: Any


@dataclass(frozen=True)
class Finding:
    """What the checks found: the live model (if any), what was captured, the image, and why not to run."""

    live: LiveModel | None
    capture_found: bool
    labels_found: bool
    image_uri: str | None
    outcome: Outcome
    reason: str
    detail: str


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _find(settings: PrepareSettings, clients: Clients, capture_key: str, capture_uri: str) -> Finding:
    """Run the checks in order; the first that fails decides the outcome."""
    endpoint = settings.endpoint_name
    labels_found = has_objects(clients.s3, settings.data_bucket, settings.labels_prefix)
    try:
        live = live_model(clients.sagemaker, endpoint)
    except NoLiveModelError as missing:
        detail = f"{missing}. Nothing serves, so nothing was captured to compare with a baseline."
        return Finding(None, False, labels_found, None, "insufficient_data", str(missing), detail)
    if not live.model_data_url:
        why = f"no model artifact: version {live.version} names no ModelDataUrl"
        return Finding(live, False, labels_found, None, "insufficient_data", why, f"{why}, so it has no baseline.")
    if not has_objects(clients.s3, settings.artifacts_bucket, capture_key):
        why = f"no captured requests for {endpoint}"
        detail = (
            f"Nothing is under {capture_uri}: the endpoint has not been called since data capture was turned on, "
            "or its capture files expired."
        )
        return Finding(live, False, labels_found, None, "insufficient_data", why, detail)
    tag = image_tag(settings.training_source_hash)
    image_uri = f"{settings.training_repository_uri.split('@', 1)[0]}:{tag}"
    if not image_exists(clients.ecr, settings.training_repository_uri, tag):
        why = "training image not built yet"
        detail = (
            f"The drift job runs the training image of the code this stack was deployed with, {image_uri}, "
            "which is not in ECR yet. The next retraining run builds it; the drift job runs after that."
        )
        return Finding(live, True, labels_found, None, "skipped", why, detail)
    return Finding(live, True, labels_found, image_uri, "examine", "", "")


def prepare(event: PrepareEvent, settings: PrepareSettings, clients: Clients) -> DriftRun:
    """The drift run's names, window and inputs, and whether the job runs at all."""
    started = utc(event.execution.start_time)
    job_name = f"{settings.name_prefix}drift-{started:%Y%m%d%H%M%S}"
    # The report's times have whole seconds: the end rounds up, so that a request captured in the
    # second the check started is inside its window.
    end = started.replace(microsecond=0) + (timedelta(seconds=1) if started.microsecond else timedelta(0))
    window = Window(
        start=(end - timedelta(hours=settings.window_hours)).strftime(ISO_FORMAT),
        end=end.strftime(ISO_FORMAT),
    )
    capture_key = f"{settings.capture_prefix}{settings.endpoint_name}/"
    capture_uri = f"s3://{settings.artifacts_bucket}/{capture_key}"
    finding = _find(settings, clients, capture_key, capture_uri)
    live = finding.live
    run = DriftRun(
        run_id=job_name,
        outcome=finding.outcome,
        reason=finding.reason,
        trigger=event.input.trigger,
        environment=settings.environment,
        endpoint=settings.endpoint_name,
        started=started.strftime(ISO_FORMAT),
        job_name=job_name,
        window=window,
        live=live,
        model_version=(live.version or "") if live else "",
        model_data_url=live.model_data_url if live else None,
        image_uri=finding.image_uri,
        capture_uri=capture_uri,
        capture_found=finding.capture_found,
        labels_uri=f"s3://{settings.data_bucket}/{settings.labels_prefix}",
        labels_found=finding.labels_found,
        report_uri=f"s3://{settings.artifacts_bucket}/{settings.reports_prefix}{job_name}/",
        notice=None,
    )
    if finding.outcome != "examine":
        run = run.model_copy(update={"notice": notice(run, finding.detail)})
    return run


def notice(run: DriftRun, detail: str) -> dict[str, Any]:
    """The drift notification's document (``$.drift``) for a run that examined nothing."""
    return {
        "status": run.outcome,
        "reason": run.reason,
        "summary": detail,
        "endpoint": run.endpoint,
        "model_version": run.model_version or None,
        "window": run.window.model_dump(),
        "job_name": None,
        "retraining": {"action": "not_needed", "reason": "nothing was examined"},
    }
