"""Pins every moto internal offline mode patches or reads, so a moto upgrade that moves one fails here.

moto is pinned exactly in requirements-dev.txt; when bumping it, run this file first.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from typing import Any, cast

import moto
import pytest
from moto.awslambda.models import LambdaFunction
from moto.cloudwatch.models import CloudWatchBackend
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.config import default_user_config
from moto.core.responses import BaseResponse
from moto.iam.access_control import IAMRequest
from moto.iam.models import Role
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.s3 import notifications as s3_notifications
from moto.s3.models import FakeBucket
from moto.sagemaker.models import FakeEndpoint, FakeProcessingJob, FakeTrainingJob, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_callback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_lambda import (
    StateTaskServiceLambda,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.component.state.fail import state_fail
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.sts.models import STSBackend

from offline.moto_patches._registry import unpatched
from offline.moto_patches.stepfunctions_tasks import BOTO_CLIENT_MODULES


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_moto_is_the_pinned_version():
    assert moto.__version__ == "5.2.5"


def test_step_functions_execution_is_a_config_switch():
    assert "execute_state_machine" in default_user_config["stepfunctions"]
    assert parameters(ThreadedMotoServer.__init__) == ["self", "ip_address", "port", "verbose"]


def test_the_task_factory_picks_service_integrations_by_name():
    assert parameters(unpatched(state_task_factory, "state_task_service_for")) == ["service_name"]
    assert "state_task_service_for(service_name=" in inspect.getsource(state_task_factory.state_task_for)


def test_sync_integrations_use_the_callback_machinery_offline_mode_relies_on():
    callback = state_task_service_callback.StateTaskServiceCallback
    assert parameters(callback._build_sync_resolver) == [
        "self",
        "env",
        "resource_runtime_part",
        "normalised_parameters",
        "state_credentials",
    ]
    # Why the offline integrations also list WaitForTaskToken: the endpoint is always interrupted.
    assert "callback_endpoint.interrupt_all()" in inspect.getsource(callback._eval_integration_pattern)


def test_wait_and_retry_sleep_where_offline_mode_caps_them():
    assert parameters(unpatched(WaitFunction, "_wait_interval")) == ["self", "env", "wait_seconds"]
    assert "time.sleep(interval_seconds)" in inspect.getsource(retrier_decl.RetrierDecl._eval_body)


@pytest.mark.parametrize("owner", [StateTaskServiceLambda, state_task_service_aws_sdk.StateTaskServiceAwsSdk])
def test_service_tasks_evaluate_through_eval_service_task(owner: Any):
    assert parameters(unpatched(owner, "_eval_service_task")) == [
        "self",
        "env",
        "resource_runtime_part",
        "normalised_parameters",
        "state_credentials",
    ]


def test_lambda_resource_tasks_build_their_parameters_in_eval_parameters():
    assert parameters(unpatched(StateTaskLambda, "_eval_parameters")) == ["self", "env"]
    assert "_eval_parameters(env=env)" in inspect.getsource(StateTaskLambda._eval_execution)


def test_aws_sdk_error_names_come_from_a_module_table():
    assert isinstance(unpatched(state_task_service_aws_sdk, "_SERVICE_ERROR_NAMES"), dict)


def test_fail_and_parallel_states_name_errors_with_custom_error_name():
    assert "CustomErrorName(" in inspect.getsource(state_fail.StateFail._eval_state)
    assert "CustomErrorName(error_name=exit_error_name)" in inspect.getsource(branches_decl)


def test_lambda_invoke_has_the_patched_signature():
    assert parameters(unpatched(LambdaFunction, "invoke")) == ["self", "body", "request_headers", "response_headers"]


@pytest.mark.parametrize(
    "action",
    [
        "create_training_job",
        "create_processing_job",
        "stop_processing_job",
        "create_model",
        "create_endpoint_config",
        "create_endpoint",
        "delete_endpoint",
    ],
)
def test_sagemaker_responses_offline_mode_wraps(action: str):
    assert parameters(unpatched(SageMakerResponse, action)) == ["self"]


def test_moto_has_no_update_endpoint_of_its_own():
    assert unpatched(SageMakerResponse, "update_endpoint") is None


def test_sagemaker_records_offline_mode_reads_and_writes():
    backend_source = inspect.getsource(SageMakerModelBackend.__init__)
    for attribute in ("training_jobs", "_models", "endpoint_configs", "endpoints"):
        assert f"self.{attribute}" in backend_source
    assert parameters(SageMakerModelBackend.describe_endpoint_config) == ["self", "endpoint_config_name"]
    assert parameters(SageMakerModelBackend.describe_model) == ["self", "model_name"]
    job_source = inspect.getsource(FakeTrainingJob.__init__)
    for attribute in ("training_job_status", "secondary_status", "final_metric_data_list", "model_artifacts"):
        assert f"self.{attribute}" in job_source
    endpoint_source = inspect.getsource(FakeEndpoint.__init__)
    for attribute in ("endpoint_status", "failure_reason", "endpoint_config_name", "production_variants"):
        assert f"self.{attribute}" in endpoint_source


def test_describe_endpoint_returns_every_attribute_of_the_endpoint_record():
    # Why the LastDeploymentConfig offline mode sets on an endpoint appears in DescribeEndpoint.
    assert "self.gen_response_object()" in inspect.getsource(vars(FakeEndpoint)["response_object"].fget)
    assert "self.__dict__.items()" in inspect.getsource(FakeEndpoint.gen_response_object)
    assert FakeEndpoint.camelCase(cast(Any, None), "last_deployment_config") == "LastDeploymentConfig"
    assert "self.endpoints[endpoint_name].response_object" in inspect.getsource(SageMakerModelBackend.describe_endpoint)


def test_processing_jobs_are_records_whose_every_attribute_describe_returns():
    assert "self.processing_jobs" in inspect.getsource(SageMakerModelBackend.__init__)
    job_source = inspect.getsource(FakeProcessingJob.__init__)
    for attribute in (
        "processing_job_name",
        "processing_job_status",
        "processing_end_time",
        "last_modified_time",
        "role_arn",
        "app_specification",
        "processing_inputs",
        "processing_output_config",
        "stopping_condition",
    ):
        assert f"self.{attribute}" in job_source
    # Why the runner's Environment, ProcessingResources, ProcessingStartTime and FailureReason
    # appear in DescribeProcessingJob: the answer is built from the record's attributes.
    assert "self.gen_response_object()" in inspect.getsource(vars(FakeProcessingJob)["response_object"].fget)
    assert "self.__dict__.items()" in inspect.getsource(FakeProcessingJob.gen_response_object)


def test_s3_sends_eventbridge_notifications_through_one_function():
    assert parameters(unpatched(s3_notifications, "_send_event_bridge_message")) == [
        "account_id",
        "bucket",
        "event_name",
        "key",
    ]
    assert "_send_event_bridge_message(" in inspect.getsource(s3_notifications.send_event)


def test_requests_are_authorized_through_one_mixin_method():
    assert parameters(unpatched(ActionAuthenticatorMixin, "_authenticate_and_authorize_action")) == [
        "self",
        "iam_request_cls",
        "resource",
    ]
    source = inspect.getsource(BaseResponse.call_action)
    assert "self._authenticate_and_authorize_normal_action(resource)" in source


def test_moto_resolves_signing_keys_and_checks_signatures_in_its_iam_request():
    assert parameters(IAMRequest.__init__) == [
        "self",
        "account_id",
        "method",
        "path",
        "data",
        "body",
        "headers",
        "action",
    ]
    assert parameters(IAMRequest.check_signature) == ["self"]


def test_sts_sessions_are_created_and_listed_by_the_backend():
    assert parameters(STSBackend.assume_role) == [
        "self",
        "region_name",
        "role_session_name",
        "role_arn",
        "policy",
        "duration",
        "external_id",
    ]
    assert "self.assumed_roles" in inspect.getsource(STSBackend.__init__)


def test_roles_keep_inline_and_managed_policies_where_offline_iam_reads_them():
    source = inspect.getsource(Role.__init__)
    for attribute in ("self.policies", "self.managed_policies", "self.assume_role_policy_document"):
        assert attribute in source


def test_task_credentials_come_from_one_method():
    assert parameters(unpatched(StateTask, "_eval_state_credentials")) == ["self", "env"]
    assert [field.name for field in dataclasses.fields(StateCredentials)] == ["role_arn"]


@pytest.mark.parametrize("module", BOTO_CLIENT_MODULES)
def test_every_module_that_makes_task_clients_imports_boto_client_for(module: str):
    function = unpatched(importlib.import_module(module), "boto_client_for")
    assert parameters(function) == ["region", "service", "state_credentials"]


def test_lambda_integration_names_client_errors_in_one_static_method():
    assert parameters(unpatched(StateTaskServiceLambda, "_error_cause_from_client_error")) == ["client_error"]


def test_executions_are_started_with_the_name_as_second_argument():
    assert parameters(unpatched(StepFunctionsParserBackend, "start_execution"))[:3] == [
        "self",
        "state_machine_arn",
        "name",
    ]


def test_s3_asks_the_bucket_for_its_policy_decision():
    assert parameters(unpatched(FakeBucket, "get_permission")) == ["self", "action", "resource"]


def test_setting_an_alarm_state_goes_through_the_backend():
    assert parameters(unpatched(CloudWatchBackend, "set_alarm_state")) == [
        "self",
        "alarm_name",
        "reason",
        "reason_data",
        "state_value",
    ]


# --- The model registry (offline/moto_patches/model_registry.py) ----------------------------------
# Its imports stay in this block, so that the block can be read (and moved) on its own.


@pytest.mark.parametrize("action", ["create_model_package", "update_model_package"])
def test_model_package_responses_offline_mode_wraps(action: str):
    assert parameters(unpatched(SageMakerResponse, action)) == ["self"]


def test_moto_still_clears_what_update_model_package_is_not_given():
    # The reason for the patch: when moto keeps unspecified fields itself, the patch can go.
    source = inspect.getsource(SageMakerModelBackend.update_model_package)
    assert "model_package.approval_description = approval_description" in source
    assert "model_package.customer_metadata_properties = customer_metadata_properties" in source


def test_model_packages_keep_what_the_registry_patch_reads_and_writes():
    from moto.sagemaker.models import ModelPackage

    source = inspect.getsource(ModelPackage.__init__)
    for attribute in (
        "model_package_group_name",
        "model_approval_status",
        "approval_description",
        "customer_metadata_properties",
        "inference_specification",
        "creation_time",
        "last_modified_time",
        "arn",
    ):
        assert f"self.{attribute}" in source
    assert parameters(ModelPackage.set_model_approval_status) == ["self", "model_approval_status"]
    assert parameters(ModelPackage.add_additional_inference_specifications) == [
        "self",
        "additional_inference_specifications_to_add",
    ]
    assert parameters(ModelPackage.modifications_done) == ["self"]
    assert parameters(ModelPackage.gen_response_object) == ["self"]
    assert parameters(SageMakerModelBackend.describe_model_package) == ["self", "model_package_name"]


def test_create_model_package_answers_with_its_arn_in_an_action_result():
    from moto.core.responses import ActionResult

    assert 'ActionResult({"ModelPackageArn": model_package_arn})' in inspect.getsource(
        unpatched(SageMakerResponse, "create_model_package")
    )
    assert isinstance(inspect.getattr_static(ActionResult, "result"), property)


# --- Metrics, alarm evaluation and Application Auto Scaling (issue 10) -----------------------------
# offline/services/cloudwatch_metrics.py, endpoint_metrics.py, alarm_evaluation.py, scaling_advice.py,
# application_autoscaling.py and offline/moto_patches/application_autoscaling.py, cloudwatch.py.
# Its imports stay in this block, so that the block can be read (and moved) on its own.


def test_metric_datapoints_are_kept_as_offline_mode_writes_and_reads_them() -> None:
    from moto.cloudwatch.models import MetricAggregatedDatum, MetricDatum, MetricDatumBase

    assert parameters(CloudWatchBackend.put_metric_data) == ["self", "namespace", "metric_data"]
    assert "self.metric_data" in inspect.getsource(CloudWatchBackend.__init__)
    put = inspect.getsource(CloudWatchBackend.put_metric_data)
    for key in ('"StatisticValues"', '"SampleCount"', '"Timestamp"', '"Unit"', '"Value"'):
        assert key in put
    for attribute in ("namespace", "name", "timestamp", "dimensions", "unit"):
        assert f"self.{attribute}" in inspect.getsource(MetricDatumBase.__init__)
    assert "self.value" in inspect.getsource(MetricDatum.__init__)
    for attribute in ("min", "max", "sample_count", "sum"):
        assert f"self.{attribute}" in inspect.getsource(MetricAggregatedDatum.__init__)


def test_get_metric_statistics_answers_periods_of_datapoints_offline_mode_filters() -> None:
    from moto.cloudwatch.models import Statistics

    assert parameters(unpatched(CloudWatchBackend, "get_metric_statistics")) == [
        "self",
        "namespace",
        "metric_name",
        "start_time",
        "end_time",
        "period",
        "stats",
        "dimensions",
        "unit",
    ]
    # Why the patch exists: moto keeps a datapoint whose dimensions include the requested ones.
    assert "md.filter(None, None, dimensions)" in inspect.getsource(
        unpatched(CloudWatchBackend, "get_metric_statistics")
    )
    assert "self.metric_data" in inspect.getsource(Statistics.__init__)
    assert "self.metric_data" in inspect.getsource(vars(Statistics)["metric_single_values_list"].fget)


def test_alarms_keep_the_definition_offline_mode_evaluates() -> None:
    from moto.cloudwatch.models import Alarm

    source = inspect.getsource(Alarm.__init__)
    for attribute in (
        "name",
        "namespace",
        "metric_name",
        "metric_data_queries",
        "comparison_operator",
        "evaluation_periods",
        "datapoints_to_alarm",
        "period",
        "threshold",
        "statistic",
        "extended_statistic",
        "dimensions",
        "unit",
        "treat_missing_data",
        "evaluate_low_sample_count_percentile",
        "state_value",
        "state_reason",
    ):
        assert f"self.{attribute} =" in source
    assert "self.alarms" in inspect.getsource(CloudWatchBackend.__init__)


def test_aws_sdk_tasks_name_their_boto3_service_in_one_method() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )

    assert parameters(unpatched(StateTaskService, "_get_boto_service_name")) == ["self", "boto_service_name"]
    aws_sdk = state_task_service_aws_sdk.StateTaskServiceAwsSdk
    assert "self._get_boto_service_name()" in inspect.getsource(unpatched(aws_sdk, "_eval_service_task"))
    assert "_normalise_service_error_name(" in inspect.getsource(aws_sdk._from_error)


def test_application_autoscaling_keeps_targets_and_policies_where_offline_mode_reads_them() -> None:
    from moto.applicationautoscaling.models import (
        ApplicationAutoscalingBackend,
        FakeApplicationAutoscalingPolicy,
        FakeScalableTarget,
    )

    assert parameters(unpatched(ApplicationAutoscalingBackend, "register_scalable_target")) == [
        "self",
        "namespace",
        "r_id",
        "dimension",
        "min_capacity",
        "max_capacity",
        "role_arn",
        "suspended_state",
    ]
    assert "return target" in inspect.getsource(unpatched(ApplicationAutoscalingBackend, "register_scalable_target"))
    assert parameters(ApplicationAutoscalingBackend.describe_scalable_targets) == [
        "self",
        "namespace",
        "r_ids",
        "dimension",
    ]
    assert "self.policies" in inspect.getsource(ApplicationAutoscalingBackend.__init__)
    for attribute in ("service_namespace", "resource_id", "min_capacity", "max_capacity", "role_arn"):
        assert f"self.{attribute}" in inspect.getsource(FakeScalableTarget.__init__)
    policy = inspect.getsource(FakeApplicationAutoscalingPolicy.__init__)
    for attribute in ("policy_name", "policy_type", "resource_id", "scalable_dimension", "service_namespace"):
        assert f"self.{attribute}" in policy
    assert "self.target_tracking_scaling_policy_configuration = policy_body" in policy


def test_roles_are_created_and_listed_by_the_iam_backend() -> None:
    from moto.iam.models import IAMBackend

    assert parameters(IAMBackend.create_role) == [
        "self",
        "role_name",
        "assume_role_policy_document",
        "path",
        "permissions_boundary",
        "description",
        "tags",
        "max_session_duration",
        "linked_service",
    ]
    assert parameters(IAMBackend.get_roles) == ["self"]
