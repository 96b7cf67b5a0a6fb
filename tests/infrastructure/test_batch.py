"""The batch state machine's definition: its steps in order, its transform job and its error handling.

Its trigger and IAM are in ``test_batch_trigger_and_iam.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from stacks.components.task_retries import LAMBDA_SERVICE_ERRORS, SAGEMAKER_OPTIMIZED_ERRORS, SAGEMAKER_SDK_ERRORS
from tests.infrastructure.conftest import Synthesized, make_app

#: The failure route's own states, the same in every state machine.
FAILURE_ROUTE = {"NotifyFailure", "NotifyFailureFallback", "PipelineFailed"}
HAPPY_PATH = [
    "PrepareBatch",
    "FindBatchVersion",
    "BatchVersionFound",
    "DescribeBatchVersion",
    "CreateBatchModel",
    "Transform",
    "SummarizeBatch",
    "NotifyBatch",
    "DeleteBatchModel",
    "BatchScored",
]
AFTER_MODEL = ["Transform", "SummarizeBatch", "NotifyBatch"]


@pytest.fixture(scope="module")
def batch(dev: Synthesized) -> dict[str, Any]:
    return dev.state_machine_definition("batch")


# -- the definition --------------------------------------------------------------------------------


def test_a_batch_is_prepared_scored_counted_notified_and_its_model_deleted_in_that_order(
    batch: dict[str, Any],
) -> None:
    states = batch["States"]
    assert batch["StartAt"] == "PrepareBatch"
    path, current = [], batch["StartAt"]
    while current:
        path.append(current)
        state = states[current]
        found = [c["Next"] for c in state.get("Choices", []) if c.get("IsPresent")]
        current = found[0] if found else state.get("Next", "")
    assert path == HAPPY_PATH
    assert states["BatchScored"]["Type"] == "Succeed"


def test_the_version_is_the_newest_approved_one_of_the_environments_group(batch: dict[str, Any]) -> None:
    find = batch["States"]["FindBatchVersion"]
    assert find["Resource"].endswith(":states:::aws-sdk:sagemaker:listModelPackages")
    assert find["Parameters"] == {
        "ModelPackageGroupName": "fraud-dev-models",
        "ModelApprovalStatus": "Approved",
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
        "MaxResults": 1,
    }
    describe = batch["States"]["DescribeBatchVersion"]
    assert describe["Parameters"] == {"ModelPackageName.$": "$.version.arns[0]"}
    # Only fields every package has, the version as text (the container reports it as MODEL_VERSION)
    assert describe["ResultSelector"] == {
        "arn.$": "$.ModelPackageArn",
        "version.$": "States.Format('{}', $.ModelPackageVersion)",
    }


def test_no_approved_version_fails_the_run_saying_so(batch: dict[str, Any]) -> None:
    states = batch["States"]
    choice = states["BatchVersionFound"]
    assert choice["Choices"] == [{"Variable": "$.version.arns[0]", "IsPresent": True, "Next": "DescribeBatchVersion"}]
    failure = states[choice["Default"]]
    assert failure["Next"] == "NotifyFailure"
    assert failure["Parameters"]["failed_state"] == "FindBatchVersion"
    assert failure["Parameters"]["error"]["Error"] == "NoApprovedVersion"
    assert failure["Parameters"]["error"]["Cause"].startswith("no Approved version to score with")


def test_the_model_is_created_from_the_approved_package_under_the_batch_prefix(batch: dict[str, Any]) -> None:
    create = batch["States"]["CreateBatchModel"]
    assert create["Resource"].endswith(":states:::sagemaker:createModel")
    parameters = create["Parameters"]
    assert parameters["ModelName.$"] == "$.run.names.model"
    assert "SageMakerExecutionRole" in parameters["ExecutionRoleArn"]
    assert parameters["PrimaryContainer"] == {
        "ModelPackageName.$": "$.version.arn",
        "Environment": {"MODEL_VERSION.$": "$.version.version"},
    }


def test_the_transform_splits_lines_batches_records_joins_the_input_and_encrypts(
    dev: Synthesized, batch: dict[str, Any]
) -> None:
    transform = batch["States"]["Transform"]
    assert transform["Resource"].endswith(":states:::sagemaker:createTransformJob.sync")
    parameters = transform["Parameters"]
    assert parameters["TransformJobName.$"] == "$.run.names.transform_job"
    assert parameters["ModelName.$"] == "$.run.names.model"
    assert parameters["TransformInput"] == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": "$.run.input_uri"}},
        "ContentType": "text/csv",
        "SplitType": "Line",
    }
    assert parameters["BatchStrategy"] == "MultiRecord"
    assert parameters["DataProcessing"] == {"JoinSource": "Input"}
    output = parameters["TransformOutput"]
    assert {k: v for k, v in output.items() if k != "KmsKeyId"} == {
        "S3OutputPath.$": "$.run.output_uri",
        "Accept": "text/csv",
        "AssembleWith": "Line",
    }
    assert "ExportsOutputFnGetAttKey" in output["KmsKeyId"]
    # SageMaker sets the batch variables itself; the job adds none
    assert "Environment" not in parameters
    assert transform["TimeoutSeconds"] == dev.config.batch.max_runtime_seconds
    assert transform["ResultSelector"] == {"job_name.$": "$.TransformJobName", "status.$": "$.TransformJobStatus"}


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_the_transform_uses_the_environments_batch_settings(env_name: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(env_name)
    settings = synthesized.config.batch
    parameters = synthesized.state_machine_definition("batch")["States"]["Transform"]["Parameters"]
    assert parameters["MaxPayloadInMB"] == settings.max_payload_mb
    assert parameters["MaxConcurrentTransforms"] == settings.max_concurrent_transforms
    assert parameters["TransformResources"] == {
        "InstanceType": settings.instance_type,
        "InstanceCount": settings.instance_count,
    }


def test_a_payload_the_transform_cannot_take_fails_the_synth_naming_the_settings(tmp_path: Any) -> None:
    batch = {"instance_type": "ml.m5.large", "max_payload_mb": 60, "max_concurrent_transforms": 2}
    with pytest.raises(ValueError, match=r"batch\.max_payload_mb \(60\) x batch\.max_concurrent_transforms \(2\)"):
        make_app("dev", tmp_path, batch=batch)


def test_the_summary_gets_the_run_the_version_and_the_job(batch: dict[str, Any]) -> None:
    summary = batch["States"]["SummarizeBatch"]
    # The function's answer alone becomes $.batch (payload_response_only: the parameters are the payload)
    assert summary["Parameters"] == {
        "run.$": "$.run",
        "version.$": "$.version",
        "transform.$": "$.transform",
    }
    assert summary["ResultPath"] == "$.batch"
    notify = batch["States"]["NotifyBatch"]
    assert notify["Parameters"]["Payload"] == {
        "kind": "batch_scored",
        "execution_arn.$": "$$.Execution.Id",
        "state.$": "$",
    }
    delete = batch["States"]["DeleteBatchModel"]
    assert delete["Resource"].endswith(":states:::aws-sdk:sagemaker:deleteModel")
    assert delete["Parameters"] == {"ModelName.$": "$.run.names.model"}


# -- errors ----------------------------------------------------------------------------------------


def test_every_task_catches_all_errors_into_the_failure_route(batch: dict[str, Any]) -> None:
    states = batch["States"]
    tasks = [name for name, state in states.items() if state["Type"] == "Task" and name not in FAILURE_ROUTE]
    assert set(HAPPY_PATH) - {"BatchVersionFound", "BatchScored"} <= set(tasks)
    for name in tasks:
        last = states[name]["Catch"][-1]
        assert last["ErrorEquals"] == ["States.ALL"], name
        assert last["ResultPath"] == "$.error"
        record = states[last["Next"]]
        assert record["Result"] == name
        assert record["Next"] == "NotifyFailure", name
    assert states["NotifyFailure"]["Next"] == "PipelineFailed"
    assert states["PipelineFailed"]["Type"] == "Fail"


def test_a_failure_once_the_model_exists_deletes_it_before_notifying(batch: dict[str, Any]) -> None:
    states = batch["States"]
    for name in AFTER_MODEL:
        first = states[name]["Catch"][0]
        assert first["ErrorEquals"] == ["States.TaskFailed", "States.Timeout"], name
        assert first["ResultPath"] == "$.error"
        record = states[first["Next"]]
        # The state's own name is what the notification reports
        assert record["Result"] == name
        assert record["ResultPath"] == "$.failed_state"
        assert record["Next"] == "DeleteBatchModelAfterFailure"
    delete = states["DeleteBatchModelAfterFailure"]
    assert delete["Parameters"] == {"ModelName.$": "$.run.names.model"}
    assert delete["Next"] == "NotifyFailure"
    # A failed delete keeps the original error for the notification
    assert delete["Catch"][0] == {
        "ErrorEquals": ["States.TaskFailed", "States.Timeout"],
        "ResultPath": "$.cleanup_error",
        "Next": "NotifyFailure",
    }
    # Before the model exists there is nothing to delete
    for name in ("PrepareBatch", "FindBatchVersion", "DescribeBatchVersion", "CreateBatchModel"):
        assert len(states[name]["Catch"]) == 1, name


@pytest.mark.parametrize(
    ("state", "errors"),
    [
        ("PrepareBatch", LAMBDA_SERVICE_ERRORS),
        ("FindBatchVersion", SAGEMAKER_SDK_ERRORS),
        ("DescribeBatchVersion", SAGEMAKER_SDK_ERRORS),
        ("CreateBatchModel", SAGEMAKER_OPTIMIZED_ERRORS),
        ("Transform", SAGEMAKER_OPTIMIZED_ERRORS),
        ("SummarizeBatch", LAMBDA_SERVICE_ERRORS),
        ("NotifyBatch", LAMBDA_SERVICE_ERRORS),
        ("DeleteBatchModel", SAGEMAKER_SDK_ERRORS),
    ],
)
def test_each_task_retries_only_the_service_errors_of_its_integration(
    batch: dict[str, Any], state: str, errors: list[str]
) -> None:
    (retry,) = batch["States"][state]["Retry"]
    # A failed transform job (States.TaskFailed) is never re-run
    assert retry["ErrorEquals"] == errors


def test_batch_state_names_are_unique_across_the_app(dev: Synthesized, batch: dict[str, Any]) -> None:
    others = {
        name
        for which in ("retraining", "deployment", "drift")
        for name in dev.state_machine_definition(which)["States"]
    }
    assert (set(batch["States"]) - FAILURE_ROUTE) & others == set()
