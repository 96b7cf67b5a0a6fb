"""What one API request must be allowed to do: its IAM action, resource ARNs and context keys.

Each operation authorizes an action on one or more resources, as the Service Authorization
Reference lists them ("Actions, resources, and condition keys for <service>"), plus the
*dependent* checks the service makes itself:

* passing a role (``RoleArn``/``ExecutionRoleArn``) needs ``iam:PassRole`` on it, with
  ``iam:PassedToService`` (IAM User Guide, "Granting a user permissions to pass a role");
* tags in a ``Create*`` request need ``sagemaker:AddTags`` on the new resource (SageMaker
  Developer Guide, "Provide permissions for tagging SageMaker AI resources");
* reading or writing KMS-encrypted S3 objects, and publishing to an encrypted topic, need
  the KMS key (``offline.services.iam.encryption``);
* the first RegisterScalableTarget of a namespace needs ``iam:CreateServiceLinkedRole`` on its
  service-linked role, with ``iam:AWSServiceName`` (Application Auto Scaling User Guide,
  "Service-linked roles" → "Permissions required to create a service-linked role").

Application Auto Scaling's actions have no resource types: Resource ``*``. CloudWatch's
DescribeAlarms acts on alarms: checked on each of ``AlarmNames``, else on ``*``.

An operation missing from the tables is an error, not an allow: offline mode must never let
a call through unevaluated. Add the operation here when the app starts making it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from offline.services import application_autoscaling
from offline.services.iam.conditions import ContextValue
from offline.services.iam.encryption import KeyLookup

#: Application Auto Scaling ends a target tracking alarm's name with a UUID of its own; this stands for it.
_ALARM_ID = "00000000-0000-4000-8000-000000000000"


class UnmappedRequestError(LookupError):
    """Offline mode does not know which resource an operation acts on."""


@dataclass(frozen=True)
class ApiCall:
    """One request to the local AWS, as far as authorization needs it."""

    service: str  # the IAM service prefix, e.g. "sagemaker", "states", "cloudwatch"
    operation: str  # the API operation; for S3, the IAM action moto derived (e.g. "GetObject")
    param: Callable[[str], Any]
    method: str = "POST"
    resource: str | None = None  # S3 only: the bucket or object ARN moto computed


@dataclass(frozen=True)
class Check:
    """One action on one resource that a request needs."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    dependent: bool = False  # checked by the service besides the call's own action


#: The IAM action of an operation, where it is not ``<service>:<Operation>``.
_ACTION_NAMES = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
}

#: SageMaker operations → (resource type, request parameter) of each resource they act on.
_SAGEMAKER: dict[str, tuple[tuple[str, str], ...]] = {}
for _kind, _param, _operations in (
    ("training-job", "TrainingJobName", ("CreateTrainingJob", "DescribeTrainingJob", "StopTrainingJob")),
    ("processing-job", "ProcessingJobName", ("CreateProcessingJob", "DescribeProcessingJob", "StopProcessingJob")),
    ("transform-job", "TransformJobName", ("CreateTransformJob", "DescribeTransformJob", "StopTransformJob")),
    ("model", "ModelName", ("CreateModel", "DescribeModel", "DeleteModel")),
    (
        "endpoint-config",
        "EndpointConfigName",
        ("CreateEndpointConfig", "DescribeEndpointConfig", "DeleteEndpointConfig"),
    ),
    ("endpoint", "EndpointName", ("DescribeEndpoint", "DeleteEndpoint")),
):
    for _operation in _operations:
        _SAGEMAKER[_operation] = ((_kind, _param),)
for _operation in ("CreateEndpoint", "UpdateEndpoint"):
    _SAGEMAKER[_operation] = (("endpoint", "EndpointName"), ("endpoint-config", "EndpointConfigName"))

#: Model registry operations (resources from :meth:`RequestCatalog._registry_resources`).
_MODEL_REGISTRY = {
    "CreateModelPackageGroup",
    "DescribeModelPackageGroup",
    "DeleteModelPackageGroup",
    "CreateModelPackage",
    "DescribeModelPackage",
    "UpdateModelPackage",
    "DeleteModelPackage",
}

#: SageMaker operations that pass a role to SageMaker, and the parameter holding it.
_PASSED_ROLES = {"CreateTrainingJob": "RoleArn", "CreateProcessingJob": "RoleArn", "CreateModel": "ExecutionRoleArn"}

