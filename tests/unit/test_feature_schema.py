"""The shared feature schema: one parser, the same answer for every payload form."""

import json
import math
from collections.abc import Sequence

import pytest

from training.feature_schema import (
    FEATURE_NAMES,
    MAX_PAYLOAD_BYTES,
    MAX_ROWS_PER_REQUEST,
    N_FEATURES,
    NULLABLE_FEATURES,
    REQUIRED_FEATURES,
    PayloadError,
    parse_payload,
    read_payload,
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


@pytest.mark.parametrize(
    ("body", "content_type", "status", "fragment"),
    [
        (b"1.0\n", "text/csv", 400, f"expected {N_FEATURES} features"),
        (_csv(["abc", *GOOD_ROW[1:]]), "text/csv", 400, "feature 'amount' must be a number"),
        (_csv([*GOOD_ROW[:1], 24, *GOOD_ROW[2:]]), "text/csv", 400, "'hour_of_day' is out of range"),
        (_csv([*GOOD_ROW[:3], 0.5, *GOOD_ROW[4:]]), "text/csv", 400, "'state_mismatch' must be a whole number"),
        (_csv(["nan", *GOOD_ROW[1:]]), "text/csv", 400, "feature amount is missing and may not be"),
        (_csv(["inf", *GOOD_ROW[1:]]), "text/csv", 400, "finite"),
        (_csv([*GOOD_ROW[:2], "inf", *GOOD_ROW[3:]]), "text/csv", 400, "finite"),
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


# --- what spreadsheets and hostile clients send ----------------------------------------------------


def test_a_utf8_bom_is_accepted_before_csv_and_json() -> None:
    # Given bodies that start with the byte order mark Excel and Notepad write
    bom = b"\xef\xbb\xbf"
    as_json = bom + json.dumps({"instances": [GOOD_ROW]}).encode()
    # When they are parsed
    rows = [parse_payload(bom + _csv(GOOD_ROW), "text/csv"), parse_payload(as_json, "application/json")]
    # Then the BOM is not part of the first value
    assert rows == [[[float(v) for v in GOOD_ROW]]] * 2


def test_quoted_csv_fields_and_crlf_lines_are_accepted() -> None:
    # Given the CSV a spreadsheet exports: every field quoted, CRLF line ends
    row = ",".join(f'"{v}"' for v in GOOD_ROW)
    body = f"{row}\r\n{row}\r\n".encode()
    # When it is parsed
    rows = parse_payload(body, "text/csv")
    # Then both rows are read as numbers
    assert rows == [[float(v) for v in GOOD_ROW]] * 2


@pytest.mark.parametrize(
    "header",
    [
        ",".join(FEATURE_NAMES),
        ",".join(f'"{n}"' for n in FEATURE_NAMES),
        "Amount,Hour,Distance,State,Tx,Age,Online,Risk",
    ],
    ids=["schema-names", "quoted-names", "other-names"],
)
def test_a_header_row_is_refused_with_a_hint_that_headers_are_not_sent(header: str) -> None:
    # Given a CSV export with its header line
    body = (header + "\n").encode() + _csv(GOOD_ROW)
    # When it is parsed
    with pytest.raises(PayloadError) as caught:
        parse_payload(body, "text/csv")
    # Then the caller is told to drop the header, and the column order is named
    assert caught.value.status == 400
    assert "header" in caught.value.message
    assert "without a header" in caught.value.message
    assert ", ".join(FEATURE_NAMES) in caught.value.message


def test_json_nested_thousands_deep_is_a_400() -> None:
    # Given a JSON body nested 5,000 levels deep
    body = b'{"instances": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    # When it is parsed
    with pytest.raises(PayloadError) as caught:
        parse_payload(body, "application/json")
    # Then it is refused as too deep, with the expected shape named
    assert caught.value.status == 400
    assert "nested too deeply" in caught.value.message
    assert '{"instances"' in caught.value.message


def test_a_feature_that_is_a_nested_list_is_a_400_naming_its_type() -> None:
    # Given a row whose first value is a list nested 900 levels deep (parseable, but not a number)
    nested = "[" * 900 + "]" * 900
    body = f'{{"instances": [[{nested}, 14, 3.2, 0, 2, 400, 1, 0.02]]}}'.encode()
    # When it is parsed
    with pytest.raises(PayloadError) as caught:
        parse_payload(body, "application/json")
    # Then the value's kind is named, not its (huge) text
    assert caught.value.status == 400
    assert caught.value.message == "row 1: feature 'amount' must be a number, got a JSON array"


@pytest.mark.parametrize("digits", [400, 5_000], ids=["overflows-float", "over-python-int-limit"])
def test_a_json_integer_with_thousands_of_digits_is_a_400(digits: int) -> None:
    # Given an integer far longer than any feature value
    body = b'{"instances": [[' + b"9" * digits + b", 14, 3.2, 0, 2, 400, 1, 0.02]]}"
    # When it is parsed
    with pytest.raises(PayloadError) as caught:
        parse_payload(body, "application/json")
    # Then the caller learns the number is too long
    assert caught.value.status == 400
    assert f"{digits} digits" in caught.value.message


def test_a_csv_value_with_thousands_of_digits_is_a_400_naming_its_length() -> None:
    # Given a CSV value 5,000 digits long
    body = _csv(["9" * 5_000, *GOOD_ROW[1:]])
    # When it is parsed
    with pytest.raises(PayloadError) as caught:
        parse_payload(body, "text/csv")
    # Then the message names the row, the feature and the length instead of echoing it
    assert caught.value.status == 400
    assert caught.value.message.startswith("row 1: feature 'amount' is 5000 characters long")


@pytest.mark.parametrize(
    "body",
    [b"\x89PNG\r\n\x1a\n\x00\x00", "125.5,14,3.2,\ufffd,2,400,1,0.02\n".encode()],
    ids=["binary", "replacement-character"],
)
def test_a_body_that_is_not_utf8_text_is_a_400(body: bytes) -> None:
    # Given binary bytes, or text where a gateway replaced bytes that were not UTF-8 with U+FFFD
    # When it is parsed
    with pytest.raises(PayloadError) as caught:
        parse_payload(body, "text/csv")
    # Then the caller is told to send UTF-8
    assert caught.value.status == 400
    assert "not valid UTF-8" in caught.value.message


def test_a_charset_other_than_utf8_is_a_415() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_payload(_csv(GOOD_ROW), "text/csv; charset=windows-1252")
    assert caught.value.status == 415
    assert "charset 'windows-1252'" in caught.value.message


def test_more_rows_than_a_request_may_hold_is_a_413_pointing_to_batch_scoring() -> None:
    # Given one row more than a request may hold, in each form
    rows = MAX_ROWS_PER_REQUEST + 1
    bodies = [
        (b"0,0,0,0,0,0,0,0\n" * rows, "text/csv"),
        (json.dumps({"instances": [[0] * 8] * rows}).encode(), "application/json"),
    ]
    for body, content_type in bodies:
        # When it is parsed
        with pytest.raises(PayloadError) as caught:
            parse_payload(body, content_type)
        # Then it is refused as too large, naming the limit and where to go instead
        assert caught.value.status == 413
        assert f"at most {MAX_ROWS_PER_REQUEST:,} rows" in caught.value.message
        assert "batch transform" in caught.value.message


def test_the_caller_bytes_are_kept_for_forwarding() -> None:
    # Given a body written the way the caller likes: spaces, integers, exponents
    body = b'{"instances": [[1e2, 14, 3.2, 0, 2, 400, 1, 0.02]]}'
    # When it is read
    payload = read_payload(body, "application/json; charset=utf-8")
    # Then the bytes to forward are the caller's own, under the bare media type
    assert payload.body == body
    assert payload.media_type == "application/json"
    assert payload.rows == [[100.0, 14.0, 3.2, 0.0, 2.0, 400.0, 1.0, 0.02]]


def test_only_the_bom_is_removed_from_the_forwarded_bytes() -> None:
    payload = read_payload(b"\xef\xbb\xbf" + _csv(GOOD_ROW), "text/csv")
    assert payload.body == _csv(GOOD_ROW)


def test_the_longest_answer_a_request_can_get_fits_every_response_limit() -> None:
    # Given the longest prediction the server can render (a 17-digit probability in exponent form)
    longest = '{"probability":1.2345678901234567e-100,"label":0},'
    envelope = '{"predictions":[],"model_version":"' + "v" * 256 + '"}'
    answer = envelope + longest * MAX_ROWS_PER_REQUEST
    # When it travels back through the Lambda proxy (a JSON string inside the proxy response)
    through_lambda = json.dumps({"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": answer})
    # Then it fits SageMaker's 6 MB response limit and Lambda's 6 MB response payload
    assert len(answer.encode()) <= MAX_PAYLOAD_BYTES
    assert len(through_lambda.encode()) <= MAX_PAYLOAD_BYTES


def test_missing_values_of_nullable_features_reach_the_model_as_nan() -> None:
    # Given a row with an empty cell, a NaN cell, and the same row as JSON with null and NaN
    values: list[object] = list(GOOD_ROW)
    values[2], values[7] = "", "NaN"
    as_json = [None if v in ("", "NaN") else v for v in values]
    # When each form is parsed
    parsed = [
        parse_payload(_csv(values), "text/csv"),
        parse_payload(json.dumps({"instances": [as_json]}).encode(), "application/json"),
        parse_payload(b'{"instances": [[125.5, 14, NaN, 0, 2, 400, 1, null]]}', "application/json"),
        parse_payload(
            json.dumps({"instances": [dict(zip(FEATURE_NAMES, as_json, strict=True))]}).encode(), "application/json"
        ),
    ]
    # Then the missing features are NaN and the others keep their values
    for rows in parsed:
        assert len(rows) == 1
        assert math.isnan(rows[0][2])
        assert math.isnan(rows[0][7])
        assert [v for i, v in enumerate(rows[0]) if i not in (2, 7)] == [
            float(v) for i, v in enumerate(GOOD_ROW) if i not in (2, 7)
        ]


def test_every_nullable_feature_may_be_missing_and_every_required_one_is_named() -> None:
    # Given a row with every value missing except the required ones
    row = ["" if name in NULLABLE_FEATURES else GOOD_ROW[i] for i, name in enumerate(FEATURE_NAMES)]
    # Then it parses, with NaN exactly where the schema allows it
    parsed = parse_payload(_csv(row), "text/csv")[0]
    assert [math.isnan(v) for v in parsed] == [name in NULLABLE_FEATURES for name in FEATURE_NAMES]
    # And a row missing two required features is refused naming both, and what may be missing
    bad = ["" if name in ("amount", "is_online") else GOOD_ROW[i] for i, name in enumerate(FEATURE_NAMES)]
    with pytest.raises(PayloadError) as caught:
        parse_payload(b"1,2,3,0,1,2,0,0.1\n" + _csv(bad), "text/csv")
    assert caught.value.status == 400
    assert caught.value.message.startswith("row 2: features amount, is_online are missing and may not be")
    assert all(name in caught.value.message for name in NULLABLE_FEATURES)
    assert set(REQUIRED_FEATURES) == {"amount", "hour_of_day", "is_online"}
