"""Whole numbers read from the environment (``inference.env_values``)."""

from __future__ import annotations

import pytest

from inference.env_values import whole_number


@pytest.mark.parametrize(("raw", "expected"), [("", None), ("  ", None), (" 7 ", 7), ("1", 1), ("10", 10)])
def test_a_blank_variable_is_unset_and_a_number_is_read(raw: str, expected: int | None) -> None:
    assert whole_number({"N": raw}, "N", 1, 10) == expected
    assert whole_number({}, "N", 1, 10) is None


@pytest.mark.parametrize(
    ("raw", "high", "message"),
    [
        ("2.5", None, r"^N must be a whole number, got '2.5'$"),
        ("x" * 100, None, r"^N must be a whole number, got 'x{40}'$"),
        ("0", None, r"^N must be >= 1, got 0$"),
        ("11", 10, r"^N must be from 1 to 10, got 11$"),
        # SageMaker's MaxPayloadInMB 0 means streamed bodies of any size: the message says why it is refused.
        ("0", 10, r"^N must be from 1 to 10, got 0 \(0 means unbounded, streamed bodies"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable_and_its_bounds(raw: str, high: int | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        whole_number({"N": raw}, "N", 1, high)
