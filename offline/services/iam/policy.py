"""IAM policy evaluation for requests within one AWS account, decided as AWS decides it.

moto stores policies but enforces none of them, so offline mode asks this module whether AWS would
allow a call, and words a refusal as AWS does. The rules come from:

* IAM User Guide, "Policy evaluation logic" and "Policy evaluation for requests within a single
  account" (the Carlos example): an explicit Deny in any applicable policy wins; otherwise one
  Allow in an identity-based *or* a resource-based policy suffices - except that "IAM role trust
  policies and KMS key policies are exceptions to this logic, because they must explicitly allow
  access for principals".
* "AWS JSON policy elements: Principal": naming an account (``arn:aws:iam::111122223333:root`` or
  ``111122223333``) "delegates authority to the account": it allows nobody by itself, an
  identity-based policy in that account must allow too. A role ARN covers the role's sessions.
* "AWS JSON policy elements: NotPrincipal": only with Deny; to be exempt, the caller's account and
  the caller (or, for a role session, its role) must both be listed.
* "IAM JSON policy elements: Action / NotAction / Resource / NotResource": actions match without
  regard to case; resource ARNs match segment by segment, case-sensitively, and a ``*`` ending a
  segment (always so in the last, resource segment) may run past colons.
* AWS KMS Developer Guide, "Key policies" and "Default key policy" ("Allows access to the AWS
  account and enables IAM policies"): an IAM policy grants nothing on a key unless the key policy
  delegates to the account, though an IAM Deny always applies.
* "Troubleshoot access denied error messages": the wording of :attr:`Evaluation.reason`.

Out of scope, as offline mode never meets them: cross-account requests, SCPs and RCPs, permissions
boundaries, session policies, KMS grants and the account root user.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any

from offline.services.iam.conditions import ContextValue, conditions_hold, wildcard_matches

_ACCOUNT_PRINCIPAL = re.compile(r"(\d{12})|arn:[\w-]+:iam::(\d{12}):root")


@dataclass(frozen=True)
class Principal:
    """Who makes the request: an IAM user or role session, or an AWS service acting as itself."""

    arn: str
    account: str
    role_arn: str | None = None
    service: str | None = None

    @classmethod
    def of_service(cls, service: str, account: str) -> Principal:
        """A service principal such as ``states.amazonaws.com`` acting for resources of ``account``."""
        return cls(arn=service, account=account, service=service)


@dataclass(frozen=True)
class Policy:
    """A parsed policy document and a label saying where it came from, for explanations."""

    source: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class StatementRef:
    """Which statement of which policy took part in a decision."""

    source: str
    index: int
    sid: str | None
    effect: str


class Decision(Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


class PolicyKind(Enum):
    """How the resource's own policy combines with the caller's identity-based policies."""

    RESOURCE = "resource"  # S3 bucket, SNS topic, ECR repository, Lambda function: either may allow
    KEY = "key"  # KMS key policy: it must allow the caller, or delegate to the account for IAM to allow
    TRUST = "trust"  # role trust policy for sts:AssumeRole: the same exception as key policies


@dataclass(frozen=True)
class Evaluation:
    """The decision, AWS's wording for it, and the statements that produced it."""

    decision: Decision
    reason: str
    allowed_by: tuple[StatementRef, ...] = ()
    denied_by: tuple[StatementRef, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


class _Reach(IntEnum):
    """How far a statement's Principal covers the caller."""

    NONE = 0
    ACCOUNT = 1  # names the caller's account: delegation, never an allow on its own
    DIRECT = 2  # names the caller, its role, its service, or everyone


def evaluate(
    principal: Principal,
    action: str,
    resource: str,
    context: Mapping[str, ContextValue],
    *,
    identity: Sequence[Policy] = (),
    resource_policy: Policy | None = None,
    kind: PolicyKind = PolicyKind.RESOURCE,
) -> Evaluation:
    """Decide ``action`` on ``resource`` by ``principal`` as AWS does within a single account."""
    if principal.service is not None and identity:
        raise ValueError(f"{principal.service} is a service principal: it has no identity-based policies")
    own = [match for policy in identity for match in _matching(policy, None, action, resource, context)]
    other = _matching(resource_policy, principal, action, resource, context) if resource_policy else []
    allowed_by = tuple(ref for ref, _ in own + other if ref.effect == "Allow")
    identity_denies = tuple(ref for ref, _ in own if ref.effect == "Deny")
    resource_denies = tuple(ref for ref, _ in other if ref.effect == "Deny")
    if identity_denies or resource_denies:
        where = "an identity-based" if identity_denies else "a resource-based"
        reason = f"with an explicit deny in {where} policy"
        return Evaluation(Decision.EXPLICIT_DENY, reason, allowed_by, identity_denies + resource_denies)
    reach = max((reach for ref, reach in other if ref.effect == "Allow"), default=_Reach.NONE)
    missing = _missing_allow(kind, principal, any(ref.effect == "Allow" for ref, _ in own), reach)
    if missing is None:
        return Evaluation(Decision.ALLOW, "allowed", allowed_by)
    return Evaluation(Decision.IMPLICIT_DENY, f"because no {missing} policy allows the {action} action", allowed_by)


def denial_message(principal: Principal, action: str, resource: str, evaluation: Evaluation) -> str:
    """The AccessDenied message AWS returns for a refused ``evaluation``."""
    if evaluation.allowed:
        raise ValueError(f"{action} on {resource} was allowed: there is no denial to describe")
    return f"User: {principal.arn} is not authorized to perform: {action} on resource: {resource} {evaluation.reason}"


def action_matches(pattern: str, action: str) -> bool:
    """Whether an Action pattern covers ``action``; service prefixes and names ignore case."""
    return pattern == "*" or wildcard_matches(pattern, action, ignore_case=True)


def resource_matches(pattern: str, resource: str) -> bool:
    """Whether a Resource pattern covers ``resource``, comparing ARN segments separately.

    A wildcard stays inside its segment, so ``arn:aws:s3:::*`` never matches an SQS queue, except
    that the last (resource) segment takes the rest of the ARN, colons included, and a shorter
    pattern whose final segment ends in ``*`` runs on past the colons that follow.
    """
    if pattern == "*":
        return True
    parts = pattern.split(":", 5)
    spans = len(parts) == 6 or parts[-1].endswith("*")
    actual = resource.split(":", len(parts) - 1 if spans else 5)
    return len(actual) == len(parts) and all(wildcard_matches(p, a) for p, a in zip(parts, actual, strict=True))


def _missing_allow(kind: PolicyKind, principal: Principal, identity_allows: bool, reach: _Reach) -> str | None:
    """Which policy type failed to allow (``None`` when the request is allowed)."""
    if reach is _Reach.DIRECT:
        return None
    if principal.service is not None:
        return "resource-based"
    if kind is PolicyKind.RESOURCE or reach is _Reach.ACCOUNT:
        return None if identity_allows else "identity-based"
    return "resource-based"


def _matching(
    policy: Policy, principal: Principal | None, action: str, resource: str, context: Mapping[str, ContextValue]
) -> list[tuple[StatementRef, _Reach]]:
    """The statements of ``policy`` that apply; ``principal`` is None for identity-based policies."""
    matches = []
    for index, statement in _statements(policy):
        try:
            ref = StatementRef(policy.source, index, statement.get("Sid"), _effect(statement))
            reach = _Reach.DIRECT if principal is None else _statement_reach(statement, principal)
            if reach and _applies(statement, action, resource, context, resource_policy=principal is not None):
                matches.append((ref, reach))
        except ValueError as exc:
            exc.add_note(f"in statement {index} of {policy.source}")
            raise
    return matches


def _statements(policy: Policy) -> Iterator[tuple[int, Mapping[str, Any]]]:
    statements = policy.document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not all(isinstance(item, Mapping) for item in statements):
        raise ValueError(f"{policy.source}: Statement must be an object or a list of objects")
    yield from enumerate(statements)


def _effect(statement: Mapping[str, Any]) -> str:
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise ValueError(f"Effect must be Allow or Deny, got {effect!r}")
    return str(effect)


def _applies(
    statement: Mapping[str, Any],
    action: str,
    resource: str,
    context: Mapping[str, ContextValue],
    *,
    resource_policy: bool,
) -> bool:
    if not resource_policy and ("Principal" in statement or "NotPrincipal" in statement):
        raise ValueError("an identity-based policy cannot name a Principal")
    return (
        _element_matches(statement, "Action", action, action_matches, required=True)
        and _element_matches(statement, "Resource", resource, resource_matches, required=not resource_policy)
        and conditions_hold(statement.get("Condition", {}), context)
    )


def _element_matches(
    statement: Mapping[str, Any], element: str, value: str, matches: Callable[[str, str], bool], *, required: bool
) -> bool:
    """Match ``Action``/``NotAction`` or ``Resource``/``NotResource``; absent means the policy's own resource."""
    negated = f"Not{element}"
    if element in statement and negated in statement:
        raise ValueError(f"a statement cannot have both {element} and {negated}")
    if element in statement:
        return any(matches(pattern, value) for pattern in _strings(statement[element]))
    if negated in statement:
        return not any(matches(pattern, value) for pattern in _strings(statement[negated]))
    if required:
        raise ValueError(f"a statement needs {element} or {negated}")
    return True


def _strings(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"expected a string or a list of strings, got {value!r}")
    return items


def _statement_reach(statement: Mapping[str, Any], principal: Principal) -> _Reach:
    if "Principal" in statement and "NotPrincipal" in statement:
        raise ValueError("a statement cannot have both Principal and NotPrincipal")
    if "Principal" in statement:
        return max(
            (_reach(kind, value, principal) for kind, value in _principals(statement["Principal"])), default=_Reach.NONE
        )
    if "NotPrincipal" not in statement:
        raise ValueError("a resource-based policy statement needs Principal or NotPrincipal")
    if statement["Effect"] != "Deny":
        raise ValueError("NotPrincipal is supported only with Deny")
    return _Reach.NONE if _exempt(statement["NotPrincipal"], principal) else _Reach.DIRECT


def _principals(spec: Any) -> Iterator[tuple[str, str]]:
    """``"*"`` or ``{"AWS": ..., "Service": ...}`` as (type, value) pairs."""
    if spec == "*":
        yield "AWS", "*"
        return
    if not isinstance(spec, Mapping):
        raise ValueError(f'Principal must be "*" or an object, got {spec!r}')
    for kind, values in spec.items():
        if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise ValueError(f"unknown principal type {kind!r}")
        yield from ((kind, value) for value in _strings(values))


def _reach(kind: str, value: str, principal: Principal) -> _Reach:
    if kind == "Service":
        return _Reach.DIRECT if value == principal.service else _Reach.NONE
    if kind != "AWS":
        return _Reach.NONE  # federated and canonical users never call offline
    if value == "*":
        return _Reach.DIRECT
    if principal.service is not None:
        return _Reach.NONE
    account = _ACCOUNT_PRINCIPAL.fullmatch(value)
    if account:
        return _Reach.ACCOUNT if principal.account in account.groups() else _Reach.NONE
    return _Reach.DIRECT if value in (principal.arn, principal.role_arn) else _Reach.NONE


def _exempt(spec: Any, principal: Principal) -> bool:
    """Whether NotPrincipal spares the caller: AWS checks the account, then the role, then the session."""
    pairs = list(_principals(spec))
    reaches = {_reach(kind, value, principal) for kind, value in pairs}
    if ("AWS", "*") in pairs or principal.service is not None:
        return _Reach.DIRECT in reaches
    return {_Reach.ACCOUNT, _Reach.DIRECT} <= reaches
