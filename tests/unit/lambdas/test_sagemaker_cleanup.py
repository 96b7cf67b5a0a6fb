"""``sagemaker_cleanup``: old versions are pruned after a deploy; everything goes when the stack is deleted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped, unused-ignore]
from botocore.stub import Stubber  # type: ignore[import-untyped, unused-ignore]
from moto import mock_aws
from moto.cloudformation.models import cloudformation_backends

from lambdas.sagemaker_cleanup import app
from lambdas.sagemaker_cleanup.custom_resource import ResponseNotDeliveredError, put_response
from lambdas.sagemaker_cleanup.logic import CleanupIncompleteError, delete_endpoint, prune
from lambdas.sagemaker_cleanup.models import CleanupSettings, CloudFormationResponse
from tests.unit.lambdas.conftest import ACCOUNT, REGION, FakeLambdaContext

ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker"
ENDPOINT = "fraud-detector-dev"
SETTINGS = CleanupSettings(environment="dev", name_prefix="fraud-dev-", endpoint_name=ENDPOINT, keep_last_versions=3)
EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:Workflow:run"


def plenty_of_time() -> float:
    return 600.0


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def sagemaker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto SageMaker, with the function's environment set as the stack sets it."""
    for name, value in {
        "ENVIRONMENT": "dev",
        "NAME_PREFIX": "fraud-dev-",
        "ENDPOINT_NAME": ENDPOINT,
        "KEEP_LAST_VERSIONS": "3",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("sagemaker", region_name=REGION)


def deploy_runs(sagemaker: Any, runs: int, *, prefix: str = "fraud-dev-") -> list[tuple[str, str]]:
    """What ``runs`` pipeline runs leave behind: one model and one endpoint config each, oldest first."""
    created = []
    for run in range(runs):
        model, config = f"{prefix}model-run{run}-0a1b2c3d", f"{prefix}config-run{run}-0a1b2c3d"
        sagemaker.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "image:tag"})
        sagemaker.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model,
                    "InstanceType": "ml.t2.medium",
                    "InitialInstanceCount": 1,
                }
            ],
        )
        created.append((model, config))
    return created


def model_names(sagemaker: Any) -> set[str]:
    return {m["ModelName"] for m in sagemaker.list_models()["Models"]}


def config_names(sagemaker: Any) -> set[str]:
    return {c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]}


class Refusing:
    """A SageMaker client that refuses one operation (for one name, or for all), as IAM would."""

    def __init__(self, client: Any, operation: str, name: str | None = None) -> None:
        self._client = client
        self._operation = operation
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        method = getattr(self._client, attribute)
        if attribute != self._operation:
            return method

        def refuse(**kwargs: Any) -> Any:
            if self._name is None or self._name in kwargs.values():
                raise ClientError(
                    {"Error": {"Code": "AccessDeniedException", "Message": f"not authorized to perform: {attribute}"}},
                    attribute,
                )
            return method(**kwargs)

        return refuse

    def get_paginator(self, operation: str) -> Any:
        if operation == self._operation:
            return _RefusingPaginator(operation)
        return self._client.get_paginator(operation)


@dataclass
class _RefusingPaginator:
    operation: str

    def paginate(self, **_kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, self.operation)


@dataclass
class CloudFormationEndpoint:
    """A local stand-in for the pre-signed S3 URL CloudFormation waits on: records every PUT."""

    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    content_types: list[str | None] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, in order (then 200)


@pytest.fixture
def response_url() -> Iterator[CloudFormationEndpoint]:
    received: CloudFormationEndpoint

    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            status = received.statuses.pop(0) if received.statuses else 200
            if status == 200:
                received.bodies.append(json.loads(body))
                received.content_types.append(self.headers.get("Content-Type"))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    received = CloudFormationEndpoint(url=f"http://127.0.0.1:{server.server_address[1]}/cfn-response?signature=x")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received
    server.shutdown()
    server.server_close()


def stack(status: str) -> str:
    """A moto stack in ``status``: the stack that holds the custom resource."""
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    stack_id = cloudformation.create_stack(StackName="FraudPipeline-dev-Pipeline", TemplateBody=json.dumps(template))[
        "StackId"
    ]
    # moto finishes every operation at once; set the status CloudFormation is in while it calls us.
    cloudformation_backends[ACCOUNT][REGION].stacks[stack_id].status = status
    return str(stack_id)


