"""Patch to moto's request authorization: every signed request is evaluated by offline IAM.

moto's own check (``ActionAuthenticatorMixin._authenticate_and_authorize_action``) resolves
the signing key to a user or an assumed role and verifies the signature, which offline mode
keeps, but it evaluates identity policies only, with Resource ``*`` for most services and
without conditions or resource policies. Offline mode replaces that last step with
``offline.services.iam.enforcement``. Requests signed with the operator's key (the person
running offline mode, who deployed the app) are allowed, as an administrator's would be.
"""

from __future__ import annotations

from typing import Any

from moto.core.authorization import ActionAuthenticatorMixin

from offline.moto_patches._registry import original, patch
from offline.run.active import current


def install() -> None:
    patch(ActionAuthenticatorMixin, "_authenticate_and_authorize_action", _authenticate_and_authorize_action)


def _authenticate_and_authorize_action(self: Any, iam_request_cls: type, resource: str = "*") -> None:
    active = current()
    if active is None or active.iam is None:
        original(ActionAuthenticatorMixin, "_authenticate_and_authorize_action")(self, iam_request_cls, resource)
        return
    active.iam.authorize_moto_request(self, iam_request_cls, resource)
