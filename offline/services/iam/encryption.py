"""Which KMS key protects a bucket, an object or a topic in the local AWS.

A call that reads or writes KMS-encrypted data needs the caller to be allowed to use the key
as well: S3 asks KMS for a data key on PutObject and for a decryption on GetObject
(S3 User Guide, "Using server-side encryption with AWS KMS keys (SSE-KMS)": "Permissions"),
SNS does the same for a publisher to an encrypted topic (SNS Developer Guide, "Encryption
at rest": "the publisher must have kms:GenerateDataKey* and kms:Decrypt"). This module only
finds the key; ``offline.services.iam.requests`` turns it into the KMS checks.
"""

from __future__ import annotations

from typing import Any


class KeyLookup:
    """Reads encryption settings from moto's S3, SNS and KMS backends."""

    def __init__(self, *, account: str, region: str, partition: str = "aws") -> None:
        self.account = account
        self.region = region
        self.partition = partition

    def bucket_key(self, bucket: str) -> str | None:
        """The KMS key of the bucket's default encryption (SSE-KMS), as an ARN."""
        from moto.s3.models import s3_backends

        found = s3_backends[self.account][self.partition].buckets.get(bucket)
        key_id = _find(getattr(found, "encryption", None), "KMSMasterKeyID") if found is not None else None
        return self.key_arn(key_id) if key_id else None

    def object_key(self, bucket: str, key: str) -> str | None:
        """The KMS key an existing object was encrypted with, else the bucket's default key."""
        from moto.s3.models import s3_backends

        found = s3_backends[self.account][self.partition].buckets.get(bucket)
        stored = found.keys.get(key) if found is not None else None
        key_id = getattr(stored, "kms_key_id", None) if stored is not None else None
        return self.key_arn(key_id) if key_id else self.bucket_key(bucket)

    def topic_key(self, topic_arn: str) -> str | None:
        """The KMS key of an encrypted topic (its ``KmsMasterKeyId`` attribute), as an ARN."""
        from moto.sns.models import sns_backends

        topic = sns_backends[self.account][self.region].topics.get(topic_arn)
        key_id = getattr(topic, "kms_master_key_id", None) if topic is not None else None
        return self.key_arn(key_id) if key_id else None

    def key_arn(self, key_id: str) -> str:
        """A key ARN from a key id, key ARN or alias (``alias/...`` or its ARN)."""
        if key_id.startswith("arn:") and ":key/" in key_id:
            return key_id
        from moto.kms.models import kms_backends

        backend = kms_backends[self.account][self.region]
        alias = key_id.split(":", 5)[-1] if key_id.startswith("arn:") else key_id
        if alias.startswith("alias/"):
            target = backend.get_key_id_from_alias(alias)
            if target:
                key_id = target
        return f"arn:{self.partition}:kms:{self.region}:{self.account}:key/{key_id.rsplit('/', 1)[-1]}"


def _find(value: Any, name: str) -> str | None:
    """The first ``name`` field anywhere in a nested dict/list (moto keeps S3 encryption as parsed XML)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == name and isinstance(item, str):
                return item
            found = _find(item, name)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _find(item, name)
            if found:
                return found
    return None
