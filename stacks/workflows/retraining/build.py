"""Build stage: both container images in parallel, each skipped when ECR already has its source-hash tag."""

from __future__ import annotations

from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.components.task_retries import retry_transient

RUN = "$.run"


def build_images(scope: Construct, training: codebuild.IProject, inference: codebuild.IProject) -> sfn.Parallel:
    parallel = sfn.Parallel(scope, "BuildImages", result_path=sfn.JsonPath.DISCARD)
    parallel.branch(_build_branch(scope, "Training", "training", training))
    parallel.branch(_build_branch(scope, "Inference", "inference", inference))
    return parallel


def _build_branch(scope: Construct, label: str, key: str, project: codebuild.IProject) -> sfn.Choice:
    build = tasks.CodeBuildStartBuild(
        scope,
        f"Build{label}Image",
        project=project,
        integration_pattern=sfn.IntegrationPattern.RUN_JOB,
        environment_variables_override={
            "IMAGE_TAG": codebuild.BuildEnvironmentVariable(value=sfn.JsonPath.string_at(f"{RUN}.code.{key}.image_tag"))
        },
        result_selector={"build_id": sfn.JsonPath.string_at("$.Build.Id")},
    )
    retry_transient(build, "codebuild")
    return (
        sfn.Choice(scope, f"Check{label}Image")
        .when(sfn.Condition.boolean_equals(f"{RUN}.code.{key}.build_needed", True), build)
        .otherwise(sfn.Pass(scope, f"{label}ImageUpToDate"))
    )
