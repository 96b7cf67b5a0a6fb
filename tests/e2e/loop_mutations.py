"""The drift and batch runs of the IAM mutation test: after a first run deploys, score a batch or check drift.

``batch``: a small file and its marker land under ``batch/incoming/``; the first failure is the
batch execution's failed state, or the trigger that started nothing. ``drift``: shifted requests
(enough rows to drift and start a retraining run) go through the local API and are captured,
then the drift state machine is started as its schedule would start it; the first failure is
its failed state.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from offline.run.session import LocalPipeline, post_prediction
from training import synthetic

if TYPE_CHECKING:
    from tests.e2e.iam_mutations import Outcome

#: Dev judges drift from 200 rows: 10 requests of 30 shifted rows drift and start a retraining run.
DRIFT_REQUESTS = 10
ROWS_PER_REQUEST = 30


def _outcome(where: str | None, message: str) -> Outcome:
    from tests.e2e.iam_mutations import Outcome

    return Outcome(where, message)


def _failed(pipeline: LocalPipeline, execution_arn: str) -> Outcome:
    from tests.e2e.iam_mutations import _execution_error, _failed_state

    failed = _failed_state(pipeline, execution_arn)
    if failed is not None:
        return failed
    status = pipeline.progress.status(execution_arn)
    if status != "SUCCEEDED":
        return _outcome("execution", f"{status} without a failed state: {_execution_error(pipeline, execution_arn)}")
    return _outcome(None, "")


def batch(pipeline: LocalPipeline) -> Outcome:
    bucket, _prefix, marker = pipeline.data_location()
    first = len(pipeline.bridge.deliveries)
    s3 = pipeline.aws.client("s3")
    features, _labels = synthetic.generate(50, 1)
    body = io.StringIO()
    np.savetxt(body, features, delimiter=",", fmt="%.10g")
    s3.put_object(Bucket=bucket, Key="batch/incoming/mutation/rows.csv", Body=body.getvalue().encode())
    s3.put_object(Bucket=bucket, Key=f"batch/incoming/mutation/{marker}", Body=b"")
    deadline = time.monotonic() + 10
    while len(pipeline.bridge.deliveries) == first and not pipeline.bridge.failures and time.monotonic() < deadline:
        time.sleep(0.05)
    if len(pipeline.bridge.deliveries) == first:
        return _outcome("batch trigger", "; ".join(failure.reason for failure in pipeline.bridge.failures))
    pipeline.wait_until_settled(first)
    return _failed(pipeline, pipeline.bridge.deliveries[first].execution_arn)


def drift(pipeline: LocalPipeline) -> Outcome:
    features, _labels = synthetic.generate(DRIFT_REQUESTS * ROWS_PER_REQUEST, 2, drift=2.0)
    body = io.StringIO()
    np.savetxt(body, features, delimiter=",", fmt="%.10g")
    lines = body.getvalue().splitlines()
    for start in range(0, len(lines), ROWS_PER_REQUEST):
        status, answer = post_prediction(pipeline.api.url, "\n".join(lines[start : start + ROWS_PER_REQUEST]))
        if status != 200:
            return _outcome("predict", f"{status} {answer}")
    pipeline.capture.flush()
    machine = pipeline.deployment.machine("drift")
    sfn = pipeline.aws.client("stepfunctions")
    arn: str = sfn.start_execution(stateMachineArn=machine.arn, input='{"trigger": "schedule"}')["executionArn"]
    pipeline.progress.follow(arn)
    pipeline.wait_until_done()
    return _failed(pipeline, arn)


LOOP_SCENARIOS: dict[str, Callable[[LocalPipeline], Outcome]] = {"batch": batch, "drift": drift}
