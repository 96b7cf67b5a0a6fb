"""What ``python -m offline run`` tells its user: how to look inside, how each run went, what to do next.

The hints for another shell are commands, not prose, and ``tests/e2e/test_serve.py``
runs them as printed: they must work against the local AWS they describe.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from offline.run.progress import Log, StateTiming
from offline.run.session import LocalPipeline, RunResult

#: A feature row for the hints (the 8 features in schema order, no header, no label).
EXAMPLE_ROW = "125.5,14,3.2,0,2,400,1,0.02"


def endpoint_name(pipeline: LocalPipeline) -> str:
    """The endpoint the runs deploy to, from the stacks' outputs."""
    for outputs in pipeline.deployment.outputs.values():
        for output in outputs:
            if output.key == "EndpointName":
                return output.value
    raise LookupError("no stack has an EndpointName output")


def shell_environment(pipeline: LocalPipeline) -> dict[str, str]:
    """The variables that point the aws CLI and boto3 at the local AWS, runtime included."""
    return {
        **pipeline.aws.environment(),
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": pipeline.runtime_url,
        "AWS_DEFAULT_REGION": pipeline.aws.region,
    }


def _invoke(pipeline: LocalPipeline) -> str:
    return (
        f"sagemaker-runtime invoke-endpoint --endpoint-name {endpoint_name(pipeline)} "
        f"--content-type text/csv --body '{EXAMPLE_ROW}' /dev/stdout"
    )


def shell_commands(pipeline: LocalPipeline) -> list[str]:
    """Commands that work in another shell once :func:`shell_environment` is exported."""
    bucket, prefix, _marker = pipeline.data_location()
    return [
        f"aws stepfunctions list-executions --state-machine-arn {pipeline.state_machine.arn}",
        f"aws s3 ls s3://{bucket}/{prefix} --recursive",
        f"python -m pipeline models list --env {environment_name(pipeline)}",
        "aws sagemaker list-endpoints",
        f"aws {_invoke(pipeline)}",
        f"make retrain ENV={environment_name(pipeline)}",
    ]


def endpoint_url_commands(pipeline: LocalPipeline) -> list[str]:
    """The same calls with ``--endpoint-url``, for a shell that exports only the credentials and region."""
    url = pipeline.aws.endpoint_url
    return [
        f"aws --endpoint-url {url} stepfunctions list-executions --state-machine-arn {pipeline.state_machine.arn}",
        f"aws --endpoint-url {pipeline.runtime_url} {_invoke(pipeline)}",
    ]


def environment_name(pipeline: LocalPipeline) -> str:
    """The environment the assembly was synthesized for: ``FraudPipeline-<env>-Pipeline``."""
    return pipeline.state_machine.stack.split("-")[1]


def describe_local_aws(pipeline: LocalPipeline, log: Log) -> None:
    environment = shell_environment(pipeline)
    exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in environment.items())
    credentials = ", ".join(name for name in environment if not name.startswith("AWS_ENDPOINT_URL"))
    log(
        "\n".join(
            [
                f"local AWS (moto, IAM enforced) at {pipeline.aws.endpoint_url}; "
                f"its SageMaker Runtime at {pipeline.runtime_url}",
                "from another shell, export:",
                f"  export {exports}",
                "and run, for example:",
                *(f"  {command}" for command in shell_commands(pipeline)),
                "  (AWS CLI v2 also needs --cli-binary-format raw-in-base64-out for invoke-endpoint's --body)",
                f"or export only {credentials} as above and name the endpoint per command:",
                *(f"  {command}" for command in endpoint_url_commands(pipeline)),
                f"notifications (read from the SQS queue offline-notifications, subscribed to the topic) are "
                f"printed here and appended to {pipeline.workdir / 'logs' / 'notifications.log'}",
                f"local API: POST {pipeline.api.url}/predict",
                *(
                    [f"MLflow tracking server (experiments, runs, models): {pipeline.tracking_url}"]
                    if pipeline.tracking_url
                    else []
                ),
                f"drift reports (open the HTML in a browser: one plot per feature, training against live): "
                f"{pipeline.workdir / 'processing-jobs'}/<drift job>/opt/ml/processing/output/drift_report.html "
                f"(also in S3 under drift-reports/); start a drift check with",
                f"  aws stepfunctions start-execution --state-machine-arn "
                f'{pipeline.deployment.machine("drift").arn} --input \'{{"trigger": "manual"}}\'',
            ]
        )
    )


