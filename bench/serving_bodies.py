"""The request bodies of the serving benchmark: the same rows in the form each server takes."""

from __future__ import annotations

import json
from typing import Final

from training.feature_schema import FEATURE_NAMES

#: MLflow's JSON input formats for a pyfunc model (``dataframe_split`` ... ``inputs``).
MLFLOW_JSON_FORMATS: Final = ("dataframe_split", "dataframe_records", "instances", "inputs")


def body(form: str, lines: list[str]) -> tuple[str, str]:
    """The request body of ``form`` for the CSV ``lines`` (the same rows in every form), and its type."""
    rows = [[float(value) for value in line.split(",")] for line in lines]
    if form == "csv":
        return "\n".join(lines) + "\n", "text/csv"
    if form == "csv+header":  # MLflow's CSV reader takes the first line for the column names
        return ",".join(FEATURE_NAMES) + "\n" + "\n".join(lines) + "\n", "text/csv"
    if form == "instances":
        return json.dumps({"instances": rows}), "application/json"
    if form.startswith("mlflow:"):
        return mlflow_json(form.removeprefix("mlflow:"), rows), "application/json"
    raise ValueError(f"unknown body form {form!r}")


def mlflow_json(form: str, rows: list[list[float]]) -> str:
    """``rows`` in one of MLflow's JSON input formats (``MLFLOW_JSON_FORMATS``)."""
    if form == "dataframe_split":
        return json.dumps({"dataframe_split": {"columns": list(FEATURE_NAMES), "data": rows}})
    if form == "dataframe_records":
        return json.dumps({"dataframe_records": [dict(zip(FEATURE_NAMES, row, strict=True)) for row in rows]})
    if form in ("instances", "inputs"):
        return json.dumps({form: rows})
    raise ValueError(f"unknown MLflow JSON format {form!r}")
