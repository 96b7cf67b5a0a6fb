"""Resolve CloudFormation intrinsic functions against locally created resources.

Offline mode deploys the synthesized templates itself instead of handing them to moto's
CloudFormation: a CDK app brings custom resources (bucket notifications, log retention),
KMS key policies, cdk-nag metadata and bootstrap parameters that moto's CloudFormation
either rejects or half-creates. A small resolver plus a provisioner that creates only the
resource types the pipeline needs is more predictable, and it fails loudly (naming the
intrinsic) when the app starts using something new.

The resolver is deliberately independent of moto: it asks a ``Lookup`` for the physical
value of a ``Ref``/``GetAtt`` and for exports, so it can be unit tested with plain dicts.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

#: ``Fn::Sub`` placeholders: ``${Name}``, ``${Logical.Attr}``; ``${!Literal}`` escapes.
_SUB_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


class IntrinsicError(ValueError):
    """A template value offline mode cannot resolve; the message names the intrinsic."""


#: Marker for ``Ref: AWS::NoValue``: the enclosing key or list item is dropped.
NO_VALUE = object()


class Lookup(Protocol):
    """Where the resolver gets physical values from (the provisioner, or a test's dicts)."""

    def ref(self, logical_id: str) -> Any: ...

    def get_att(self, logical_id: str, attribute: str) -> Any: ...

    def import_value(self, export_name: str) -> Any: ...


@dataclass(frozen=True)
class Pseudo:
    """The pseudo-parameters of one stack."""

    account: str
    region: str
    stack_name: str
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"

    def value(self, name: str) -> Any:
        values: dict[str, Any] = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:{self.partition}:cloudformation:{self.region}:{self.account}:stack/"
            f"{self.stack_name}/00000000-0000-0000-0000-000000000000",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }
        if name not in values:
            raise IntrinsicError(f"unknown pseudo-parameter {name}")
        return values[name]


@dataclass
class Resolver:
    """Resolves one stack's template values; ``resolve`` is the entry point."""

    pseudo: Pseudo
    lookup: Lookup
    parameters: Mapping[str, Any] = field(default_factory=dict)
    mappings: Mapping[str, Any] = field(default_factory=dict)
    conditions: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        """Return ``value`` with every intrinsic replaced by its resolved value."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            function = self._functions().get(key)
            if function is not None:
                return function(argument)
            if key.startswith("Fn::"):
                raise IntrinsicError(f"offline mode does not support {key}: {json.dumps(value)[:200]}")
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def condition(self, name: str) -> bool:
        """Evaluate a named condition of the template's ``Conditions`` section."""
        if name not in self.conditions:
            raise IntrinsicError(f"unknown condition {name}")
        return bool(self._condition_value(self.conditions[name]))

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Join": self._join,
            "Fn::Sub": self._sub,
            "Fn::ImportValue": lambda arg: self.lookup.import_value(str(self.resolve(arg))),
            "Fn::Select": self._select,
            "Fn::Split": self._split,
            "Fn::FindInMap": self._find_in_map,
            "Fn::If": self._if,
            "Fn::Base64": lambda arg: base64.b64encode(str(self.resolve(arg)).encode()).decode(),
            "Fn::GetAZs": lambda arg: [f"{self.resolve(arg) or self.pseudo.region}{z}" for z in "abc"],
            "Fn::Equals": lambda arg: self._condition_value({"Fn::Equals": arg}),
            "Fn::Not": lambda arg: self._condition_value({"Fn::Not": arg}),
            "Fn::And": lambda arg: self._condition_value({"Fn::And": arg}),
            "Fn::Or": lambda arg: self._condition_value({"Fn::Or": arg}),
            "Condition": lambda name: self.condition(name),
        }

    def _ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise IntrinsicError(f"Ref takes a name, got {name!r}")
        if name.startswith("AWS::"):
            return self.pseudo.value(name)
        if name in self.parameters:
            return self.parameters[name]
        return self.lookup.ref(name)

    def _get_att(self, argument: Any) -> Any:
        if isinstance(argument, str):
            logical_id, _, attribute = argument.partition(".")
        else:
            logical_id, attribute = argument[0], self.resolve(argument[1])
        return self.lookup.get_att(logical_id, str(attribute))

    def _join(self, argument: Any) -> str:
        delimiter, items = argument
        values = self.resolve(items)
        if not isinstance(values, list):
            raise IntrinsicError(f"Fn::Join needs a list, got {values!r}")
        return str(delimiter).join(_as_text(item) for item in values)

    def _sub(self, argument: Any) -> str:
        if isinstance(argument, str):
            template, variables = argument, {}
        else:
            template, variables = argument[0], self.resolve(argument[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return _as_text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, _, attribute = name.partition(".")
                return _as_text(self.lookup.get_att(logical_id, attribute))
            return _as_text(self._ref(name))

        return _SUB_PLACEHOLDER.sub(replace, template)

    def _select(self, argument: Any) -> Any:
        index, items = argument
        values = self.resolve(items)
        position = int(self.resolve(index))
        if not isinstance(values, list) or not 0 <= position < len(values):
            raise IntrinsicError(f"Fn::Select index {position} is out of range for {values!r}")
        return values[position]

    def _split(self, argument: Any) -> list[str]:
        delimiter, text = argument
        return str(self.resolve(text)).split(delimiter)

    def _find_in_map(self, argument: Any) -> Any:
        map_name, top, second = (self.resolve(part) for part in argument[:3])
        try:
            return self.mappings[map_name][top][second]
        except KeyError:
            raise IntrinsicError(f"Fn::FindInMap: no {map_name}/{top}/{second} in Mappings") from None

    def _if(self, argument: Any) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _condition_value(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            (key, argument), *_ = value.items()
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in argument)
                return left == right
            if key == "Fn::Not":
                return not self._condition_value(argument[0])
            if key == "Fn::And":
                return all(self._condition_value(item) for item in argument)
            if key == "Fn::Or":
                return any(self._condition_value(item) for item in argument)
            if key == "Condition":
                return self.condition(argument)
        return self.resolve(value)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)
