"""The ``registered`` notification: a retraining run registered a new model package version.

It shows the challenger against the champion, the gate's decision and reason, and what
happens next: deployment (Approved), the exact commands that decide (PendingManualApproval),
or that the live model keeps serving (Rejected).
"""

from __future__ import annotations

from lambdas.common.sns import execution_console_url, safe_subject
from lambdas.notify.models import GateInfo, Notification, NotifyEvent
from lambdas.notify.text import figure, package_group, package_version, run_value, subject_prefix, table

#: The rows of the comparison table: (label, field of :class:`Scores`).
_ROWS = (
    ("PR-AUC", "pr_auc"),
    ("ROC-AUC", "roc_auc"),
    ("Precision", "precision"),
    ("Recall", "recall"),
    ("F1", "f1"),
    ("Threshold", "threshold"),
)

_SUBJECTS = {
    "approved": "version {v} approved",
    "pending": "version {v} awaits approval",
    "rejected": "version {v} rejected by the quality gate",
}

_STATUS_WORDS = {
    "approved": "Approved: it passed the quality gate",
    "pending": "PendingManualApproval: it passed the quality gate and awaits a decision",
    "rejected": "Rejected: it failed the quality gate",
}


def approve_commands(environment: str, version: str) -> list[str]:
    """The two ways to approve a version: the Makefile target and the CLI it wraps."""
    return [
        f"make approve ENV={environment} VERSION={version}",
        f"python -m pipeline models approve --env {environment} {version}",
    ]


def reject_commands(environment: str, version: str) -> list[str]:
    return [f"python -m pipeline models reject --env {environment} {version}"]


def comparison(gate: GateInfo, version: str) -> list[str]:
    """Challenger against champion, one metric per row (precision and recall at each model's own threshold)."""
    champion = gate.champion
    header = ["Metric", f"Challenger (v{version})"]
    if champion is not None:
        header.append(f"Champion (v{champion.version or '?'})")
    rows = []
    for label, field in _ROWS:
        row = [label, figure(getattr(gate.challenger, field))]
        if champion is not None:
            row.append(figure(getattr(champion, field)))
        rows.append(row)
    lines = table(header, rows)
    lines.append("  (precision, recall and F1 at each model's own threshold, on the same test data)")
    if champion is None:
        lines.append("  No champion: no version was Approved before this one.")
    return lines


def _checks(gate: GateInfo) -> list[str]:
    if not gate.checks:
        return ["  (none reported)"]
    rows = [
        ["passed" if check.passed else "FAILED", check.name, figure(check.value), f">= {figure(check.limit)}"]
        for check in gate.checks
    ]
    return table(["Result", "Check", "Value", "Needs"], rows)


def _next_steps(gate: GateInfo, environment: str, version: str, endpoint: str) -> list[str]:
    if gate.decision == "approved":
        return [
            f"  The deployment state machine is deploying version {version} to {endpoint};",
            '  a "deployed" notification follows.',
        ]
    if gate.decision == "pending":
        return [
            "  Nothing is deployed until someone decides.",
            f"  To approve version {version} (the deployment state machine then deploys it to {endpoint}):",
            *(f"    {command}" for command in approve_commands(environment, version)),
            "  To reject it:",
            *(f"    {command}" for command in reject_commands(environment, version)),
        ]
    return [
        "  Nothing is deployed: the live model keeps serving.",
        f"  Version {version} stays in the registry as Rejected, for audit.",
    ]


def _mlflow(gate: GateInfo) -> str:
    """The MLflow run, or why there is none: a tracking server that was down is said, never hidden."""
    if gate.mlflow_run_id and gate.mlflow_run_id != "none":
        return gate.mlflow_run_id
    if gate.mlflow and gate.mlflow.startswith("unavailable"):
        return f"none: tracking was {gate.mlflow}; the run went on without it"
    if gate.mlflow:
        return f"none: tracking was {gate.mlflow}"
    return "none (tracking was off or unavailable; the evaluation report says which)"


def registered_notification(event: NotifyEvent, environment: str) -> Notification:
    """The new version, how it compares with the champion, the decision, and what happens next."""
    state = event.state
    gate = state.gate or GateInfo()
    arn = state.registered.arn if state.registered else None
    version = package_version(arn) or "?"
    run_id = run_value(state.run, "run_id") or "unknown"
    endpoint = run_value(state.run, "names", "endpoint") or f"the {environment} endpoint"
    group = package_group(arn) or "the model registry"
    status = _STATUS_WORDS.get(gate.decision, gate.approval_status or gate.decision)
    training = state.training
    lines = [
        f"Run {run_id} registered version {version} of {group} as {status}.",
        "",
        f"Decision: {gate.decision}",
        f"Reason:   {gate.reason or '-'}",
        "",
        *comparison(gate, version),
        "",
        "Checks:",
        *_checks(gate),
        "",
        "What happens next:",
        *_next_steps(gate, environment, version, endpoint),
        "",
        f"Model package:     {arn or '-'}",
        f"Metadata version:  {gate.model_version or '-'}",
        f"Training job:      {(training.job_name if training else None) or '-'}",
        f"Model artifact:    {(training.model_artifacts if training else None) or '-'}",
        f"Data version:      {run_value(state.run, 'data', 'version') or '-'}",
        f"Code version:      {run_value(state.run, 'code', 'version') or '-'}",
        f"MLflow run:        {_mlflow(gate)}",
        f"Evaluation report: {gate.report_uri or '-'}",
        "",
        f"Execution: {execution_console_url(event.execution_arn)}",
    ]
    template = _SUBJECTS.get(gate.decision, "version {v} registered")
    subject = f"{subject_prefix(environment)} {template.format(v=version)}"
    return Notification(subject=safe_subject(subject), message="\n".join(lines))