_STATES = {
    "StartExecution": "stateMachineArn",
    "StartSyncExecution": "stateMachineArn",
    "ListExecutions": "stateMachineArn",
    "DescribeStateMachine": "stateMachineArn",
    "DescribeExecution": "executionArn",
    "StopExecution": "executionArn",
    "GetExecutionHistory": "executionArn",
}
_EVENT_RULES = {"PutRule": "Name", "DescribeRule": "Name", "DeleteRule": "Name", "PutTargets": "Rule"}
_EVENT_RULES |= {"RemoveTargets": "Rule", "ListTargetsByRule": "Rule", "EnableRule": "Name", "DisableRule": "Name"}
_SSM = {"GetParameter": "Name", "GetParameterHistory": "Name", "PutParameter": "Name", "DeleteParameter": "Name"}
_SNS_TOPIC = ("Publish", "Subscribe", "GetTopicAttributes", "SetTopicAttributes", "ListSubscriptionsByTopic")
#: Operations AWS authorizes on Resource "*" only (or that need no authorization at all).
_STAR = {
    "sagemaker": {
        "ListEndpoints",
        "ListModels",
        "ListTrainingJobs",
        "ListEndpointConfigs",
        "ListModelPackageGroups",
        "ListModelPackages",
    },
    "states": {"ListStateMachines", "SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"},
    "ecr": {"GetAuthorizationToken"},
    "ssm": {"DescribeParameters"},
    "sns": {"ListTopics"},
    "cloudwatch": {"ListMetrics", "GetMetricData", "GetMetricStatistics"},
    "application-autoscaling": {
        "DescribeScalableTargets",
        "DescribeScalingPolicies",
        "DescribeScalingActivities",
        "DeleteScalingPolicy",
        "DeregisterScalableTarget",
    },
    "kms": {"ListKeys", "ListAliases", "CreateKey"},
    "s3": {"ListAllMyBuckets", "ListBuckets"},
}


