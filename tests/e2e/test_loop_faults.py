"""A fault in any Task of the drift and batch state machines fails that run with a notification naming it.

One local AWS serves every case: a first run deploys version 1 and a few requests are captured;
then each case fails one state (``FaultPlan.retarget``), starts a drift check or a batch, and
checks the run ended FAILED with a failure notification naming the state and no stack trace.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from offline.run.progress import silent
from offline.run.session import LocalPipeline, feature_row, post_prediction
from tests.e2e.conftest import state_machine_definition, synthesized_app
from tests.e2e.test_offline_run import LOOP_STATES, ROWS, STACK_TRACE_MARKS, expected_names

pytestmark = pytest.mark.slow

DRIFT_STATES = ("PrepareDrift", "DriftJob", "DecideDrift", "NotifyDrift")
BATCH_STATES = (
    "PrepareBatch",
    "FindBatchVersion",
    "DescribeBatchVersion",
    "CreateBatchModel",
    "Transform",
    "SummarizeBatch",
    "NotifyBatch",
    "DeleteBatchModel",
)
#: Met only after another batch state failed (it deletes the batch's model); a failure of it is
#: recorded in ``$.cleanup_error`` and the first failure is still the one notified.
COMPENSATION_STATES = ("DeleteBatchModelAfterFailure",)
_batches = itertools.count(1)


@pytest.fixture(scope="module")
def looped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    workdir = tmp_path_factory.mktemp("loop-faults")
    with LocalPipeline(synthesized_app(), workdir=workdir, log=silent) as pipeline:
        first = pipeline.run(rows=ROWS, seed=5)
        assert first.succeeded
        test_csv = workdir / "datasets" / first.dataset / "test.csv"
        for index in range(5):  # captured requests: the drift job has files to read
            assert post_prediction(pipeline.api.url, feature_row(test_csv, index))[0] == 200
        pipeline.capture.flush()
        yield pipeline


def _drift_check(pipeline: LocalPipeline) -> str:
    machine = pipeline.deployment.machine("drift")
    sfn = pipeline.aws.client("stepfunctions")
    arn: str = sfn.start_execution(stateMachineArn=machine.arn, input='{"trigger": "manual"}')["executionArn"]
    pipeline.progress.follow(arn)
    pipeline.wait_until_done()
    return arn


def _batch(pipeline: LocalPipeline) -> str:
    bucket, _prefix, marker = pipeline.data_location()
    name = f"faults-{next(_batches)}"
    first = len(pipeline.bridge.deliveries)
    s3 = pipeline.aws.client("s3")
    s3.put_object(Bucket=bucket, Key=f"batch/incoming/{name}/rows.csv", Body=b"1,2,3,0,1,100,0,0.01\n" * 20)
    s3.put_object(Bucket=bucket, Key=f"batch/incoming/{name}/{marker}", Body=b"")
    deadline = time.monotonic() + 30
    while len(pipeline.bridge.deliveries) == first and time.monotonic() < deadline:
        time.sleep(0.05)
    pipeline.wait_until_settled(first)
    (delivery,) = pipeline.bridge.deliveries[first:]
    return delivery.execution_arn


@pytest.mark.parametrize("state", DRIFT_STATES + BATCH_STATES)
def test_a_fault_fails_the_drift_or_batch_run_with_a_notification_naming_the_state(
    looped: LocalPipeline, state: str
) -> None:
    definition: dict[str, Any] = state_machine_definition(looped.assembly)
    first_note = len(looped.progress.notifications)
    looped.faults.retarget(state, definition)
    try:
        arn = _drift_check(looped) if state in DRIFT_STATES else _batch(looped)
    finally:
        looped.faults.disarm()
    # Then the run ended FAILED and SNS carried an error naming the state
    assert looped.progress.status(arn) == "FAILED"
    notes = looped.progress.notifications[first_note:]
    failures = [n for n in notes if "FAILED at" in n.subject]
    assert failures, [n.subject for n in notes]
    named = {n.subject.split("FAILED at ", 1)[1].split(":", 1)[0] for n in failures}
    assert named & expected_names(definition, state)
    for note in notes:
        assert not [mark for mark in STACK_TRACE_MARKS if mark in note.message], note.message


def test_the_generic_fault_test_leaves_exactly_these_states_to_this_module() -> None:
    assert frozenset(DRIFT_STATES + BATCH_STATES + COMPENSATION_STATES) == LOOP_STATES
