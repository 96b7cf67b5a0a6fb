"""Patches for Application Auto Scaling: reachable from Step Functions, and its service-linked role.

* ``StateTaskService._get_boto_service_name``: an aws-sdk Task names the service as Step
  Functions does (``arn:aws:states:::aws-sdk:applicationautoscaling:registerScalableTarget``),
  and moto's engine used that name as boto3's, which is ``application-autoscaling``: the call
  failed with an unknown service. Offline, the name is mapped (Step Functions Developer Guide,
  "Integrating other services" → "AWS SDK service integrations" lists the service as
  ``applicationautoscaling``). Its errors are named ``ApplicationAutoScaling.<Exception>``
  (the table in ``stepfunctions_engine``).
* ``ApplicationAutoscalingBackend.register_scalable_target``: registering a SageMaker variant
  creates Application Auto Scaling's service-linked role when it does not exist yet, and the
  target's RoleARN is that role (``offline.services.application_autoscaling``).
"""

from __future__ import annotations

from typing import Any

from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.utilities.utils import get_partition

from offline.moto_patches._registry import original, patch
from offline.run.active import current
from offline.services import application_autoscaling

#: Step Functions' aws-sdk service names → boto3's, where they differ.
BOTO_SERVICE_NAMES = {"applicationautoscaling": "application-autoscaling"}


def install() -> None:
    patch(StateTaskService, "_get_boto_service_name", _get_boto_service_name)
    patch(ApplicationAutoscalingBackend, "register_scalable_target", _register_scalable_target)


def _get_boto_service_name(self: Any, boto_service_name: str | None = None) -> str:
    name: str = original(StateTaskService, "_get_boto_service_name")(self, boto_service_name)
    if current() is None:
        return name
    return BOTO_SERVICE_NAMES.get(name, name)


def _register_scalable_target(self: Any, *args: Any, **kwargs: Any) -> Any:
    target = original(ApplicationAutoscalingBackend, "register_scalable_target")(self, *args, **kwargs)
    if current() is not None:
        application_autoscaling.on_registered(
            target, account=self.account_id, partition=get_partition(self.region_name)
        )
    return target
