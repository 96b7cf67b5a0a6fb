"""The checks ``python -m offline run`` makes before it synthesizes or starts anything.

A usage error costs the user one line and exit status 2, not a 20-second synth followed by
a stack trace. The states ``--fail-at`` accepts are listed here so that they can be checked
(and shown in ``--help``) before the synth that would reveal them; a test compares the list
with the synthesized definition (``tests/offline/run/test_usage.py``), so it cannot drift.
An ``--assembly`` may come from another version of the app: its own definition decides.
"""

from __future__ import annotations

import argparse

from pipeline.environments import environment
from stacks.config import ConfigError

#: Fewer rows leave the validation split (15 %) with too few frauds (about 2 %) to evaluate a model.
MIN_ROWS = 1000

#: Task states of the normal path, as the synthesized definition lists them: the retraining state
#: machine, the drift and batch state machines, then the deployment state machine.
NORMAL_PATH_STATES = (
    "Initiate",
    "BuildTrainingImage",
    "BuildInferenceImage",
    "Train",
    "FindChampion",
    "DescribeChampion",
    "Evaluate",
    "Gate",
    "Register",
    "NotifyRegistered",
    "PrepareDrift",
    "NotifyDrift",
    "DriftJob",
    "DecideDrift",
    "PrepareBatch",
    "FindBatchVersion",
    "DescribeBatchVersion",
    "CreateBatchModel",
    "Transform",
    "SummarizeBatch",
    "NotifyBatch",
    "DeleteBatchModelAfterFailure",
    "DeleteBatchModel",
    "ResolveVersion",
    "CreateModel",
    "NotifySkipped",
    "CreateEndpointConfig",
    "FindEndpoint",
    "DescribeExistingEndpoint",
    "CreateEndpoint",
    "DescribeLiveConfig",
    "DeleteFailedEndpoint",
    "FindScaling",
    "CheckEndpoint",
    "UpdateEndpoint",
    "DeregisterScaling",
    "ExplainRollback",
    "RegisterScaling",
    "NotifyRolledBack",
    "PutScalingPolicy",
    "CleanUpOldVersions",
    "NotifyDeployed",
)
#: Task states that only run after another failure; naming one also fails the first Task.
ERROR_PATH_STATES = ("NotifyFailure", "NotifyFailureFallback")
INJECTABLE_STATES = NORMAL_PATH_STATES + ERROR_PATH_STATES


def usage_error(options: argparse.Namespace) -> str | None:
    """The first problem with the options, as one line naming the option; None when they are fine."""
    if options.rows < MIN_ROWS:
        return (
            f"--rows {options.rows}: at least {MIN_ROWS} rows are needed, or the validation split has too few "
            "frauds to evaluate the model"
        )
    if options.runs < 1:
        return f"--runs {options.runs}: at least one run"
    scenario = getattr(options, "scenario", None)
    if scenario and (options.fail_at or options.runs != 1):
        return f"--scenario {scenario} plays its own runs; leave out --runs and --fail-at"
    if options.max_wait < 0:
        return f"--max-wait {options.max_wait:g}: a wait cannot be negative (0 does not sleep at all)"
    if options.assembly is None:
        try:
            environment(options.env)
        except ConfigError as error:
            return str(error)
        if options.fail_at is not None and options.fail_at not in INJECTABLE_STATES:
            return f"--fail-at {options.fail_at!r} is not a Task state of the pipeline; choose one of: " + ", ".join(
                INJECTABLE_STATES
            )
    elif not (options.assembly / "manifest.json").is_file():
        return f"--assembly {options.assembly} is not a cloud assembly (it has no manifest.json)"
    return None
