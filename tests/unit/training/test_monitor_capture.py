"""Reading capture files: CSV and JSON bodies, many rows per request, rows paired with predictions."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path

import numpy as np

from tests.unit.training.drift_support import capture_record, write_capture
from training.drift.capture import read_capture
from training.feature_schema import FEATURE_NAMES

ROW = [120.5, 13, 4.2, 0, 2, 800, 1, 0.02]
LINE = ",".join(str(v) for v in ROW)


def _utc(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def test_a_csv_request_of_several_rows_pairs_each_row_with_its_prediction(tmp_path: Path) -> None:
    # Given one request of three CSV rows answered with three predictions
    body = "\n".join([LINE, LINE.replace("120.5", "60"), LINE.replace("120.5", "30")])
    write_capture(tmp_path, [capture_record(body, [0.1, 0.2, 0.3], event_id="e1")])
    # When the capture is read
    rows = read_capture(tmp_path)
    # Then there are three rows, in order, each with its own probability and key
    assert (rows.rows, rows.requests) == (3, 1)
    assert rows.values[:, 0].tolist() == [120.5, 60.0, 30.0]
    assert rows.probability.tolist() == [0.1, 0.2, 0.3]
    assert rows.keys == [("e1:0",), ("e1:1",), ("e1:2",)]
    assert rows.model_versions == ["train-job-1"] * 3


def test_a_single_row_request_is_keyed_by_its_event_id_and_inference_id(tmp_path: Path) -> None:
    write_capture(tmp_path, [capture_record(LINE, [0.4], event_id="e9", inference_id="txn-42")])
    rows = read_capture(tmp_path)
    assert rows.keys == [("e9:0", "txn-42:0", "e9", "txn-42")]


def test_json_instances_as_lists_and_as_named_objects(tmp_path: Path) -> None:
    # Given a JSON request of one list and one object (its names in another order)
    named = dict(zip(reversed(FEATURE_NAMES), reversed(ROW), strict=True))
    body = json.dumps({"instances": [ROW, named]})
    write_capture(tmp_path, [capture_record(body, [0.5, 0.6], content_type="application/json", encoding="JSON")])
    # Then both rows are read in schema order
    rows = read_capture(tmp_path)
    assert rows.values.tolist() == [[float(v) for v in ROW]] * 2
    assert not rows.missing.any()
    assert not rows.invalid.any()


def test_a_base64_body_is_read_by_its_content_type(tmp_path: Path) -> None:
    encoded = base64.b64encode(LINE.encode()).decode()
    write_capture(tmp_path, [capture_record(encoded, [0.7], content_type="text/csv; charset=utf-8", encoding="BASE64")])
    rows = read_capture(tmp_path)
    assert rows.values[0].tolist() == [float(v) for v in ROW]


def test_missing_and_invalid_cells_are_told_apart(tmp_path: Path) -> None:
    # Given rows with an empty cell, a word, an amount out of range, a fractional hour, and a short row
    cells = [str(v) for v in ROW]
    rows_text = [
        ",".join(["", *cells[1:]]),  # amount missing
        ",".join(["abc", *cells[1:]]),  # amount invalid: not a number
        ",".join(["-5", *cells[1:]]),  # amount invalid: below the schema's 0
        ",".join([cells[0], "13.5", *cells[2:]]),  # hour invalid: not a whole number
        "1,2,3",  # wrong width: every cell invalid
    ]
    json_body = json.dumps({"instances": [{**dict(zip(FEATURE_NAMES, ROW, strict=True)), "amount": None}]})
    write_capture(
        tmp_path,
        [
            capture_record("\n".join(rows_text), [0.1] * 5),
            capture_record(json_body, [0.1], content_type="application/json", encoding="JSON"),
        ],
    )
    # When read
    rows = read_capture(tmp_path)
    # Then each cell is classified, and classified cells hold no value
    assert rows.missing[:, 0].tolist() == [True, False, False, False, False, True]
    assert rows.invalid[:, 0].tolist() == [False, True, True, False, True, False]
    assert rows.invalid[:, 1].tolist() == [False, False, False, True, True, False]
    assert rows.invalid[4].all()
    assert np.isnan(rows.values[rows.missing | rows.invalid]).all()
    assert np.isfinite(rows.values[~(rows.missing | rows.invalid)]).all()


def test_only_records_inside_the_window_are_read(tmp_path: Path) -> None:
    # Given records before, at the start of, inside and at the end of a window
    times = ["2026-11-23T23:59:59Z", "2026-11-24T00:00:00Z", "2026-11-24T12:00:00Z", "2026-11-25T00:00:00Z"]
    write_capture(tmp_path, [capture_record(LINE, [0.1], at=t) for t in times])
    # When the window is [24 Nov, 25 Nov)
    rows = read_capture(tmp_path, _utc("2026-11-24T00:00:00+00:00"), _utc("2026-11-25T00:00:00+00:00"))
    # Then the start is in, the end is out
    assert rows.rows == 2
    assert rows.skipped["outside_window"] == 2


def test_unreadable_lines_are_counted_and_the_rest_is_read(tmp_path: Path) -> None:
    path = write_capture(tmp_path, [capture_record(LINE, [0.1])])
    with path.open("a") as handle:
        handle.write("{not json\n")
        handle.write(json.dumps({"captureData": {}, "eventMetadata": {"inferenceTime": "yesterday"}}) + "\n")
        handle.write(json.dumps(capture_record("x", [0.1], content_type="image/png", encoding="CSV")) + "\n")
    rows = read_capture(tmp_path)
    assert rows.rows == 1
    assert rows.skipped["unreadable"] == 3


def test_an_output_that_does_not_match_the_rows_leaves_them_unpaired(tmp_path: Path) -> None:
    # Given a request of two rows answered with one prediction, and a request without its output
    write_capture(tmp_path, [capture_record(f"{LINE}\n{LINE}", [0.3]), capture_record(LINE, None)])
    rows = read_capture(tmp_path)
    # Then the rows are kept for the feature statistics, without a probability
    assert rows.rows == 3
    assert np.isnan(rows.probability).all()
    assert rows.skipped["unpaired_output"] == 1


def test_files_at_any_depth_are_read_and_a_missing_folder_is_empty(tmp_path: Path) -> None:
    write_capture(tmp_path / "a", [capture_record(LINE, [0.1])], hour="2026/11/24/10")
    write_capture(tmp_path / "b" / "deeper", [capture_record(LINE, [0.2])], hour="2026/11/24/11")
    assert read_capture(tmp_path).rows == 2
    assert read_capture(tmp_path / "absent").rows == 0
