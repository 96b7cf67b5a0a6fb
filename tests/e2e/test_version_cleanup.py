"""The clean-up after a deploy, offline with IAM enforced: old versions go, the live one stays, and a failed
clean-up never fails a run whose model is serving."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest

from offline.deploy.assembly import Assembly
from offline.run import processes
from offline.run.local_aws import ACCESS_KEY, SECRET_KEY
from offline.run.progress import silent
from offline.run.session import LocalPipeline, RunResult, feature_row
from tests.e2e.conftest import synthesized_app

pytestmark = pytest.mark.slow

ROWS = 4000
PRUNE_HANDLER = "lambdas.sagemaker_cleanup.app.handler"


def keeping(assembly: Assembly, versions: int) -> Assembly:
    """The assembly with the clean-up keeping ``versions`` (as ``keep_last_versions`` in cdk.json would)."""
    mutated = copy.deepcopy(assembly)
    functions = [
        resource
        for stack in mutated.stacks
        for resource in stack.template["Resources"].values()
        if resource["Type"] == "AWS::Lambda::Function" and resource["Properties"].get("Handler") == PRUNE_HANDLER
    ]
    (function,) = functions
    function["Properties"]["Environment"]["Variables"]["KEEP_LAST_VERSIONS"] = str(versions)
    return mutated


def invoke_endpoint(pipeline: LocalPipeline, dataset: str) -> int:
    """One prediction straight from the endpoint (SageMaker Runtime), as the operator: is the live model serving?"""
    runtime = boto3.client(
        "sagemaker-runtime",
        endpoint_url=os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"],
        region_name=pipeline.aws.region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
    )
    row = feature_row(pipeline.workdir / "datasets" / dataset / "test.csv")
    answer = runtime.invoke_endpoint(EndpointName="fraud-detector-dev", ContentType="text/csv", Body=row.encode())
    return int(answer["ResponseMetadata"]["HTTPStatusCode"])


def _names(sagemaker: Any) -> tuple[set[str], set[str]]:
    models = {m["ModelName"] for m in sagemaker.list_models()["Models"]}
    configs = {c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]}
    return models, configs


@dataclass
class TwoRuns:
    first: RunResult
    second: RunResult
    after_first: tuple[set[str], set[str]]
    after_second: tuple[set[str], set[str]]
    live_config: str
    denials: list[str]
    served: int


@pytest.fixture(scope="module")
def two_runs_keeping_one(tmp_path_factory: pytest.TempPathFactory) -> TwoRuns:
    workdir = tmp_path_factory.mktemp("cleanup")
    with LocalPipeline(keeping(synthesized_app(), 1), workdir=workdir, log=silent) as pipeline:
        sagemaker = pipeline.aws.client("sagemaker")
        first = pipeline.run(rows=ROWS, seed=21)
        after_first = _names(sagemaker)
        second = pipeline.run(rows=ROWS, seed=22)
        after_second = _names(sagemaker)
        live = str(sagemaker.describe_endpoint(EndpointName="fraud-detector-dev")["EndpointConfigName"])
        denials = [f"{d.principal}: {d.action} on {d.resource}" for d in pipeline.iam.authorizer.denials()]
        served = invoke_endpoint(pipeline, second.dataset)
    return TwoRuns(first, second, after_first, after_second, live, denials, served)


def test_the_second_deploy_deletes_the_first_runs_model_and_config(two_runs_keeping_one: TwoRuns) -> None:
    runs = two_runs_keeping_one
    # Given each run succeeded, the first leaving one model and one config
    assert runs.first.succeeded
    assert runs.second.succeeded
    first_models, first_configs = runs.after_first
    assert len(first_models) == len(first_configs) == 1
    # Then after the second, only the second's remain, and the endpoint serves that config
    models, configs = runs.after_second
    assert configs == {runs.live_config}
    assert len(models) == 1
    assert not models & first_models
    assert not configs & first_configs
    # And nothing IAM refused: the clean-up's role allows exactly what it did
    assert runs.denials == []
    assert runs.served == 200


def test_the_success_notification_reports_the_clean_up(two_runs_keeping_one: TwoRuns) -> None:
    (deployed,) = [n for n in two_runs_keeping_one.second.notifications if " deployed to " in n.subject]
    assert "deleted 1 endpoint configs and 1 models" in deployed.message
    assert f"kept for rollback: {two_runs_keeping_one.live_config}" in deployed.message


def test_a_failed_clean_up_leaves_the_run_succeeded_and_says_so(tmp_path: Path) -> None:
    # Given the clean-up Lambda fails the way AWS would (its handler raises)
    with LocalPipeline(synthesized_app(), workdir=tmp_path, fail_at="CleanUpOldVersions", log=silent) as pipeline:
        # When a run deploys
        result = pipeline.run(rows=ROWS, seed=23)
        served = invoke_endpoint(pipeline, result.dataset)
    # Then the run still succeeds, the new model serves, and the success message reports the failure
    assert result.main.status == "SUCCEEDED"
    assert served == 200
    (deployed,) = [n for n in result.notifications if " deployed to " in n.subject]
    assert "Clean-up of old versions:\n  FAILED" in deployed.message
    assert "Traceback" not in deployed.message
    assert not [n for n in result.notifications if "FAILED at" in n.subject]
    assert processes.running() == []
