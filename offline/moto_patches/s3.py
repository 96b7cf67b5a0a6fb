"""Patches to moto's S3: EventBridge notifications, and bucket policies left to offline IAM.

* ``notifications._send_event_bridge_message``: S3 "Object Created" events reach offline
  mode's EventBridge bridge (``offline.services.eventbridge``);
* ``FakeBucket.get_permission``: moto evaluates a bucket policy on its own for some
  requests, without conditions or principals (a TLS-only Deny then refuses everything);
  offline mode decides every request in ``offline.services.iam`` instead.
"""

from __future__ import annotations

from typing import Any

from moto.iam.access_control import PermissionResult
from moto.s3 import notifications as s3_notifications
from moto.s3.models import FakeBucket

from offline.moto_patches._registry import original, patch
from offline.run.active import current


def install() -> None:
    patch(s3_notifications, "_send_event_bridge_message", _send_event_bridge_message)
    patch(FakeBucket, "get_permission", _get_permission)


def _get_permission(self: Any, action: str, resource: str) -> Any:
    if current() is not None:
        return PermissionResult.NEUTRAL
    return original(FakeBucket, "get_permission")(self, action, resource)


def _send_event_bridge_message(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    active = current()
    if active is None:
        original(s3_notifications, "_send_event_bridge_message")(account_id, bucket, event_name, key)
        return
    if "ObjectCreated" not in event_name:
        return
    active.on_object_created(
        {
            "account": account_id,
            "region": bucket.region_name,
            "bucket": bucket.name,
            "bucket_arn": bucket.arn,
            "key": key.name,
            "size": key.size,
            "etag": key.etag.replace('"', ""),
            "version_id": key.version_id,
            "reason": event_name.split(":")[1],
        }
    )
