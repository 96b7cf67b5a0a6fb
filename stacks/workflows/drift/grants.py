"""What each principal of the drift workflow may do, and nothing more.

* ``prepare_drift`` reads what serves (the endpoint, its config, model and package), lists the
  capture and label prefixes, and asks ECR whether the training image exists;
* ``drift_decision`` reads the reports and lists and starts executions of the retraining state machine;
* the SageMaker execution role, running the job, reads the capture files and labels, writes the
  reports, with the environment's key, and publishes metrics in the drift namespace only;
* the state machine runs ``createProcessingJob.sync`` on this environment's drift jobs and passes
  the SageMaker role to SageMaker.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import IConstruct

from stacks.config import EnvironmentConfig

CAPTURE_PREFIX = "data-capture/"
LABELS_PREFIX = "labels/"
REPORTS_PREFIX = "drift-reports/"


def _sagemaker_arn(scope: IConstruct, resource: str, name: str) -> str:
    return Stack.of(scope).format_arn(service="sagemaker", resource=resource, resource_name=name)


def grant_prepare(
    role: iam.IRole,
    *,
    config: EnvironmentConfig,
    name_prefix: str,
    buckets: list[s3.IBucket],
    training_repository: ecr.IRepository,
) -> None:
    """The live version's lookup (endpoint → config → model → package), ListObjectsV2 and DescribeImages."""
    for actions, resources in (
        (["sagemaker:DescribeEndpoint"], [_sagemaker_arn(role, "endpoint", config.endpoint_name)]),
        (["sagemaker:DescribeEndpointConfig"], [_sagemaker_arn(role, "endpoint-config", f"{name_prefix}*")]),
        (["sagemaker:DescribeModel"], [_sagemaker_arn(role, "model", f"{name_prefix}*")]),
        (
            ["sagemaker:DescribeModelPackage"],
            [_sagemaker_arn(role, "model-package", f"{config.model_package_group_name}/*")],
        ),
        # ListObjectsV2 authorizes s3:ListBucket on the bucket; it reads no object.
        (["s3:ListBucket"], [bucket.bucket_arn for bucket in buckets]),
    ):
        role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=resources))
    training_repository.grant(role, "ecr:DescribeImages")


def grant_decide(role: iam.IRole, *, artifacts_bucket: s3.IBucket, retraining: sfn.IStateMachine) -> None:
    """The reports (and the key they are encrypted with); the retraining state machine's history and start."""
    artifacts_bucket.grant_read(role, f"{REPORTS_PREFIX}*")
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["states:ListExecutions", "states:StartExecution"], resources=[retraining.state_machine_arn]
        )
    )


def grant_job(
    role: iam.IRole, *, config: EnvironmentConfig, artifacts_bucket: s3.IBucket, data_bucket: s3.IBucket
) -> None:
    """What the monitor reads, writes and publishes, added to the SageMaker execution role.

    The KMS grants come with the buckets' (both are encrypted with the environment's key).
    """
    artifacts_bucket.grant_read(role, f"{CAPTURE_PREFIX}*")
    artifacts_bucket.grant_put(role, f"{REPORTS_PREFIX}*")
    data_bucket.grant_read(role, f"{LABELS_PREFIX}*")
    # PutMetricData authorizes on "*" only; the namespace condition is what scopes it
    # (CloudWatch User Guide, "Using condition keys to limit access to CloudWatch namespaces").
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": config.drift_metrics_namespace}},
        )
    )


def grant_state_machine(machine: sfn.StateMachine, *, jobs_prefix: str, sagemaker_role: iam.IRole) -> None:
    """``createProcessingJob.sync`` on this environment's drift jobs, as the retraining workflow grants it."""
    role = machine.role
    stack = Stack.of(machine)
    # Step Functions tags the job it starts (MANAGED_BY_AWS) and reads the tags back, so it needs AddTags
    # and ListTags besides the job calls (Step Functions Developer Guide, "IAM policies for Amazon SageMaker").
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[
                "sagemaker:CreateProcessingJob",
                "sagemaker:DescribeProcessingJob",
                "sagemaker:StopProcessingJob",
                "sagemaker:AddTags",
                "sagemaker:ListTags",
            ],
            resources=[_sagemaker_arn(machine, "processing-job", f"{jobs_prefix}*")],
        )
    )
    # The .sync integration watches the job through this AWS-managed rule.
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[
                stack.format_arn(
                    service="events",
                    resource="rule",
                    resource_name="StepFunctionsGetEventsForSageMakerProcessingJobsRule",
                )
            ],
        )
    )
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["iam:PassRole"],
            resources=[sagemaker_role.role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
    )
