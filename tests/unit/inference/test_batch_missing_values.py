"""Batch mode answers rows with missing values as the real-time path does, and names a missing required one."""

import math
from pathlib import Path

import numpy as np

from inference.batch import answer_csv_lines
from inference.model import load_model
from training.feature_schema import parse_payload

GOOD = "125.5,14,3.2,0,2,400,1,0.02"


def test_missing_values_are_scored_in_bulk_as_the_real_time_path_scores_them(model_dir: Path) -> None:
    model = load_model(model_dir)
    # Given 100 lines (a block the bulk parser takes), every other one with empty and nan cells
    holed = "125.5,14,,0,nan,400,1,"
    lines = [holed if i % 2 else GOOD for i in range(100)]
    body = ("\n".join(lines) + "\n").encode()
    # When the mini-batch is answered
    answers = answer_csv_lines(model, body).decode().splitlines()
    # Then every line is scored, with the probability the real-time parser's rows give
    rows = parse_payload(body, "text/csv")
    assert math.isnan(rows[1][2])
    assert math.isnan(rows[1][4])
    assert math.isnan(rows[1][7])
    expected = model.score(np.array(rows))
    assert [float(a.split(",")[0]) for a in answers] == expected.tolist()
    assert all(a.endswith(",") for a in answers)


def test_a_missing_required_value_fails_only_its_line_and_names_the_feature(model_dir: Path) -> None:
    model = load_model(model_dir)
    lines = [GOOD] * 40 + [",14,3.2,0,2,400,,0.02"] + [GOOD] * 40
    answers = answer_csv_lines(model, ("\n".join(lines) + "\n").encode()).decode().splitlines()
    assert len(answers) == 81
    assert answers[40].startswith(",,line 41: features amount; is_online are missing and may not be")
    assert all(not a.startswith(",,") for i, a in enumerate(answers) if i != 40)
