"""Offline JSONPath answers as AWS Step Functions does (offline/moto_patches/json_path.py)."""

from __future__ import annotations

from typing import Any

import pytest

from offline.moto_patches import install
from offline.moto_patches.json_path import extract_json

DATA: dict[str, Any] = {
    "InferenceSpecification": {"Containers": [{"ModelDataUrl": "s3://b/model.tar.gz", "Tags": ["x"]}]},
    "arns": ["arn:1", "arn:2"],
    "one": ["only"],
    "items": [{"Name": "a", "Value": 1}, {"Name": "b", "Value": 2}],
}


@pytest.fixture(autouse=True)
def _patched() -> None:
    install()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # A field of an array element is the field's value, not a list of it (moto answered a list)
        ("$.InferenceSpecification.Containers[0].ModelDataUrl", "s3://b/model.tar.gz"),
        # A field that is itself a one-element list stays that list
        ("$.InferenceSpecification.Containers[0].Tags", ["x"]),
        ("$.one", ["only"]),
        # A literal index at the end is the element
        ("$.arns[0]", "arn:1"),
        # Wildcards and filters still answer lists
        ("$.arns[*]", ["arn:1", "arn:2"]),
        ("$.items[?(@.Name == 'b')].Value", [2]),
    ],
)
def test_paths_answer_what_aws_answers(path: str, expected: Any) -> None:
    assert extract_json(path, DATA) == expected
