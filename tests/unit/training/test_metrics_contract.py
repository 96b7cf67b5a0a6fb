"""The printed metric lines and SageMaker's metric regexes come from one place."""

import re

import pytest

from training.metrics_contract import METRIC_DEFINITIONS, METRIC_NAMES, format_metric_line


@pytest.mark.parametrize("definition", METRIC_DEFINITIONS, ids=lambda d: d["Name"])
@pytest.mark.parametrize("value", [0.0, 0.912345, 1.0, 1e-9, 123.5])
def test_each_regex_captures_the_value_of_its_printed_line(definition: dict[str, str], value: float) -> None:
    # Given the line train.py prints for this metric, inside other log output
    line = f"2026-01-01 INFO {format_metric_line(definition['Name'], value)} trailing"
    # When SageMaker applies the definition's regex
    match = re.search(definition["Regex"], line)
    # Then it captures the value (to the printed precision)
    assert match is not None
    assert float(match.group(1)) == pytest.approx(value, abs=1e-6)


def test_a_regex_does_not_capture_another_metrics_line() -> None:
    # Given the roc_auc line
    line = format_metric_line("validation:roc_auc", 0.9)
    # Then only the roc_auc definition matches it
    matching = [d["Name"] for d in METRIC_DEFINITIONS if re.search(d["Regex"], line)]
    assert matching == ["validation:roc_auc"]


def test_definitions_have_the_shape_sagemaker_expects() -> None:
    assert [d["Name"] for d in METRIC_DEFINITIONS] == list(METRIC_NAMES)
    assert all(set(d) == {"Name", "Regex"} for d in METRIC_DEFINITIONS)
    assert {"validation:roc_auc", "validation:pr_auc", "validation:precision", "validation:recall"} <= set(METRIC_NAMES)


def test_unknown_or_non_finite_metrics_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown metric"):
        format_metric_line("validation:accuracy", 0.5)
    with pytest.raises(ValueError, match="finite"):
        format_metric_line("validation:f1", float("nan"))
