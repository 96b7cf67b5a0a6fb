"""``batch_scoring``: a batch run is named from its marker, and its transform output is counted line by line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws

from lambdas.batch_scoring import app, summary
from lambdas.batch_scoring.models import BatchSettings, PrepareEvent, SummaryEvent
from lambdas.batch_scoring.prepare import (
    COMPLETION_MARKER,
    MAX_NAME_LENGTH,
    BatchInputError,
    BatchNameError,
    prepare,
)
from lambdas.batch_scoring.summary import BatchOutputError, summarize
from lambdas.initiate_pipeline.datasets import COMPLETION_MARKER as TRAINING_MARKER
from tests.unit.lambdas.conftest import ACCOUNT, REGION, FakeLambdaContext

BUCKET = "fraud-data-dev"
SETTINGS = BatchSettings(environment="dev", data_bucket=BUCKET, name_prefix="fraud-dev-")
EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:Batch:4f1c2e"
HEADER = "amount,hour,merchant_risk"
ANSWER_HEADER = "probability,label,error"


def _prepare_event(key: str, bucket: str = BUCKET) -> PrepareEvent:
    return PrepareEvent.model_validate(
        {
            "event": {"bucket": bucket, "object_key": key},
            "execution": {
                "id": EXECUTION,
                "name": "4f1c2e",
                "start_time": "2026-11-24T12:00:05.123Z",
                "state_machine_arn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:Batch",
            },
        }
    )


# -- prepare ---------------------------------------------------------------------------------------


def test_the_marker_names_the_batch_its_locations_and_this_runs_model_and_job() -> None:
    # Given the completion marker of batch 2026-11-24
    # When the run is prepared
    run = prepare(_prepare_event("batch/incoming/2026-11-24/_SUCCESS"), SETTINGS)
    # Then input and output are the batch's folders, and model and job share a name unique to the run
    assert run.dataset == "2026-11-24"
    assert run.data.prefix == "batch/incoming/2026-11-24/"
    assert run.input_uri == f"s3://{BUCKET}/batch/incoming/2026-11-24/"
    assert run.output_uri == f"s3://{BUCKET}/batch/output/2026-11-24/"
    assert run.names.model == run.names.transform_job == run.run_id
    assert run.run_id.startswith("fraud-dev-batch-2026-11-24-20261124120005-")
    assert len(run.run_id) == len("fraud-dev-batch-2026-11-24-20261124120005-") + 4


def test_two_executions_started_in_the_same_second_get_different_names() -> None:
    first = prepare(_prepare_event("batch/incoming/b1/_SUCCESS"), SETTINGS)
    other = _prepare_event("batch/incoming/b1/_SUCCESS")
    other.execution.id = EXECUTION + "-duplicate-event"
    assert prepare(other, SETTINGS).run_id != first.run_id


def test_a_long_batch_name_is_shortened_in_the_names_but_kept_in_the_paths() -> None:
    name = "q4-" + "x" * 80
    run = prepare(_prepare_event(f"batch/incoming/{name}/_SUCCESS"), SETTINGS)
    assert len(run.names.transform_job) == MAX_NAME_LENGTH
    assert run.input_uri.endswith(f"/{name}/")


@pytest.mark.parametrize("name", ["my_batch", "batch.v2", "-leading", "trailing-", "two/levels", "with space"])
def test_a_name_sagemaker_cannot_use_fails_naming_it(name: str) -> None:
    # Given a batch whose folder name SageMaker job names cannot hold
    with pytest.raises(BatchNameError) as raised:
        prepare(_prepare_event(f"batch/incoming/{name}/_SUCCESS"), SETTINGS)
    # Then the error names the batch and the rule
    assert repr(name) in str(raised.value)
    assert "letters, digits and hyphens" in str(raised.value)


def test_a_url_encoded_key_is_decoded_before_it_is_checked() -> None:
    # S3 events carry keys URL-encoded: a space arrives as "+"
    with pytest.raises(BatchNameError, match="'with space'"):
        prepare(_prepare_event("batch/incoming/with+space/_SUCCESS"), SETTINGS)


@pytest.mark.parametrize(
    ("bucket", "key"),
    [("someone-elses-bucket", "batch/incoming/b1/_SUCCESS"), (BUCKET, "incoming/b1/_SUCCESS")],
)
def test_a_marker_outside_this_environments_batches_is_refused(bucket: str, key: str) -> None:
    with pytest.raises(BatchInputError, match=key):
        prepare(_prepare_event(key, bucket=bucket), SETTINGS)


def test_batches_use_the_same_completion_marker_as_training_data() -> None:
    assert COMPLETION_MARKER == TRAINING_MARKER


def test_the_prepare_handler_returns_the_run_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"ENVIRONMENT": "dev", "DATA_BUCKET": BUCKET, "NAME_PREFIX": "fraud-dev-"}.items():
        monkeypatch.setenv(name, value)
    result = app.prepare_handler(
        _prepare_event("batch/incoming/b1/_SUCCESS").model_dump(mode="json"), FakeLambdaContext()
    )
    assert result["names"]["transform_job"].startswith("fraud-dev-batch-b1-")
    assert result["data"] == {"bucket": BUCKET, "prefix": "batch/incoming/b1/"}


# -- summary ---------------------------------------------------------------------------------------


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=BUCKET)
        yield client


def _summary_event(name: str = "b1") -> SummaryEvent:
    run = prepare(_prepare_event(f"batch/incoming/{name}/_SUCCESS"), SETTINGS)
    return SummaryEvent.model_validate(
        {
            "run": run.model_dump(mode="json"),
            "version": {
                "arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/fraud-dev-models/3",
                "version": "3",
            },
            "transform": {"job_name": run.names.transform_job, "status": "Completed"},
        }
    )


def _put(s3: Any, key: str, lines: list[str]) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=("\n".join(lines) + "\n").encode() if lines else b"")


def _upload_scored(s3: Any, name: str, file: str, rows: list[tuple[str, str]]) -> None:
    """An input file and the output a transform with JoinSource Input writes for it."""
    _put(s3, f"batch/incoming/{name}/{file}", [row for row, _ in rows])
    _put(s3, f"batch/output/{name}/{file}.out", [f"{row},{answer}" for row, answer in rows])


def test_rows_bad_rows_and_flags_are_counted_and_bad_rows_listed_by_file_line(s3: Any) -> None:
    # Given a batch of two files, one with a header, with two rows the model could not score
    _upload_scored(
        s3,
        "b1",
        "a.csv",
        [
            (HEADER, ANSWER_HEADER),
            ("12.5,3,0.1", "0.01234567,0,"),
            ("9000,2,0.9", "0.98765432,1,"),
            ("oops,3,0.2", ",,line 3: amount is not a number"),
        ],
    )
    _upload_scored(s3, "b1", "b.csv", [("1.0,4,0.3", "0.20000000,0,"), ("2.0,,0.3", ",,line 2: hour is missing")])
    _put(s3, f"batch/incoming/b1/{COMPLETION_MARKER}", [])
    # When the output is summarized
    result = summarize(_summary_event(), s3)
    # Then the header is not a row, and every row is counted once
    assert (result.rows, result.scored, result.bad_rows, result.flagged) == (5, 3, 2, 1)
    # And each bad row is named by its input file and its line in that file, the reason without the request's line
    assert [(b.file, b.line, b.reason) for b in result.bad_samples] == [
        ("a.csv", 4, "amount is not a number"),
        ("b.csv", 2, "hour is missing"),
    ]
    assert [(f.file, f.rows, f.bad_rows, f.header) for f in result.files] == [
        ("a.csv", 3, 1, True),
        ("b.csv", 2, 1, False),
    ]
    assert result.output == f"s3://{BUCKET}/batch/output/b1/"
    assert (result.version, result.transform_job) == ("3", _summary_event().transform.job_name)


def test_only_the_first_bad_rows_are_listed_but_all_are_counted(s3: Any) -> None:
    rows = [(f"x{i},1,0.1", f",,line {i + 1}: amount is not a number") for i in range(25)]
    _upload_scored(s3, "b1", "a.csv", rows)
    result = summarize(_summary_event(), s3)
    assert result.bad_rows == 25
    assert [b.line for b in result.bad_samples] == list(range(1, summary.MAX_BAD_SAMPLES + 1))


def test_lines_split_across_read_chunks_are_counted_once(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given reads much smaller than a line, so every line straddles chunks
    monkeypatch.setattr(summary, "CHUNK_BYTES", 7)
    rows = [(f"{i}.5,{i % 24},0.{i % 10}", f"0.{i:08d},{i % 2},") for i in range(300)]
    _upload_scored(s3, "b1", "a.csv", rows)
    result = summarize(_summary_event(), s3)
    assert (result.rows, result.bad_rows, result.flagged) == (300, 0, 150)


def test_an_output_line_without_the_answer_columns_is_a_bad_row(s3: Any) -> None:
    _put(s3, "batch/incoming/b1/a.csv", ["1,2,3", "4,5,6"])
    _put(s3, "batch/output/b1/a.csv.out", ["1,2,3,0.1,0,", "garbage"])
    result = summarize(_summary_event(), s3)
    assert result.bad_rows == 1
    assert result.bad_samples[0].line == 2
    assert "probability,label,error" in result.bad_samples[0].reason


def test_an_input_without_output_fails_naming_it(s3: Any) -> None:
    _upload_scored(s3, "b1", "a.csv", [("1,2,3", "0.1,0,")])
    _put(s3, "batch/incoming/b1/late.csv", ["4,5,6"])
    with pytest.raises(BatchOutputError, match=r"input s3://fraud-data-dev/batch/incoming/b1/late\.csv"):
        summarize(_summary_event(), s3)


def test_a_batch_of_only_its_marker_fails_saying_it_holds_no_data(s3: Any) -> None:
    _put(s3, f"batch/incoming/b1/{COMPLETION_MARKER}", [])
    with pytest.raises(BatchOutputError, match="holds no data"):
        summarize(_summary_event(), s3)


def test_the_summary_handler_returns_the_summary_as_json(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"ENVIRONMENT": "dev", "DATA_BUCKET": BUCKET, "NAME_PREFIX": "fraud-dev-"}.items():
        monkeypatch.setenv(name, value)
    _upload_scored(s3, "b1", "a.csv", [("1,2,3", "0.9,1,")])
    result = app.summary_handler(_summary_event().model_dump(mode="json"), FakeLambdaContext())
    assert result["rows"] == 1
    assert result["flagged"] == 1
    assert result["files"][0]["output_key"] == "batch/output/b1/a.csv.out"


def test_the_start_time_is_read_in_utc() -> None:
    event = _prepare_event("batch/incoming/b1/_SUCCESS")
    assert event.execution.start_time == datetime(2026, 11, 24, 12, 0, 5, 123000, tzinfo=UTC)
