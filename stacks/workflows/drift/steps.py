"""The drift state machine's Lambda steps and its one decision: examine, or say why not.

``PrepareDrift`` answers ``$.run`` (``lambdas.prepare_drift``): the live version, the window, the
job's name and inputs, and an ``outcome``. Anything but ``examine`` goes straight to the
notification with ``prepare_drift``'s notice as ``$.drift`` (too little data is reported as
such, never as "no drift"). After the job, ``DecideDrift`` (``lambdas.drift_decision``) reads
the report and starts a retraining when it should; its document is ``$.drift``.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.task_retries import retry_transient
from stacks.workflows.shared.execution_step import execution_step
from stacks.workflows.shared.failure_route import notify_step

RUN = "$.run"
#: Where the notification reads its document.
DRIFT = "$.drift"


def prepare_step(scope: Construct, prepare: lambda_.IFunction) -> tasks.LambdaInvoke:
    """``PrepareDrift``: invoked with the execution's input and context; its answer is ``$.run``."""
    return execution_step(scope, "PrepareDrift", function=prepare, input_key="input")


def decide_step(scope: Construct, decide: lambda_.IFunction) -> tasks.LambdaInvoke:
    """``DecideDrift``: reads the run's report, starts a rate-limited retraining on drift; answers ``$.drift``."""
    step = tasks.LambdaInvoke(
        scope,
        "DecideDrift",
        lambda_function=decide,
        payload=sfn.TaskInput.from_object({"run": sfn.JsonPath.object_at(RUN)}),
        payload_response_only=True,
        result_path=DRIFT,
        retry_on_service_exceptions=False,
    )
    retry_transient(step, "lambda")
    return step


def notify_drift(scope: Construct, notify: lambda_.IFunction) -> tasks.LambdaInvoke:
    """``NotifyDrift``: the ``drift`` notification of ``$.drift``."""
    step = notify_step(scope, "NotifyDrift", notify=notify, kind="drift")
    retry_transient(step, "lambda")
    return step


def examine_or_report(scope: Construct, *, examine: sfn.IChainable, notify: sfn.IChainable) -> sfn.Choice:
    """``ShouldExamineDrift``: on to the job, or notify ``prepare_drift``'s notice (``DriftNotExamined``)."""
    not_examined = sfn.Pass(scope, "DriftNotExamined", input_path=f"{RUN}.notice", result_path=DRIFT)
    not_examined.next(notify)
    return (
        sfn.Choice(scope, "ShouldExamineDrift")
        .when(sfn.Condition.string_equals(f"{RUN}.outcome", "examine"), examine)
        .otherwise(not_examined)
    )
