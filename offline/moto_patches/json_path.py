"""Patch to moto's JSONPath: a definite path answers its one value, as AWS Step Functions does.

moto's ``extract_json`` wraps the value in a list when the match's parent is an array element
(a fix for filter queries, moto issue 7825), so ``$.Containers[0].ModelDataUrl`` answers
``["s3://..."]``. AWS answers the string: a path of names and literal indexes only selects
one node (Step Functions Developer Guide, "Paths": "Reference Paths", which may only
identify a single node). For such a definite path the match's value is returned as it is;
every other path (wildcards, slices, filters) keeps moto's behaviour.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from jsonpath_ng.ext import parse

from offline.moto_patches._registry import original, patch

#: Every moto module that holds ``extract_json`` by name.
MODULES = (
    "moto.stepfunctions.parser.asl.utils.json_path",
    "moto.stepfunctions.parser.asl.component.common.string.string_expression",
    "moto.stepfunctions.parser.asl.component.intrinsic.argument.argument",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.timestamp_operators",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.boolean_equals",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.numeric",
    "moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.string_operators",
    "moto.stepfunctions.parser.asl.eval.states",
)
#: Names and literal indexes only: ``$.a.b[0].c``, ``$$.Execution.Id``, ``$[1]``.
_DEFINITE = re.compile(r"^\$\$?((\.[^.\[\]*?:(),@'\"]+)|(\[\d+\]))*$")


def install() -> None:
    for name in MODULES:
        patch(importlib.import_module(name), "extract_json", extract_json)


def extract_json(path: str, data: Any) -> Any:
    shipped = original(importlib.import_module(MODULES[0]), "extract_json")
    value = shipped(path, data)
    if isinstance(value, list) and len(value) == 1 and _DEFINITE.match(path):
        matches = parse(path).find(data)
        if len(matches) == 1:
            return matches[0].value
    return value