def cloudformation_event(request_type: str, stack_id: str, url: str, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:teardown",
        "ResponseURL": url,
        "StackId": stack_id,
        "RequestId": "5d478078-13e9-baf0-464a-7ef285ecc786",
        "LogicalResourceId": "SageMakerCleanupTeardown1A2B3C4D",
        "ResourceType": "Custom::SageMakerTeardown",
        "ResourceProperties": {"ServiceToken": "…", "EndpointName": ENDPOINT},
        **extra,
    }


# -- prune: after a verified deploy -----------------------------------------------------------


def test_prune_deletes_what_is_older_than_the_last_n_and_keeps_the_newest_for_rollback(sagemaker: Any) -> None:
    # Given five runs, the newest serving, and another environment's versions in the same account
    runs = deploy_runs(sagemaker, 5)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=runs[-1][1])
    others = deploy_runs(sagemaker, 1, prefix="fraud-dev2-")
    # When the clean-up keeps the last 3
    report = prune(sagemaker, SETTINGS, live_config=runs[-1][1], time_left=plenty_of_time)
    # Then the two oldest runs' model and config are gone, and the three newest remain
    assert config_names(sagemaker) == {c for _, c in runs[2:]} | {others[0][1]}
    assert model_names(sagemaker) == {m for m, _ in runs[2:]} | {others[0][0]}
    # And the report says what it deleted and what it kept
    assert report.deleted_endpoint_configs == [runs[0][1], runs[1][1]]
    assert report.deleted_models == [runs[0][0], runs[1][0]]
    assert (report.deleted_endpoint_config_count, report.deleted_model_count) == (2, 2)
    assert report.kept_endpoint_configs == [runs[4][1], runs[3][1], runs[2][1]]


def test_prune_never_deletes_the_live_config_or_its_model_however_old(sagemaker: Any) -> None:
    # Given an operator rolled the endpoint back to the oldest of five configs
    runs = deploy_runs(sagemaker, 5)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=runs[0][1])
    settings = SETTINGS.model_copy(update={"keep_last_versions": 2})
    # When a clean-up keeps the last 2 (the run reports the newest as the one it deployed)
    prune(sagemaker, settings, live_config=runs[-1][1], time_left=plenty_of_time)
    # Then the endpoint still has its config and model, besides the two newest
    assert config_names(sagemaker) == {runs[0][1], runs[3][1], runs[4][1]}
    assert model_names(sagemaker) == {runs[0][0], runs[3][0], runs[4][0]}
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == runs[0][1]


def test_prune_with_fewer_versions_than_n_deletes_nothing(sagemaker: Any) -> None:
    runs = deploy_runs(sagemaker, 2)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=runs[-1][1])
    report = prune(sagemaker, SETTINGS, live_config=runs[-1][1], time_left=plenty_of_time)
    assert report.deleted_endpoint_config_count == report.deleted_model_count == 0
    assert len(config_names(sagemaker)) == len(model_names(sagemaker)) == 2


def test_a_refused_deletion_does_not_stop_the_others_and_is_reported_without_a_traceback(sagemaker: Any) -> None:
    # Given IAM refuses the deletion of one old model
    runs = deploy_runs(sagemaker, 5)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=runs[-1][1])
    refusing = Refusing(sagemaker, "delete_model", runs[0][0])
    # When the clean-up runs
    with pytest.raises(CleanupIncompleteError) as caught:
        prune(refusing, SETTINGS, live_config=runs[-1][1], time_left=plenty_of_time)
    # Then everything else old is deleted, and the error names the model and the refusal
    assert model_names(sagemaker) == {runs[0][0]} | {m for m, _ in runs[2:]}
    assert config_names(sagemaker) == {c for _, c in runs[2:]}
    message = str(caught.value)
    assert runs[0][0] in message
    assert "AccessDeniedException" in message
    assert "Traceback" not in message


def test_a_failed_lookup_deletes_nothing(sagemaker: Any) -> None:
    # Given the endpoint cannot be described, so the live configs are unknown
    runs = deploy_runs(sagemaker, 5)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=runs[0][1])
    # When the clean-up runs
    with pytest.raises(CleanupIncompleteError, match="Nothing was deleted"):
        prune(Refusing(sagemaker, "describe_endpoint"), SETTINGS, live_config=runs[-1][1], time_left=plenty_of_time)
    # Then nothing is gone (the endpoint's old config above all)
    assert len(config_names(sagemaker)) == len(model_names(sagemaker)) == 5


