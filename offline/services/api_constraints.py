"""An API request member checked against its shape's constraints, with AWS's own wording.

AWS services validate each request against the API model before the operation runs (required
members, numeric ranges, lengths, enums, patterns) and answer one ``ValidationException`` listing
every violation: ``1 validation error detected: Value '5000' at
'deploymentConfig.blueGreenUpdatePolicy.terminationWaitInSeconds' failed to satisfy constraint:
Member must have value less than or equal to 3600``; list members are addressed as
``alarms.1.member.alarmName``. SDK clients check part of this themselves, but Step Functions'
aws-sdk integrations send requests unchecked, so the local AWS has to. The constraints come from
botocore's copy of the service model, the same definition the service publishes (e.g. SageMaker API
Reference, "TrafficRoutingConfig": WaitIntervalInSeconds "Minimum value of 0. Maximum value of 3600").
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import botocore.session  # type: ignore[import-untyped, unused-ignore]


@cache
def input_member(service: str, operation: str, member: str) -> Any:
    """The botocore shape of ``member`` in ``operation``'s input."""
    model = botocore.session.get_session().get_service_model(service)
    return model.operation_model(operation).input_shape.members[member]


def constraint_errors(shape: Any, value: Any, path: str) -> list[str]:
    """Every constraint ``value`` breaks, as AWS words them; ``path`` is the member's lowerCamel path."""
    if value is None:
        return []
    kind = shape.type_name
    if kind == "structure":
        return _structure_errors(shape, value, path)
    if kind == "list":
        return _list_errors(shape, value, path)
    if kind in ("integer", "long"):
        return _number_errors(shape, value, path)
    if kind == "string":
        return _string_errors(shape, value, path)
    if kind == "boolean" and not isinstance(value, bool):
        return [_violation(value, path, "Member must be a boolean")]
    return []


def validation_message(errors: list[str]) -> str:
    """The ValidationException message for ``errors`` (at least one)."""
    count = len(errors)
    return f"{count} validation error{'s' if count > 1 else ''} detected: {'; '.join(errors)}"


def _structure_errors(shape: Any, value: Any, path: str) -> list[str]:
    if not isinstance(value, dict):
        return [_violation(value, path, "Member must be a structure")]
    errors: list[str] = []
    for name, member in shape.members.items():
        member_path = f"{path}.{_lower_camel(name)}"
        if value.get(name) is None:
            if name in shape.required_members:
                errors.append(f"Value null at '{member_path}' failed to satisfy constraint: Member must not be null")
            continue
        errors += constraint_errors(member, value[name], member_path)
    return errors


def _list_errors(shape: Any, value: Any, path: str) -> list[str]:
    if not isinstance(value, list):
        return [_violation(value, path, "Member must be a list")]
    errors = _length_errors(shape, value, path)
    for index, item in enumerate(value, start=1):
        errors += constraint_errors(shape.member, item, f"{path}.{index}.member")
    return errors


def _number_errors(shape: Any, value: Any, path: str) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int):
        return [_violation(value, path, "Member must be an integer")]
    errors = []
    if "min" in shape.metadata and value < shape.metadata["min"]:
        errors.append(
            _violation(value, path, f"Member must have value greater than or equal to {shape.metadata['min']}")
        )
    if "max" in shape.metadata and value > shape.metadata["max"]:
        errors.append(_violation(value, path, f"Member must have value less than or equal to {shape.metadata['max']}"))
    return errors


def _string_errors(shape: Any, value: Any, path: str) -> list[str]:
    if not isinstance(value, str):
        return [_violation(value, path, "Member must be a string")]
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        return [_violation(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")]
    errors = _length_errors(shape, value, path)
    pattern = shape.metadata.get("pattern")
    if pattern and re.fullmatch(pattern, value) is None:
        errors.append(_violation(value, path, f"Member must satisfy regular expression pattern: {pattern}"))
    return errors


def _length_errors(shape: Any, value: Any, path: str) -> list[str]:
    errors = []
    if "min" in shape.metadata and len(value) < shape.metadata["min"]:
        errors.append(
            _violation(value, path, f"Member must have length greater than or equal to {shape.metadata['min']}")
        )
    if "max" in shape.metadata and len(value) > shape.metadata["max"]:
        errors.append(_violation(value, path, f"Member must have length less than or equal to {shape.metadata['max']}"))
    return errors


def _violation(value: Any, path: str, constraint: str) -> str:
    return f"Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"


def _lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]
