"""cdk-nag acknowledgements, each with the reason it is safe."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Suppress ``rule`` (e.g. ``AwsSolutions-IAM5``) for ``scope`` and its children, with a reason."""
    if len(reason) < 20:
        raise ValueError(f"a suppression of {rule} needs a specific reason, got {reason!r}")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))