def test_prune_stops_before_the_timeout_and_says_what_is_left(sagemaker: Any) -> None:
    runs = deploy_runs(sagemaker, 5)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=runs[-1][1])
    with pytest.raises(CleanupIncompleteError, match="stopped before the function's timeout with 4 left"):
        prune(sagemaker, SETTINGS, live_config=runs[-1][1], time_left=lambda: 1.0)
    assert len(config_names(sagemaker)) == 5


def test_the_state_machine_step_returns_the_report(sagemaker: Any, lambda_context: FakeLambdaContext) -> None:
    # Given the payload the state machine sends after VerifyLiveConfig
    runs = deploy_runs(sagemaker, 4)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=runs[-1][1])
    payload = {"execution_arn": EXECUTION, "live_endpoint_config": runs[-1][1]}
    # When the handler runs with the stack's environment (keep 3)
    result = app.handler(payload, lambda_context)
    # Then the oldest version is gone and the result is the JSON report
    assert result["deleted_endpoint_configs"] == [runs[0][1]]
    assert result["deleted_models"] == [runs[0][0]]
    assert json.loads(json.dumps(result)) == result


# -- teardown: the custom resource ------------------------------------------------------------


def test_a_stack_deletion_deletes_the_endpoint_configs_and_models_and_answers_success(
    sagemaker: Any, response_url: CloudFormationEndpoint, lambda_context: FakeLambdaContext
) -> None:
    # Given a live endpoint, three runs' versions and another environment's, while the stack is being deleted
    runs = deploy_runs(sagemaker, 3)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=runs[-1][1])
    others = deploy_runs(sagemaker, 1, prefix="fraud-prod-")
    event = cloudformation_event(
        "Delete", stack("DELETE_IN_PROGRESS"), response_url.url, PhysicalResourceId="teardown-dev"
    )
    # When CloudFormation sends Delete
    app.teardown_handler(event, lambda_context)
    # Then this environment's endpoint, configs and models are gone, the other's untouched
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert config_names(sagemaker) == {others[0][1]}
    assert model_names(sagemaker) == {others[0][0]}
    # And CloudFormation got SUCCESS for this request, same physical id, as the pre-signed URL requires
    (body,) = response_url.bodies
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "teardown-dev"
    assert body["RequestId"] == event["RequestId"]
    assert body["LogicalResourceId"] == event["LogicalResourceId"]
    assert body["StackId"] == event["StackId"]
    assert body["Reason"] == f"Deleted endpoint {ENDPOINT}, 3 endpoint configs and 3 models"
    assert response_url.content_types == [""]


@pytest.mark.parametrize("status", ["UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"])
def test_a_delete_that_is_not_the_stacks_deletion_keeps_everything(
    sagemaker: Any, response_url: CloudFormationEndpoint, lambda_context: FakeLambdaContext, status: str
) -> None:
    # Given the resource is removed by an update (rollback of the deploy that added it, or a new logical id)
    runs = deploy_runs(sagemaker, 2)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=runs[-1][1])
    event = cloudformation_event("Delete", stack(status), response_url.url, PhysicalResourceId="teardown-dev")
    # When CloudFormation sends Delete
    app.teardown_handler(event, lambda_context)
    # Then the environment keeps serving, and CloudFormation is told why nothing was deleted
    assert [e["EndpointName"] for e in sagemaker.list_endpoints()["Endpoints"]] == [ENDPOINT]
    assert len(config_names(sagemaker)) == len(model_names(sagemaker)) == 2
    (body,) = response_url.bodies
    assert body["Status"] == "SUCCESS"
    assert status in body["Reason"]


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_create_and_update_do_nothing_and_keep_the_physical_id(
    sagemaker: Any, response_url: CloudFormationEndpoint, lambda_context: FakeLambdaContext, request_type: str
) -> None:
    runs = deploy_runs(sagemaker, 1)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=runs[0][1])
    extra = {"PhysicalResourceId": "teardown-dev"} if request_type == "Update" else {}
    event = cloudformation_event(request_type, stack("UPDATE_IN_PROGRESS"), response_url.url, **extra)
    app.teardown_handler(event, lambda_context)
    (body,) = response_url.bodies
    assert body["Status"] == "SUCCESS"
    expected_id = "teardown-dev" if request_type == "Update" else f"{event['LogicalResourceId']}-sagemaker-teardown"
    assert body["PhysicalResourceId"] == expected_id
    assert len(config_names(sagemaker)) == len(model_names(sagemaker)) == 1


