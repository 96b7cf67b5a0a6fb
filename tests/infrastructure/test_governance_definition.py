"""The retraining state machine ends in the registry, and only the registry's events deploy."""

from __future__ import annotations

from typing import Any

from tests.infrastructure.conftest import Synthesized


def _next_states(states: dict[str, Any], start: str) -> list[str]:
    """The straight path from ``start`` (following Next, stopping at the first state without one)."""
    path = [start]
    while "Next" in states[path[-1]]:
        path.append(states[path[-1]]["Next"])
    return path


def test_retraining_trains_evaluates_gates_registers_and_notifies_but_never_deploys(
    retraining: dict[str, Any],
) -> None:
    states = retraining["States"]
    assert _next_states(states, "Train") == ["Train", "FindChampion", "ChampionExists"]
    assert _next_states(states, "Evaluate") == ["Evaluate", "Gate", "Register", "NotifyRegistered", "Registered"]
    assert states["Registered"]["Type"] == "Succeed"
    resources = {str(s.get("Resource", "")).rsplit(":", 1)[-1] for s in states.values()}
    assert not resources & {"createModel", "createEndpointConfig", "createEndpoint", "updateEndpoint"}
    assert "CreateEndpoint" not in states
    assert "CreateModel" not in states


def test_the_champion_is_the_newest_approved_version_of_the_environments_group(
    dev: Synthesized, retraining: dict[str, Any]
) -> None:
    states = retraining["States"]
    assert states["FindChampion"]["Parameters"] == {
        "ModelPackageGroupName": dev.config.model_package_group_name,
        "ModelApprovalStatus": "Approved",
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
        "MaxResults": 1,
    }
    (found,) = states["ChampionExists"]["Choices"]
    assert found == {"Variable": "$.champion.arns[0]", "IsPresent": True, "Next": "DescribeChampion"}
    assert states["ChampionExists"]["Default"] == "NoChampion"
    assert _next_states(states, "DescribeChampion")[:3] == ["DescribeChampion", "EvaluateAgainstChampion", "Evaluate"]
    assert _next_states(states, "NoChampion")[:3] == ["NoChampion", "EvaluateAlone", "Evaluate"]


def test_challenger_and_champion_are_scored_on_the_same_test_channel(retraining: dict[str, Any]) -> None:
    states = retraining["States"]
    with_champion = states["EvaluateAgainstChampion"]["Parameters"]["inputs"]
    alone = states["EvaluateAlone"]["Parameters"]["inputs"]
    assert [i["InputName"] for i in with_champion] == ["test", "challenger", "champion"]
    assert [i["InputName"] for i in alone] == ["test", "challenger"]
    uris = {i["InputName"]: i["S3Input"]["S3Uri.$"] for i in with_champion}
    assert uris == {
        "test": "$.run.data.test_uri",
        "challenger": "$.training.model_artifacts",
        "champion": "$.champion.model_data_url",
    }
    for item in with_champion:
        assert item["S3Input"]["LocalPath"] == f"/opt/ml/processing/input/{item['InputName']}"


def test_the_evaluation_runs_the_training_image_under_the_processing_contract(retraining: dict[str, Any]) -> None:
    parameters = retraining["States"]["Evaluate"]["Parameters"]
    assert parameters["ProcessingJobName.$"] == "$.run.names.evaluation_job"
    assert parameters["AppSpecification"] == {
        "ImageUri.$": "$.run.code.training.image_uri",
        "ContainerEntrypoint": ["python3", "-m", "training.evaluate"],
    }
    assert parameters["ProcessingInputs.$"] == "$.evaluation.inputs"
    (output,) = parameters["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"] == {
        "S3Uri.$": "$.run.evaluation_uri",
        "LocalPath": "/opt/ml/processing/evaluation",
        "S3UploadMode": "EndOfJob",
    }
    assert "KmsKeyId" in parameters["ProcessingOutputConfig"]
    assert parameters["Environment"]["CHAMPION_VERSION.$"] == "$.evaluation.champion_version"