class RequestCatalog:
    """Turns an :class:`ApiCall` into the :class:`Check` list AWS would evaluate."""

    def __init__(self, *, account: str, region: str, partition: str = "aws") -> None:
        self.account = account
        self.region = region
        self.partition = partition
        self.keys = KeyLookup(account=account, region=region, partition=partition)

    def checks(self, call: ApiCall) -> list[Check]:
        action = _ACTION_NAMES.get((call.service, call.operation), f"{call.service}:{call.operation}")
        if call.operation in _STAR.get(call.service, set()):
            return [Check(action, "*", self._service_context(call))]
        handler = getattr(self, f"_{call.service.replace('-', '_')}", None)
        if handler is None:
            raise UnmappedRequestError(_unmapped(call))
        checks: list[Check] = handler(call, action)
        return checks

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        return f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account}:{resource}"

    # --- services ------------------------------------------------------------------------

    def _sagemaker(self, call: ApiCall, action: str) -> list[Check]:
        if call.operation in ("AddTags", "ListTags", "DeleteTags"):
            return [Check(action, str(call.param("ResourceArn")))]
        if call.operation in _MODEL_REGISTRY:
            return [Check(action, resource) for resource in self._registry_resources(call)]
        if call.operation not in _SAGEMAKER:
            raise UnmappedRequestError(_unmapped(call))
        # SageMaker keeps resource names in ARNs in lower case.
        resources = [
            self.arn("sagemaker", f"{kind}/{str(call.param(p)).lower()}") for kind, p in _SAGEMAKER[call.operation]
        ]
        checks = [Check(action, resource) for resource in resources]
        role_param = _PASSED_ROLES.get(call.operation)
        if role_param and call.param(role_param):
            context = {"iam:PassedToService": "sagemaker.amazonaws.com"}
            checks.append(Check("iam:PassRole", str(call.param(role_param)), context, dependent=True))
        if call.operation.startswith("Create") and call.param("Tags"):
            checks.append(Check("sagemaker:AddTags", resources[0], dependent=True))
        return checks

    def _registry_resources(self, call: ApiCall) -> list[str]:
        """The model registry's resources: ``model-package-group/<group>``, ``model-package/<group>/<version>``.

        A version may be named by its ARN or by ``<group>/<version>``. CreateModelPackage is checked on
        the group and on a version of it: the new version's number is not known before it exists, so
        offline names it ``next``, which a policy on ``model-package/<group>/*`` matches as AWS's would.
        """
        operation = call.operation
        if operation in ("CreateModelPackageGroup", "DescribeModelPackageGroup", "DeleteModelPackageGroup"):
            name = str(call.param("ModelPackageGroupName")).rsplit("/", 1)[-1]
            return [self.arn("sagemaker", f"model-package-group/{name.lower()}")]
        if operation == "CreateModelPackage":
            group = str(call.param("ModelPackageGroupName") or call.param("ModelPackageName")).rsplit("/", 1)[-1]
            return [
                self.arn("sagemaker", f"model-package-group/{group.lower()}"),
                self.arn("sagemaker", f"model-package/{group.lower()}/next"),
            ]
        named = str(call.param("ModelPackageArn") or call.param("ModelPackageName"))
        if named.startswith("arn:"):
            return [
                named.split(":model-package/", 1)[0] + ":model-package/" + named.split(":model-package/", 1)[1].lower()
            ]
        return [self.arn("sagemaker", f"model-package/{named.lower()}")]

    def _lambda(self, call: ApiCall, action: str) -> list[Check]:
        name = str(call.param("FunctionName") or "")
        if not name:
            raise UnmappedRequestError(_unmapped(call))
        arn = name if name.startswith("arn:") else self.arn("lambda", f"function:{name}")
        qualifier = call.param("Qualifier")
        return [Check(action, f"{arn}:{qualifier}" if qualifier else arn)]

    def _states(self, call: ApiCall, action: str) -> list[Check]:
        if call.operation not in _STATES:
            raise UnmappedRequestError(_unmapped(call))
        return [Check(action, str(call.param(_STATES[call.operation])))]

    def _events(self, call: ApiCall, action: str) -> list[Check]:
        if call.operation not in _EVENT_RULES:
            raise UnmappedRequestError(_unmapped(call))
        bus = call.param("EventBusName")
        rule = str(call.param(_EVENT_RULES[call.operation]))
        return [Check(action, self.arn("events", f"rule/{bus}/{rule}" if bus and bus != "default" else f"rule/{rule}"))]

    def _ssm(self, call: ApiCall, action: str) -> list[Check]:
        if call.operation == "GetParameters":
            names = [str(n) for n in call.param("Names") or []]
        elif call.operation in _SSM:
            names = [str(call.param(_SSM[call.operation]))]
        else:
            raise UnmappedRequestError(_unmapped(call))
        return [Check(action, self.arn("ssm", f"parameter/{name.lstrip('/')}")) for name in names]

    def _ecr(self, call: ApiCall, action: str) -> list[Check]:
        repository = call.param("repositoryName")
        if not repository:
            raise UnmappedRequestError(_unmapped(call))
        registry = str(call.param("registryId") or self.account)
        arn = f"arn:{self.partition}:ecr:{self.region}:{registry}:repository/{repository}"
        return [Check(action, arn)]

    def _sns(self, call: ApiCall, action: str) -> list[Check]:
        if call.operation == "CreateTopic":
            return [Check(action, self.arn("sns", str(call.param("Name"))))]
        if call.operation not in _SNS_TOPIC:
            raise UnmappedRequestError(_unmapped(call))
        topic = str(call.param("TopicArn") or call.param("TargetArn"))
        checks = [Check(action, topic)]
        key = self.keys.topic_key(topic) if call.operation == "Publish" else None
        if key is not None:
            checks += self._kms_checks(key, "sns", ("kms:GenerateDataKey", "kms:Decrypt"))
        return checks

    def _s3(self, call: ApiCall, action: str) -> list[Check]:
        resource = call.resource or "arn:aws:s3:::*"
        checks = [Check(action, resource)]
        path = resource.split(":::", 1)[-1]
        bucket, _, key = path.partition("/")
        if key and action == "s3:PutObject":
            kms_key = self.keys.bucket_key(bucket)
            if kms_key is not None:
                checks += self._kms_checks(kms_key, "s3", ("kms:GenerateDataKey",))
        elif key and action in ("s3:GetObject", "s3:GetObjectVersion") and call.method == "GET":
            kms_key = self.keys.object_key(bucket, key)
            if kms_key is not None:
                checks += self._kms_checks(kms_key, "s3", ("kms:Decrypt",))
        return checks

    def _cloudwatch(self, call: ApiCall, action: str) -> list[Check]:
        if call.operation == "PutMetricData":
            return [Check(action, "*", {"cloudwatch:namespace": str(call.param("Namespace"))})]
        if call.operation == "DescribeAlarms" and not call.param("AlarmNames"):
            return [Check(action, "*")]
        if call.operation in ("PutMetricAlarm", "SetAlarmState", "DeleteAlarms", "DescribeAlarms"):
            names = call.param("AlarmNames") or [call.param("AlarmName")]
            return [Check(action, self.arn("cloudwatch", f"alarm:{name}")) for name in names]
        raise UnmappedRequestError(_unmapped(call))

    def _application_autoscaling(self, call: ApiCall, action: str) -> list[Check]:
        """Application Auto Scaling checks its caller's permissions on the target too (Application Auto Scaling
        User Guide, "Identity-based policy examples": the target service's actions, and the CloudWatch alarm
        actions for target tracking; "Service-linked roles": iam:CreateServiceLinkedRole the first time)."""
        if call.operation not in ("RegisterScalableTarget", "PutScalingPolicy"):
            raise UnmappedRequestError(_unmapped(call))
        namespace = str(call.param("ServiceNamespace"))
        if namespace not in application_autoscaling.SERVICE_LINKED_ROLES or namespace != "sagemaker":
            raise UnmappedRequestError(_unmapped(call) + f" (for ServiceNamespace {namespace})")
        resource_id = str(call.param("ResourceId"))
        checks = [Check(action, "*")]
        if call.operation == "PutScalingPolicy":
            if call.param("PolicyType") == "TargetTrackingScaling":
                # Target tracking creates and reads its alarms, named TargetTracking-<resource id>-AlarmHigh|Low-<uuid>.
                for kind in ("AlarmHigh", "AlarmLow"):
                    alarm = self.arn("cloudwatch", f"alarm:TargetTracking-{resource_id}-{kind}-{_ALARM_ID}")
                    checks += [
                        Check(f"cloudwatch:{verb}", alarm, dependent=True)
                        for verb in ("PutMetricAlarm", "DescribeAlarms")
                    ]
            return checks
        endpoint = resource_id.split("/")[1] if resource_id.startswith("endpoint/") else resource_id
        for verb in ("DescribeEndpoint", "UpdateEndpointWeightsAndCapacities"):
            checks.append(
                Check(f"sagemaker:{verb}", self.arn("sagemaker", f"endpoint/{endpoint.lower()}"), dependent=True)
            )
        arguments = {"account": self.account, "partition": self.partition}
        if not application_autoscaling.service_linked_role_exists(namespace, **arguments):
            role = application_autoscaling.service_linked_role_arn(namespace, **arguments)
            principal = application_autoscaling.SERVICE_LINKED_ROLES[namespace][0]
            context = {"iam:AWSServiceName": principal}
            checks.append(Check("iam:CreateServiceLinkedRole", role, context, dependent=True))
        return checks

    def _kms(self, call: ApiCall, action: str) -> list[Check]:
        key = call.param("KeyId")
        if not key:
            raise UnmappedRequestError(_unmapped(call))
        return [Check(action, self.keys.key_arn(str(key)))]

    def _sts(self, call: ApiCall, action: str) -> list[Check]:
        # GetCallerIdentity needs no permission (IAM User Guide, "GetCallerIdentity").
        if call.operation == "GetCallerIdentity":
            return []
        raise UnmappedRequestError(_unmapped(call))

    # --- helpers -------------------------------------------------------------------------

    def _kms_checks(self, key_arn: str, via: str, actions: tuple[str, ...]) -> list[Check]:
        context = {"kms:ViaService": f"{via}.{self.region}.amazonaws.com", "kms:CallerAccount": self.account}
        return [Check(action, key_arn, context, dependent=True) for action in actions]

    def _service_context(self, call: ApiCall) -> dict[str, ContextValue]:
        if call.service == "cloudwatch" and call.operation == "PutMetricData":
            return {"cloudwatch:namespace": str(call.param("Namespace"))}
        return {}


def _unmapped(call: ApiCall) -> str:
    return (
        f"offline IAM cannot evaluate {call.service}:{call.operation}: no resource mapping; "
        "add it to offline/services/iam/requests.py"
    )
