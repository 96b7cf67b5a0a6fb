"""The ``Condition`` block of an IAM policy statement, decided as AWS decides it.

Offline mode must refuse exactly the calls AWS refuses, so every rule here comes from the IAM
User Guide rather than from intuition:

* "IAM JSON policy elements: Condition operators" (reference_policies_elements_condition_operators):
  the String, Numeric, Date, Bool, BinaryEquals, IpAddress and ARN families; a key missing from
  the request context makes a condition false, except for negated operators (true), ``...IfExists``
  (true) and ``Null`` (which tests presence); ``ArnEquals`` behaves exactly like ``ArnLike``, each
  of the six colon-delimited ARN parts compared separately; an IP without a prefix means ``/32``;
  dates are W3C ISO 8601 or epoch seconds.
* "Condition with multiple context keys or values" (reference_policies_condition-logic-multiple-
  context-keys-or-values): operators and keys AND together; several policy values for one key OR
  together, except for negated operators, where the request value must match none of them.
* "Single-valued vs. multivalued context keys" (reference_policies_condition-single-vs-multi-valued-
  context-keys): ``ForAllValues`` holds when every request value matches (and when the key is
  missing or empty); ``ForAnyValue`` when at least one does (never when missing or empty).

Where the guide is silent we say what we chose: a list-valued context key used without a set
operator is treated as ``ForAnyValue``; a set operator decides a missing key on its own, even with
``IfExists`` (AWS re:Post reports ``ForAnyValue:StringEqualsIfExists`` failing on a missing key).
Anything we do not implement raises :class:`UnsupportedConditionError` instead of guessing:
unknown operators, policy variables (``${...}``), ``Null`` with ``IfExists`` or a set operator,
and policy values that are not valid for their operator.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import operator
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar

ContextValue = str | bool | int | float | list[str]
"""A request-context value; a list is a multivalued key (``aws:TagKeys``)."""

Compare = Callable[[str, str], bool]
"""A positive match of one policy value against one request value."""

_T = TypeVar("_T")
_MISSING = object()
_EPOCH = re.compile(r"-?\d+(?:\.\d+)?")
_YEAR_MONTH = re.compile(r"\d{4}-\d{2}")


class UnsupportedConditionError(ValueError):
    """A condition this evaluator cannot decide faithfully: refusing beats guessing allow or deny."""


def conditions_hold(block: Mapping[str, Mapping[str, Any]], context: Mapping[str, ContextValue]) -> bool:
    """Return whether every operator of a statement's ``Condition`` block holds for ``context``.

    Context keys are matched case-insensitively, as AWS matches condition keys.
    """
    if not isinstance(block, Mapping):
        raise UnsupportedConditionError(f"a Condition block must be an object, got {block!r}")
    lowered = {key.lower(): value for key, value in context.items()}
    return all(_operator_holds(name, keys, lowered) for name, keys in block.items())


def wildcard_matches(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """Return whether ``text`` matches ``pattern`` whole, ``*`` matching any run and ``?`` one character."""
    return _wildcard_regex(pattern, ignore_case).fullmatch(text) is not None


@lru_cache(maxsize=2048)
def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


class _Operator(NamedTuple):
    name: str
    compare: Compare | None  # None for Null, which tests presence rather than values
    negated: bool
    if_exists: bool
    qualifier: str | None  # "ForAllValues", "ForAnyValue" or None


def _operator_holds(name: str, keys: Mapping[str, Any], context: Mapping[str, ContextValue]) -> bool:
    op = _parse_operator(name)
    if not isinstance(keys, Mapping):
        raise UnsupportedConditionError(f"{name} must map condition keys to values, got {keys!r}")
    return all(_key_holds(op, expected, context.get(key.lower(), _MISSING)) for key, expected in keys.items())


def _key_holds(op: _Operator, raw_expected: Any, actual: object) -> bool:
    expected = _policy_values(op, raw_expected)
    values = _context_values(actual)
    if op.compare is None:
        return _null_holds(op, expected, present=bool(values))
    if not values:
        if op.qualifier is not None:
            return op.qualifier == "ForAllValues"
        return op.if_exists or op.negated
    if op.qualifier == "ForAllValues":
        return all(_value_holds(op, expected, value) for value in values)
    return any(_value_holds(op, expected, value) for value in values)


def _value_holds(op: _Operator, expected: list[str], value: str) -> bool:
    assert op.compare is not None
    matched = any(op.compare(policy_value, value) for policy_value in expected)
    return not matched if op.negated else matched


def _null_holds(op: _Operator, expected: list[str], *, present: bool) -> bool:
    """``Null: true`` asks for the key to be absent, ``Null: false`` for it to be present."""
    for value in expected:
        if value.lower() not in ("true", "false"):
            raise UnsupportedConditionError(f"{op.name} takes true or false, got {value!r}")
    return any((value.lower() == "true") != present for value in expected)


@lru_cache(maxsize=256)
def _parse_operator(name: str) -> _Operator:
    base, qualifier = name, None
    for prefix in ("ForAllValues:", "ForAnyValue:"):
        if base.startswith(prefix):
            base, qualifier = base[len(prefix) :], prefix[:-1]
    if_exists = base.endswith("IfExists")
    if if_exists:
        base = base[: -len("IfExists")]
    if base == "Null":
        if if_exists or qualifier:
            raise UnsupportedConditionError(f"condition operator {name!r} is not valid")
        return _Operator(name, None, False, False, None)
    if base not in _OPERATORS:
        raise UnsupportedConditionError(f"condition operator {name!r} is not supported offline")
    compare, negated = _OPERATORS[base]
    return _Operator(name, compare, negated, if_exists, qualifier)


def _text(value: object) -> str:
    """A scalar as the string AWS compares; JSON booleans read as ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _policy_values(op: _Operator, raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    values = []
    for item in items:
        if not isinstance(item, str | bool | int | float):
            raise UnsupportedConditionError(f"{op.name} value {item!r} is not a string, number or boolean")
        text = _text(item)
        if "${" in text:
            raise UnsupportedConditionError(f"policy variables are not supported offline: {text!r} in {op.name}")
        values.append(text)
    return values


def _context_values(actual: object) -> list[str]:
    """The request values of a key; empty when the key is missing, null or an empty set."""
    if actual is _MISSING or actual is None:
        return []
    if isinstance(actual, list | tuple):
        return [_text(item) for item in actual]
    return [_text(actual)]


def _expected(parse: Callable[[str], _T | None], text: str, kind: str) -> _T:
    """Parse a policy value; AWS rejects such a policy when it is written, so we refuse it too."""
    parsed = parse(text)
    if parsed is None:
        raise UnsupportedConditionError(f"policy value {text!r} is not a valid {kind}")
    return parsed


def _decimal(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _datetime(text: str) -> datetime | None:
    if _EPOCH.fullmatch(text):
        return datetime.fromtimestamp(float(text), tz=UTC)
    if _YEAR_MONTH.fullmatch(text):
        text += "-01"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _ordered(parse: Callable[[str], Any], kind: str, test: Callable[[Any, Any], bool]) -> Compare:
    """A comparison where the request value goes on the left: ``NumericLessThan`` means request < policy."""

    def compare(policy_value: str, value: str) -> bool:
        limit = _expected(parse, policy_value, kind)
        actual = parse(value)
        return actual is not None and bool(test(actual, limit))

    return compare


def _string_equals(policy_value: str, value: str) -> bool:
    return policy_value == value


def _string_equals_ignore_case(policy_value: str, value: str) -> bool:
    return policy_value.lower() == value.lower()


def _binary_equals(policy_value: str, value: str) -> bool:
    return _binary(value) == _expected(_binary, policy_value, "base-64 value")


def _in_network(policy_value: str, value: str) -> bool:
    try:
        network = ipaddress.ip_network(policy_value, strict=False)
    except ValueError as exc:
        raise UnsupportedConditionError(f"policy value {policy_value!r} is not an IP address or CIDR") from exc
    try:
        return ipaddress.ip_address(value) in network
    except ValueError:
        return False


def _arn_like(policy_value: str, value: str) -> bool:
    pattern = policy_value.split(":", 5)
    if len(pattern) != 6:
        raise UnsupportedConditionError(f"policy value {policy_value!r} is not an ARN (six colon-delimited parts)")
    actual = value.split(":", 5)
    return len(actual) == 6 and all(wildcard_matches(p, a) for p, a in zip(pattern, actual, strict=True))


def _family(compare: Compare, positive: str, negative: str | None = None) -> dict[str, tuple[Compare, bool]]:
    operators = {positive: (compare, False)}
    if negative:
        operators[negative] = (compare, True)
    return operators


def _comparisons(prefix: str, parse: Callable[[str], Any], kind: str) -> dict[str, tuple[Compare, bool]]:
    return {
        **_family(_ordered(parse, kind, operator.eq), f"{prefix}Equals", f"{prefix}NotEquals"),
        **_family(_ordered(parse, kind, operator.lt), f"{prefix}LessThan"),
        **_family(_ordered(parse, kind, operator.le), f"{prefix}LessThanEquals"),
        **_family(_ordered(parse, kind, operator.gt), f"{prefix}GreaterThan"),
        **_family(_ordered(parse, kind, operator.ge), f"{prefix}GreaterThanEquals"),
    }


_OPERATORS: dict[str, tuple[Compare, bool]] = {
    **_family(_string_equals, "StringEquals", "StringNotEquals"),
    **_family(_string_equals_ignore_case, "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"),
    **_family(wildcard_matches, "StringLike", "StringNotLike"),
    **_comparisons("Numeric", _decimal, "number"),
    **_comparisons("Date", _datetime, "ISO 8601 date or epoch time"),
    **_family(_string_equals_ignore_case, "Bool"),
    **_family(_binary_equals, "BinaryEquals"),
    **_family(_in_network, "IpAddress", "NotIpAddress"),
    **_family(_arn_like, "ArnLike", "ArnNotLike"),
    **_family(_arn_like, "ArnEquals", "ArnNotEquals"),
}
