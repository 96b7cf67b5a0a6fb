"""Every change offline mode makes to moto's internals, one module per patched area.

moto is pinned exactly (requirements-dev.txt) and ``tests/offline/test_moto_internals.py``
imports each patched symbol and checks its signature, so an upgrade that moves one fails
loudly instead of silently running the pipeline without it. Each patch only acts while
offline mode's local services are active (``offline.run.active``); otherwise moto behaves
as shipped. Each module's docstring lists its patches and why:

* ``stepfunctions_engine``: integrations moto lacks, capped waits, AWS's error names;
* ``stepfunctions_tasks``: Task calls signed as the state machine's role; fault injection;
* ``lambda_``: invocations run the real handler in-process;
* ``sagemaker``: real training jobs and endpoints, AWS's validations, UpdateEndpoint;
* ``s3``: "Object Created" events to the EventBridge bridge; bucket policies left to IAM;
* ``auth``: every signed request evaluated by ``offline.services.iam``;
* ``cloudwatch``: ``SetAlarmState`` runs the alarm's SNS actions; GetMetricStatistics matches dimensions exactly;
* ``application_autoscaling``: aws-sdk Tasks reach it; registering creates its service-linked role;
* ``json_path``: a definite JSONPath answers its one value, not a list of it;
* ``model_registry``: UpdateModelPackage keeps what it is not given; model package state-change events.
"""

from __future__ import annotations

from offline.moto_patches import (
    application_autoscaling,
    auth,
    cloudwatch,
    json_path,
    lambda_,
    model_registry,
    s3,
    sagemaker,
    stepfunctions_engine,
    stepfunctions_tasks,
)
from offline.moto_patches._registry import originals

_AREAS = (
    stepfunctions_engine,
    stepfunctions_tasks,
    json_path,
    lambda_,
    sagemaker,
    s3,
    auth,
    cloudwatch,
    model_registry,
    application_autoscaling,
)


def install() -> None:
    """Apply every patch (idempotent)."""
    if originals:
        return
    for area in _AREAS:
        area.install()
