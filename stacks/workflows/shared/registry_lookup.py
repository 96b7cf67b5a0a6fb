"""How the workflows ask the registry for its newest Approved version (the champion, the batch's model)."""

from __future__ import annotations


def newest_approved(group_name: str) -> dict[str, object]:
    """ListModelPackages parameters: the group's Approved versions, newest first, one of them.

    ListModelPackages authorizes on ``*`` only (Service Authorization Reference, Amazon SageMaker).
    """
    return {
        "ModelPackageGroupName": group_name,
        "ModelApprovalStatus": "Approved",
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
        "MaxResults": 1,
    }
