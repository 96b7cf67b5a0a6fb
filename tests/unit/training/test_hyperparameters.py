"""Hyperparameters arrive as strings; they are parsed, range-checked and defaulted."""

import pytest

from training.hyperparameters import (
    DEFAULT_HYPERPARAMETERS,
    HyperparameterError,
    parse_hyperparameters,
)


def test_defaults_are_strings_that_parse() -> None:
    # Given the published defaults (the CDK app seeds SSM from them)
    # Then each is a string, as SageMaker passes it
    assert all(isinstance(v, str) for v in DEFAULT_HYPERPARAMETERS.values())
    # When they are parsed
    hps = parse_hyperparameters(DEFAULT_HYPERPARAMETERS)
    # Then they round-trip to the same strings
    assert parse_hyperparameters(hps.as_strings()) == hps


def test_nothing_given_means_all_defaults() -> None:
    assert parse_hyperparameters({}) == parse_hyperparameters(DEFAULT_HYPERPARAMETERS)
    assert parse_hyperparameters(None) == parse_hyperparameters(DEFAULT_HYPERPARAMETERS)


def test_string_values_become_typed_values() -> None:
    # When SageMaker-style strings are parsed
    hps = parse_hyperparameters(
        {
            "learning_rate": "0.05",
            "max_iter": "300",
            "max_depth": "none",
            "early_stopping": "True",
            "class_weight": "balanced",
            "threshold": "0.3",
            "random_state": "7",
        }
    )
    # Then each has its Python type
    assert hps.learning_rate == 0.05
    assert hps.max_iter == 300
    assert hps.max_depth is None
    assert hps.early_stopping is True
    assert hps.class_weight == "balanced"
    assert hps.threshold == 0.3
    assert hps.random_state == 7


def test_decoded_json_values_from_sm_hps_are_accepted() -> None:
    # Given SM_HPS-style decoded JSON values rather than strings
    hps = parse_hyperparameters({"max_iter": 50, "learning_rate": 0.2, "early_stopping": False})
    # Then they parse the same as their string forms
    assert (hps.max_iter, hps.learning_rate, hps.early_stopping) == (50, 0.2, False)


def test_threshold_auto_means_choose_on_validation() -> None:
    assert parse_hyperparameters({"threshold": "auto"}).threshold is None


def test_sagemaker_reserved_names_are_ignored() -> None:
    # Given names SageMaker itself may add
    hps = parse_hyperparameters({"sagemaker_program": "x", "_tuning_objective_metric": "validation:f1"})
    # Then they are not rejected
    assert hps == parse_hyperparameters({})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("learning_rate", "abc", "hyperparameter 'learning_rate' must be a number in (0, 1], got 'abc'"),
        ("learning_rate", "0", "hyperparameter 'learning_rate' must be a number in (0, 1], got '0'"),
        ("learning_rate", "nan", "'learning_rate' must be a number in (0, 1]"),
        ("max_iter", "2.5", "hyperparameter 'max_iter' must be a whole number in [1, 10000], got '2.5'"),
        ("max_iter", "0", "'max_iter' must be a whole number in [1, 10000]"),
        ("max_leaf_nodes", "1", "'max_leaf_nodes' must be a whole number in [2, 4096]"),
        ("max_depth", "deep", "'max_depth' must be a whole number in [1, 64] or 'none'"),
        ("min_samples_leaf", "-1", "'min_samples_leaf' must be a whole number"),
        ("l2_regularization", "-0.1", "'l2_regularization' must be a number in [0, 1000000]"),
        ("max_bins", "256", "'max_bins' must be a whole number in [2, 255]"),
        ("early_stopping", "maybe", "'early_stopping' must be true or false"),
        ("class_weight", "heavy", "'class_weight' must be 'none' or 'balanced'"),
        ("threshold", "1", "'threshold' must be 'auto' or a number in (0, 1)"),
        ("threshold", "x", "'threshold' must be 'auto' or a number in (0, 1)"),
        ("random_state", "-3", "'random_state' must be a whole number"),
    ],
)
def test_invalid_value_names_the_hyperparameter_and_the_rule(name: str, value: str, message: str) -> None:
    # When an invalid value is parsed
    with pytest.raises(HyperparameterError) as caught:
        parse_hyperparameters({name: value})
    # Then the message names it, the allowed range and the value given
    assert message in str(caught.value)


def test_unknown_hyperparameter_is_rejected_with_the_allowed_names() -> None:
    with pytest.raises(HyperparameterError) as caught:
        parse_hyperparameters({"learning_rte": "0.1"})
    assert "unknown hyperparameter(s) 'learning_rte'" in str(caught.value)
    assert "learning_rate" in str(caught.value)


def test_long_bad_values_are_shortened_in_the_message() -> None:
    with pytest.raises(HyperparameterError) as caught:
        parse_hyperparameters({"max_iter": "9" * 500})
    assert len(str(caught.value)) < 150
