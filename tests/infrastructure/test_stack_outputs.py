"""Deployed, a user finds everything from the stacks' outputs, and the README reads exactly those."""

from __future__ import annotations

import re
from typing import Any

from tests.infrastructure.conftest import REPO, Synthesized


def _outputs(template: Any) -> dict[str, Any]:
    return {key: output["Value"] for key, output in template.find_outputs("*").items()}


def test_the_pipeline_stack_outputs_the_bucket_state_machine_topic_parameters_and_endpoint(dev: Synthesized) -> None:
    outputs = _outputs(dev.pipeline)
    # The storage stack's bucket and topic come in through its exports
    assert "DataBucket" in outputs["DataBucket"]["Fn::ImportValue"]
    assert "Alerts" in outputs["AlertTopicArn"]["Fn::ImportValue"]
    # The pipeline's own resources by reference
    machines = dev.pipeline.find_resources("AWS::StepFunctions::StateMachine")
    (retraining,) = [m for m in machines if m.startswith("WorkflowStateMachine")]
    (deployment,) = [m for m in machines if m.startswith("DeploymentStateMachine")]
    assert outputs["StateMachineArn"] == {"Ref": retraining}
    assert outputs["DeploymentStateMachineArn"] == {"Ref": deployment}
    assert outputs["ModelPackageGroupName"] == "fraud-dev-models"
    parameters = dev.pipeline.find_resources("AWS::SSM::Parameter")
    assert outputs["HyperparametersParameter"]["Ref"] in parameters
    assert outputs["RunSettingsParameter"]["Ref"] in parameters
    assert "Hyperparameters" in outputs["HyperparametersParameter"]["Ref"]
    assert "RunSettings" in outputs["RunSettingsParameter"]["Ref"]
    assert outputs["EndpointName"] == "fraud-detector-dev"


def test_the_storage_stack_outputs_what_prod_retains(dev: Synthesized) -> None:
    outputs = _outputs(dev.storage)
    for key, resource_type in (
        ("DataBucket", "AWS::S3::Bucket"),
        ("ArtifactsBucket", "AWS::S3::Bucket"),
        ("AccessLogsBucket", "AWS::S3::Bucket"),
        ("TrainingRepositoryName", "AWS::ECR::Repository"),
        ("InferenceRepositoryName", "AWS::ECR::Repository"),
    ):
        assert outputs[key]["Ref"] in dev.storage.find_resources(resource_type), key
    (key_id,) = dev.storage.find_resources("AWS::KMS::Key")
    assert outputs["KeyArn"] == {"Fn::GetAtt": [key_id, "Arn"]}
    (topic_id,) = dev.storage.find_resources("AWS::SNS::Topic")
    assert outputs["AlertTopicArn"] == {"Ref": topic_id}


def test_every_output_the_readme_reads_exists(dev: Synthesized) -> None:
    # Given the README's commands, which read outputs with `stack_output <Stack> <OutputKey>`
    # or with a describe-stacks query of their own
    readme = (REPO / "README.md").read_text()
    used = set(re.findall(r"stack_output (Storage|Pipeline|Inference) (\w+)", readme))
    queried = set(re.findall(r"OutputKey=='(\w+)'", readme)) - {"$2"}
    assert ("Pipeline", "DataBucket") in used
    # Then each names an output of that stack (or, for a query, of one of the stacks)
    templates = {"Storage": dev.storage, "Pipeline": dev.pipeline, "Inference": dev.inference}
    for stack, key in sorted(used):
        assert key in _outputs(templates[stack]), f"README reads {key} from {stack}, which has no such output"
    every_output = {key for template in templates.values() for key in _outputs(template)}
    assert queried <= every_output, f"README queries outputs no stack has: {sorted(queried - every_output)}"
