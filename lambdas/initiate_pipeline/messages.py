"""The notifications ``initiate_pipeline`` sends: a run started, or a run waiting in line."""

from __future__ import annotations

from lambdas.initiate_pipeline.models import CodeVersion, DataVersion, ImageVersion, InitiateEvent, InitiateResult


def subject_prefix(environment: str) -> str:
    return f"[FraudPipeline {environment}]"


def trigger_line(event: InitiateEvent) -> str:
    run_input = event.input
    if run_input.trigger == "s3" and run_input.object_key:
        return f"s3 (new object s3://{run_input.bucket or '?'}/{run_input.object_key})"
    if run_input.trigger == "drift":
        return f"drift (report {run_input.drift_report or 'not given'})"
    return run_input.trigger


def started(result: InitiateResult, event: InitiateEvent, data: DataVersion, code: CodeVersion) -> str:
    def build(image: ImageVersion) -> str:
        return "build needed" if image.build_needed else "already in ECR, no build"

    lines = [
        f"Pipeline run {result.run_id} started.",
        "",
        f"Trigger:          {trigger_line(event)}",
        f"Reason:           {event.input.reason or '-'}",
        f"Dataset:          s3://{data.bucket}/{data.prefix}",
        f"Data version:     {data.version}",
        f"Code version:     {code.version}",
        f"Training image:   {code.training.image_uri} ({build(code.training)})",
        f"Inference image:  {code.inference.image_uri} ({build(code.inference)})",
        f"Training job:     {result.names.training_job}",
        f"Endpoint:         {result.names.endpoint}",
        "",
        f"Execution: {result.console_url}",
    ]
    return "\n".join(lines)


def queued(result: InitiateResult, event: InitiateEvent, starts: str, data_location: str) -> str:
    """``starts`` says when the run begins; ``data_location`` which dataset it will train on."""
    dataset = (
        f"s3://{result.data.bucket}/{result.data.prefix} (checked complete)"
        if result.data is not None
        else f"the newest complete dataset under {data_location} when the run starts"
    )
    lines = [
        f"Pipeline run {result.run_id} is waiting in line: another run is in progress.",
        "",
        f"Trigger:          {trigger_line(event)}",
        f"Reason:           {event.input.reason or '-'}",
        f"Will train on:    {dataset}",
        f"Starts:           {starts}",
        "",
        'Nothing is dropped: a "started" notification follows when its turn comes.',
        f"Execution: {result.console_url}",
    ]
    return "\n".join(lines)