def run_summary(result: RunResult, log: Log, *, verbose: bool = False) -> None:
    for failure in result.trigger_failures:
        log(f"no execution started: EventBridge could not invoke the state machine: {failure}")
    for execution in result.executions:
        waited = f" (waited in line behind {execution.queued_behind})" if execution.queued_behind else ""
        log(f"execution {execution.arn.rsplit(':', 1)[-1]} from {execution.object_key}: {execution.status}{waited}")
    for deployment in result.deployments:
        log(f"deployment {deployment.arn.rsplit(':', 1)[-1]} (registry event): {deployment.status}")
    timings = result.timings if verbose else [t for t in result.timings if t.does_work]
    log("per-state timings of the last execution:\n" + timing_table(timings))
    if result.probe is not None:
        log(
            f"requests through the local API during the run (endpoint update in place): "
            f"{result.probe.sent} sent, {result.probe.failed} failed"
        )
    log(f"run finished in {result.seconds:.1f}s: {'SUCCEEDED' if result.succeeded else 'FAILED'}")


def timing_table(timings: list[StateTiming]) -> str:
    if not timings:
        return "  (none)"
    width = max(len(t.state) for t in timings)
    marks = {"failed": "  (failed)", "handled": "  (error handled)"}
    return "\n".join(f"  {t.state.ljust(width)}  {t.seconds:7.2f}s{marks.get(t.outcome, '')}" for t in timings)


def final_summary(pipeline: LocalPipeline, last: RunResult | None, log: Log) -> None:
    """The model's metrics and where to look next."""
    lines: list[str] = []
    if last is not None and last.executions:
        metrics = pipeline.training_metrics(last.main.arn)
        if metrics:
            lines.append("model metrics (validation split):")
            lines += [f"  {name}: {value:.4f}" for name, value in sorted(metrics.items())]
    workdir = pipeline.workdir
    lines += [
        "where to look next:",
        f"  Lambda logs:     {workdir / 'logs' / 'lambda'}/",
        f"  notifications:   {workdir / 'logs' / 'notifications.log'}",
        f"  image builds:    {workdir / 'builds'}/<build id>/ (buildspec output, docker shim log)",
        f"  training jobs:   {workdir / 'training-jobs'}/<job>/ (container output, model artifact)",
        f"  evaluations:     {workdir / 'processing-jobs'}/<job>/ (evaluation.json: challenger vs champion)",
        f"  model registry:  python -m pipeline models list --env {environment_name(pipeline)} (exports above)",
        f"  endpoints:       {workdir / 'endpoints'}/<endpoint>/<config>/",
        f"  drift reports:   {workdir / 'processing-jobs'}/<drift job>/opt/ml/processing/output/ (JSON, HTML)",
        f"  batch transforms: {workdir / 'transform-jobs'}/<job>/ (data log, server output)",
        *(
            [f"  experiments:     MLflow at {pipeline.tracking_url} (runs kept in {workdir / 'mlflow'})"]
            if pipeline.tracking_url
            else []
        ),
        "  keep the API, the local AWS and MLflow up to try them: python -m offline run --serve",
    ]
    log("\n".join(lines))


def report_denials(pipeline: LocalPipeline, log: Log) -> None:
    """Every call offline IAM refused: in AWS each would have been an AccessDenied too."""
    seen: dict[tuple[str, str, str], str] = {}
    for denial in pipeline.iam.authorizer.denials():
        role = (denial.role_arn or denial.principal).rsplit("/", 1)[-1]
        seen.setdefault((role, denial.action, denial.resource), denial.reason)
    if not seen:
        return
    lines = [
        f"  {role} is not authorized to perform: {action} on resource: {resource} {reason}"
        for (role, action, resource), reason in seen.items()
    ]
    log(f"IAM refused {len(seen)} call(s), as AWS would:\n" + "\n".join(lines))


def last_dataset_test_csv(pipeline: LocalPipeline, last: RunResult) -> Path:
    return pipeline.workdir / "datasets" / last.dataset / "test.csv"
