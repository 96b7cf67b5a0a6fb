"""The shared feature schema: one parser, the same answer for every payload form."""

import json
from collections.abc import Sequence

import pytest

from training.feature_schema import (
    FEATURE_NAMES,
    MAX_PAYLOAD_BYTES,
    N_FEATURES,
    PayloadError,
    parse_payload,
    rows_to_csv,
)

GOOD_ROW = [125.5, 14, 3.2, 0, 2, 400, 1, 0.02]


def _csv(row: Sequence[object]) -> bytes:
    return (",".join(str(v) for v in row) + "\n").encode()


def test_csv_and_both_json_forms_parse_to_the_same_rows() -> None:
    # Given one row in each accepted form
    as_lists = json.dumps({"instances": [GOOD_ROW]}).encode()
    as_objects = json.dumps({"instances": [dict(zip(FEATURE_NAMES, GOOD_ROW, strict=True))]}).encode()
    # When each is parsed
    parsed = [
        parse_payload(_csv(GOOD_ROW), "text/csv"),
        parse_payload(as_lists, "application/json"),
        parse_payload(as_objects, "application/json; charset=utf-8"),
    ]
    # Then they agree exactly
    assert parsed[0] == parsed[1] == parsed[2] == [[float(v) for v in GOOD_ROW]]


def test_csv_round_trips_through_rows_to_csv() -> None:
    rows = [[float(v) for v in GOOD_ROW]] * 3
    assert parse_payload(rows_to_csv(rows).encode(), "text/csv") == rows


@pytest.mark.parametrize(
    ("body", "content_type", "status", "fragment"),
    [
        (b"1.0\n", "text/csv", 400, f"expected {N_FEATURES} features"),
        (_csv(["abc", *GOOD_ROW[1:]]), "text/csv", 400, "feature 'amount' must be a number"),
        (_csv([*GOOD_ROW[:1], 24, *GOOD_ROW[2:]]), "text/csv", 400, "'hour_of_day' is out of range"),
        (_csv([*GOOD_ROW[:3], 0.5, *GOOD_ROW[4:]]), "text/csv", 400, "'state_mismatch' must be a whole number"),
        (_csv(["nan", *GOOD_ROW[1:]]), "text/csv", 400, "finite"),
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b'{"rows": []}', "application/json", 400, '"instances"'),
        (json.dumps({"instances": [{"bogus": 1}]}).encode(), "application/json", 400, "unknown feature(s) bogus"),
        (json.dumps({"instances": [{"amount": 1}]}).encode(), "application/json", 400, "missing feature(s)"),
        (json.dumps({"instances": [[True] * N_FEATURES]}).encode(), "application/json", 400, "must be a number"),
        (b"", "text/csv", 400, "empty"),
        (b"   \n", "text/csv", 400, "empty"),
        (_csv(GOOD_ROW), "application/x-npy", 415, "unsupported content type"),
        (_csv(GOOD_ROW), None, 415, "unsupported content type 'none'"),
        (b"x" * (MAX_PAYLOAD_BYTES + 1), "text/csv", 413, "6 MB"),
    ],
)
def test_bad_payloads_name_what_to_fix(body: bytes, content_type: str | None, status: int, fragment: str) -> None:
    # When a bad body is parsed
    with pytest.raises(PayloadError) as caught:
        parse_payload(body, content_type)
    # Then the status and message say what the caller must fix
    assert caught.value.status == status
    assert fragment in caught.value.message