def test_a_failing_teardown_still_answers_cloudformation_with_the_reason(
    sagemaker: Any, response_url: CloudFormationEndpoint, lambda_context: FakeLambdaContext, monkeypatch: Any
) -> None:
    # Given IAM refuses deleting the endpoint during the stack's deletion
    runs = deploy_runs(sagemaker, 1)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=runs[0][1])
    event = cloudformation_event(
        "Delete", stack("DELETE_IN_PROGRESS"), response_url.url, PhysicalResourceId="teardown-dev"
    )
    real_client = app.client
    monkeypatch.setattr(
        app,
        "client",
        lambda service: (
            Refusing(real_client(service), "delete_endpoint") if service == "sagemaker" else real_client(service)
        ),
    )
    # When CloudFormation sends Delete
    result = app.teardown_handler(event, lambda_context)
    # Then the handler does not raise: CloudFormation gets FAILED at once (the stack deletion never hangs)
    (body,) = response_url.bodies
    assert body["Status"] == result["Status"] == "FAILED"
    assert body["PhysicalResourceId"] == "teardown-dev"
    # And the reason names the refusal and what to do, without a stack trace
    assert "AccessDeniedException" in body["Reason"]
    assert "delete the stack again" in body["Reason"]
    assert "Traceback" not in body["Reason"]
    assert 'File "' not in body["Reason"]


def test_a_broken_environment_still_answers_cloudformation(
    sagemaker: Any, response_url: CloudFormationEndpoint, lambda_context: FakeLambdaContext, monkeypatch: Any
) -> None:
    monkeypatch.delenv("ENDPOINT_NAME")
    event = cloudformation_event("Delete", stack("DELETE_IN_PROGRESS"), response_url.url, PhysicalResourceId="x")
    app.teardown_handler(event, lambda_context)
    (body,) = response_url.bodies
    assert body["Status"] == "FAILED"
    assert "ENDPOINT_NAME" in body["Reason"]


def test_a_malformed_request_is_answered_failed(response_url: CloudFormationEndpoint, lambda_context: Any) -> None:
    event = {"RequestType": "Destroy", "ResponseURL": response_url.url, "StackId": "s", "RequestId": "r"}
    app.teardown_handler(event, lambda_context)
    (body,) = response_url.bodies
    assert body["Status"] == "FAILED"
    assert body["Reason"] == "Malformed custom resource request"


def test_the_response_is_retried_when_the_url_answers_5xx(response_url: CloudFormationEndpoint) -> None:
    # Given the pre-signed URL answers 503 once
    response_url.statuses = [503]
    response = CloudFormationResponse(
        Status="SUCCESS", PhysicalResourceId="p", StackId="s", RequestId="r", LogicalResourceId="l"
    )
    # When the response is sent
    put_response(response_url.url, response, sleep=lambda _s: None)
    # Then it arrives on the second attempt
    assert [b["Status"] for b in response_url.bodies] == ["SUCCESS"]


def test_a_4xx_from_the_url_is_not_retried(response_url: CloudFormationEndpoint) -> None:
    response_url.statuses = [403, 200]
    response = CloudFormationResponse(
        Status="SUCCESS", PhysicalResourceId="p", StackId="s", RequestId="r", LogicalResourceId="l"
    )
    with pytest.raises(ResponseNotDeliveredError, match="HTTP 403"):
        put_response(response_url.url, response, sleep=lambda _s: None)
    assert response_url.bodies == []


def test_deleting_an_endpoint_waits_out_an_update_sagemaker_refuses_to_interrupt() -> None:
    # Given an endpoint that is Updating, and SageMaker refusing the deletion until it is InService
    client = boto3.client("sagemaker", region_name=REGION)
    naps: list[float] = []
    with Stubber(client) as stub:
        stub.add_client_error(
            "delete_endpoint", service_error_code="ValidationException", service_message="Endpoint is Updating"
        )
        stub.add_response(
            "describe_endpoint",
            {
                "EndpointName": ENDPOINT,
                "EndpointArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{ENDPOINT}",
                "EndpointStatus": "Updating",
                "CreationTime": "2026-11-23T12:00:00Z",
                "LastModifiedTime": "2026-11-23T12:00:00Z",
            },
            {"EndpointName": ENDPOINT},
        )
        stub.add_response("delete_endpoint", {}, {"EndpointName": ENDPOINT})
        # When it is deleted
        deleted = delete_endpoint(client, ENDPOINT, time_left=plenty_of_time, sleep=naps.append)
        # Then it waited once and deleted it
        stub.assert_no_pending_responses()
    assert deleted is True
    assert len(naps) == 1
