"""Which errors each kind of Task retries: throttling and transient service errors only.

The names are the ones Step Functions raises, which differ by integration:

* Lambda (``lambda:invoke``): ``Lambda.ServiceException``, ``Lambda.AWSLambdaException``
  (throttling and other API errors of the invoke), ``Lambda.SdkClientException`` and
  ``Lambda.ClientExecutionTimeoutException``, plus ``Lambda.TooManyRequestsException``;
  retried as the Step Functions Developer Guide recommends ("Handling transient Lambda
  service exceptions": 2 s, 6 attempts, backoff 2). A function's own error (its exception
  type) is never retried;
* optimized SageMaker tasks (``sagemaker:create*``, ``updateEndpoint``): every service error,
  throttling included, is ``SageMaker.AmazonSageMakerException``. A *failed job*
  (``States.TaskFailed``) is not a service error and is never re-run;
* aws-sdk SageMaker tasks: every service error is ``SageMaker.SageMakerException``. They are
  used only for reads and deletes whose repetition is harmless;
* CodeBuild (``startBuild``): the account's build limit and throttling;
* aws-sdk Application Auto Scaling tasks: a concurrent update of the same target and the
  service's internal error (Application Auto Scaling API Reference, RegisterScalableTarget,
  Errors); both calls are idempotent.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_stepfunctions as sfn

LAMBDA_SERVICE_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
]
SAGEMAKER_OPTIMIZED_ERRORS = ["SageMaker.AmazonSageMakerException"]
SAGEMAKER_SDK_ERRORS = ["SageMaker.SageMakerException"]
AUTOSCALING_ERRORS = [
    "ApplicationAutoScaling.ConcurrentUpdateException",
    "ApplicationAutoScaling.InternalServiceException",
]
CODEBUILD_ERRORS = ["CodeBuild.AccountLimitExceededException", "CodeBuild.ThrottlingException"]

#: (errors, first interval, attempts, backoff) per kind of task.
RETRIES: dict[str, tuple[list[str], Duration, int, float]] = {
    "lambda": (LAMBDA_SERVICE_ERRORS, Duration.seconds(2), 6, 2),
    "sagemaker": (SAGEMAKER_OPTIMIZED_ERRORS, Duration.seconds(5), 4, 2),
    "sagemaker-sdk": (SAGEMAKER_SDK_ERRORS, Duration.seconds(5), 4, 2),
    "codebuild": (CODEBUILD_ERRORS, Duration.seconds(5), 4, 2),
    "autoscaling": (AUTOSCALING_ERRORS, Duration.seconds(5), 4, 2),
}


def retry_transient(state: sfn.TaskStateBase | sfn.CustomState, kind: str) -> None:
    """Add the retry for ``kind`` (a key of :data:`RETRIES`) to ``state``."""
    errors, interval, attempts, backoff = RETRIES[kind]
    state.add_retry(errors=errors, interval=interval, max_attempts=attempts, backoff_rate=backoff, jitter_strategy=None)
