"""EventBridge semantics offline mode needs: pattern matching and input transformation.

moto stores rules but never delivers an event to a Step Functions target, so offline mode
bridges that itself. Both halves follow the EventBridge documentation for the subset of
pattern syntax CDK emits (exact values, ``prefix``, ``suffix``, ``anything-but``,
``exists``, ``numeric``, ``equals-ignore-case``, ``wildcard``) and for ``InputTransformer``
(``InputPathsMap`` of JSONPath-like ``$.a.b`` paths, ``<name>`` placeholders in
``InputTemplate``; a placeholder inside quotes is replaced by the raw text, outside quotes by
its JSON).
"""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

_MISSING = object()
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_RESERVED_PATHS = {
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event.ingestion-time",
    "aws.events.event",
    "aws.events.event.json",
}


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """Return whether ``event`` matches the EventBridge ``pattern``."""
    for key, expected in pattern.items():
        if key == "$or":
            if not any(matches(option, event) for option in expected):
                return False
            continue
        actual = event.get(key, _MISSING) if isinstance(event, dict) else _MISSING
        if isinstance(expected, dict):
            if actual is _MISSING or not isinstance(actual, dict):
                return False
            if not matches(expected, actual):
                return False
        elif isinstance(expected, list):
            if not _matches_any(expected, actual):
                return False
        else:
            raise ValueError(f"an event pattern value must be a list or an object, got {expected!r} at {key!r}")
    return True


def _matches_any(conditions: list[Any], actual: Any) -> bool:
    values = actual if isinstance(actual, list) else [actual]
    return any(_matches_condition(condition, value) for condition in conditions for value in values)


def _matches_condition(condition: Any, value: Any) -> bool:
    if not isinstance(condition, dict):
        return value is not _MISSING and condition == value
    (operator, operand), *_ = condition.items()
    if operator == "exists":
        return (value is not _MISSING) == bool(operand)
    if value is _MISSING:
        return operator == "anything-but"
    if operator == "prefix":
        return _text_test(operand, value, str.startswith)
    if operator == "suffix":
        return _text_test(operand, value, str.endswith)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(operand).lower()
    if operator == "wildcard":
        return isinstance(value, str) and fnmatch.fnmatchcase(value, str(operand))
    if operator == "anything-but":
        return not _anything_but_hits(operand, value)
    if operator == "numeric":
        return _numeric(operand, value)
    raise ValueError(f"unsupported event pattern operator {operator!r}")


def _text_test(operand: Any, value: Any, test: Any) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(operand, dict) and "equals-ignore-case" in operand:
        return bool(test(value.lower(), str(operand["equals-ignore-case"]).lower()))
    return bool(test(value, str(operand)))


def _anything_but_hits(operand: Any, value: Any) -> bool:
    if isinstance(operand, list):
        return value in operand
    if isinstance(operand, dict):
        return _matches_condition(operand, value)
    return bool(value == operand)


def _numeric(operand: list[Any], value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    checks = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "=": lambda a, b: a == b,
    }
    pairs = zip(operand[0::2], operand[1::2], strict=True)
    return all(checks[op](value, float(bound)) for op, bound in pairs)


def transform_input(target: dict[str, Any], event: dict[str, Any], *, rule_arn: str, rule_name: str) -> str:
    """Build the target's input the way EventBridge does: Input, InputPath, InputTransformer or the event."""
    if target.get("Input") is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        return json.dumps(_path_value(event, str(target["InputPath"])))
    transformer = target.get("InputTransformer")
    if not transformer:
        return json.dumps(event)
    values: dict[str, Any] = {}
    for name, path in (transformer.get("InputPathsMap") or {}).items():
        values[name] = _path_value(event, path)
    values.update(
        {
            "aws.events.rule-arn": rule_arn,
            "aws.events.rule-name": rule_name,
            "aws.events.event.ingestion-time": event.get("time"),
            "aws.events.event": event,
            "aws.events.event.json": event,
        }
    )
    return _fill_template(str(transformer["InputTemplate"]), values)


def _path_value(document: Any, path: str) -> Any:
    if path in ("$", ""):
        return document
    if not path.startswith("$."):
        raise ValueError(f"unsupported input path {path!r}: only $.a.b paths are supported")
    value = document
    for part in path[2:].split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _fill_template(template: str, values: dict[str, Any]) -> str:
    """Replace ``<name>`` placeholders; quoted ones get raw text, bare ones get JSON."""
    out: list[str] = []
    in_string = False
    escaped = False
    position = 0
    while position < len(template):
        char = template[position]
        match = _PLACEHOLDER.match(template, position) if char == "<" else None
        if match and (match.group(1) in values or match.group(1) in _RESERVED_PATHS):
            value = values.get(match.group(1))
            if in_string:
                text = value if isinstance(value, str) else json.dumps(value)
                out.append(json.dumps(text)[1:-1] if text is not None else "")
            else:
                out.append(json.dumps(value))
            position = match.end()
            continue
        if in_string and char == "\\" and not escaped:
            escaped = True
        else:
            if char == '"' and not escaped:
                in_string = not in_string
            escaped = False
        out.append(char)
        position += 1
    return "".join(out)
