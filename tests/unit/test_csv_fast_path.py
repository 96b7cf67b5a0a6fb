"""The CSV parser's fast paths (plain text split directly, plain rows accepted at once) answer as full checks do."""

import csv
import io
import random

import pytest

from training import feature_schema
from training.feature_schema import FEATURES, MAX_ROWS_PER_REQUEST, PayloadError, parse_csv, validate_row

GOOD = ["125.5", "14", "3.2", "0", "2", "400", "1", "0.02"]
#: Values that each take a closer look: missing, not numbers, out of range, not whole, odd spellings.
ODD = ["", " ", "nan", "NaN", "inf", "-inf", "1e3", "-1", "0.5", "1_0", " 7 ", "abc", "0x10", "1e400", "9" * 40, "+3"]


def reference(text: str) -> list[list[float]]:
    """The parser before its fast paths: the csv module reads every body, and every row is validated."""
    rows: list[list[float]] = []
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue
            if len(rows) == MAX_ROWS_PER_REQUEST:
                raise feature_schema._too_many_rows()
            if not rows and feature_schema._is_header(fields):
                raise feature_schema._header_line(fields, reader.line_num)
            rows.append(validate_row(fields, reader.line_num))
    except csv.Error as err:
        raise PayloadError(400, f"line {reader.line_num}: the CSV is malformed: {err}") from None
    if not rows:
        raise PayloadError(400, "the CSV body holds no rows")
    return rows


def outcome(parse: object, text: str) -> tuple[str, object]:
    try:
        return "rows", parse(text)  # type: ignore[operator]
    except PayloadError as err:
        return f"{err.status}", err.message


def texts(seed: int, count: int) -> list[str]:
    """Bodies of 1-4 lines mixing good rows, odd values, wrong field counts, blank lines and header lines."""
    chooser = random.Random(seed)
    bodies = []
    for _ in range(count):
        lines = []
        for _ in range(chooser.randint(1, 4)):
            fields = list(GOOD)
            for _ in range(chooser.choice((0, 0, 1, 2))):
                fields[chooser.randrange(len(fields))] = chooser.choice(ODD)
            kind = chooser.random()
            if kind < 0.05:
                fields = fields[:-1]
            elif kind < 0.1:
                fields = [*fields, "1"]
            elif kind < 0.15:
                fields = [feature.name for feature in FEATURES]
            elif kind < 0.2:
                fields = [""] * chooser.randint(1, 8)
            lines.append(",".join(fields))
        bodies.append("\n".join(lines) + chooser.choice(("", "\n", "\n\n")))
    return bodies


@pytest.mark.parametrize("seed", range(4))
def test_the_fast_path_gives_the_same_rows_and_the_same_errors(seed: int) -> None:
    for text in texts(seed, 500):
        expected = outcome(reference, text)
        assert outcome(parse_csv, text) == expected, text
        assert outcome(feature_schema._parse_quoted_csv, text) == expected, text


def test_the_fast_path_keeps_the_row_limit() -> None:
    text = (",".join(GOOD) + "\n") * (feature_schema.MAX_ROWS_PER_REQUEST + 1)
    with pytest.raises(PayloadError) as refused:
        parse_csv(text)
    assert refused.value.status == 413


def test_quoted_fields_and_crlf_still_go_through_the_csv_module() -> None:
    quoted = ",".join(f'"{value}"' for value in GOOD) + "\r\n"
    assert parse_csv(quoted) == parse_csv(",".join(GOOD))