def test_the_gate_reads_the_report_with_the_environments_settings(retraining: dict[str, Any]) -> None:
    payload = retraining["States"]["Gate"]["Parameters"]
    assert payload["report_uri.$"] == "States.Format('{}evaluation.json', $.run.evaluation_uri)"
    assert payload["settings.$"] == "$.run.settings.gate"
    assert payload["champion.$"] == "$.champion"
    assert retraining["States"]["Gate"]["ResultPath"] == "$.gate"


def test_register_records_status_image_artifact_metrics_and_lineage(
    dev: Synthesized, retraining: dict[str, Any]
) -> None:
    parameters = retraining["States"]["Register"]["Parameters"]
    assert parameters["ModelPackageGroupName"] == dev.config.model_package_group_name
    assert parameters["ModelApprovalStatus.$"] == "$.gate.approval_status"
    (container,) = parameters["InferenceSpecification"]["Containers"]
    assert container == {"Image.$": "$.run.code.inference.image_uri", "ModelDataUrl.$": "$.training.model_artifacts"}
    statistics = parameters["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics == {"ContentType": "application/json", "S3Uri.$": "$.gate.report_uri"}
    lineage = parameters["CustomerMetadataProperties"]
    assert {"run_id.$", "data_version.$", "code_version.$", "training_job.$", "mlflow_run_id.$"} <= set(lineage)


def test_the_approval_mode_and_gate_reach_the_run_settings(dev: Synthesized, prod: Synthesized) -> None:
    import json

    for synthesized, approval in ((dev, "auto"), (prod, "manual")):
        parameters = synthesized.pipeline.find_resources("AWS::SSM::Parameter")
        documents = [json.loads(p["Properties"]["Value"]) for p in parameters.values()]
        (settings,) = [d for d in documents if "gate" in d]
        assert settings["gate"]["approval"] == approval
        assert settings["gate"]["min_pr_auc"] == synthesized.config.quality_gate.min_pr_auc


def test_the_deployment_state_machine_starts_on_this_groups_approvals_and_rejections(dev: Synthesized) -> None:
    rules = dev.pipeline.find_resources("AWS::Events::Rule")
    (rule,) = [r for r in rules.values() if r["Properties"].get("EventPattern", {}).get("source") == ["aws.sagemaker"]]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["SageMaker Model Package State Change"]
    assert pattern["detail"] == {
        "ModelPackageGroupName": [dev.config.model_package_group_name],
        "ModelApprovalStatus": ["Approved", "Rejected"],
    }
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"]["Ref"].startswith("DeploymentStateMachine")


def test_deployment_resolves_then_deploys_or_skips(deployment: dict[str, Any]) -> None:
    states = deployment["States"]
    assert deployment["StartAt"] == "ResolveVersion"
    assert states["ResolveVersion"]["ResultPath"] == "$.run"
    assert states["ResolveVersion"]["Next"] == "DeployOrSkip"
    choices = {c["Next"]: c for c in states["DeployOrSkip"]["Choices"]}
    assert choices["CreateModel"] == {"Variable": "$.run.action", "StringEquals": "deploy", "Next": "CreateModel"}
    assert choices["NotifySkipped"]["BooleanEquals"] is True
    assert states["DeployOrSkip"]["Default"] == "NothingToDeploy"
    assert _next_states(states, "CreateModel")[:3] == ["CreateModel", "CreateEndpointConfig", "StartDeploy"]


def test_the_registry_is_one_group_per_environment_retained_in_prod(dev: Synthesized, prod: Synthesized) -> None:
    for synthesized, policy in ((dev, "Delete"), (prod, "Retain")):
        (group,) = synthesized.storage.find_resources("AWS::SageMaker::ModelPackageGroup").values()
        assert group["Properties"]["ModelPackageGroupName"] == f"fraud-{synthesized.config.name}-models"
        assert group["DeletionPolicy"] == policy
