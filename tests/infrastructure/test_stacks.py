"""Fine-grained assertions on the resources, properties and IAM of each stack."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from stacks.reviewed_wildcards import ACTIONS_ON_ASSIGNED_IDS, ACTIONS_REQUIRING_STAR
from tests.infrastructure.conftest import Synthesized


def _statements(template: Template) -> list[dict[str, Any]]:
    policies = template.find_resources("AWS::IAM::Policy")
    return [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


# -- storage ---------------------------------------------------------------------------------------


def test_stateful_resources_keep_their_logical_ids(dev: Synthesized) -> None:
    # Renaming any of these would replace a bucket, repository, key or topic.
    for resource_type, logical_prefixes in {
        "AWS::S3::Bucket": ("DataBucket", "ArtifactsBucket", "AccessLogs"),
        "AWS::ECR::Repository": ("TrainingImages", "InferenceImages"),
        "AWS::KMS::Key": ("Key",),
        "AWS::SNS::Topic": ("Alerts",),
    }.items():
        ids = set(dev.storage.find_resources(resource_type))
        for prefix in logical_prefixes:
            assert any(i.startswith(prefix) for i in ids), (prefix, ids)


def test_data_bucket_is_encrypted_versioned_private_logged_and_sends_events(dev: Synthesized) -> None:
    dev.storage.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    Match.object_like({"ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"})})
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "data/"}),
            "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}},
        },
    )


def test_every_bucket_denies_insecure_transport(dev: Synthesized) -> None:
    policies = dev.storage.find_resources("AWS::S3::BucketPolicy")
    buckets = dev.storage.find_resources("AWS::S3::Bucket")
    assert len(policies) == len(buckets) == 3
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )


def test_repositories_scan_on_push_keep_tags_immutable_and_expire_old_images(dev: Synthesized) -> None:
    repositories = dev.storage.find_resources("AWS::ECR::Repository")
    assert len(repositories) == 2
    for repository in repositories.values():
        properties = repository["Properties"]
        assert properties["ImageScanningConfiguration"] == {"ScanOnPush": True}
        assert properties["ImageTagMutability"] == "IMMUTABLE"
        rules = json.loads(properties["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
        assert rules[0]["selection"]["countNumber"] == 20


def test_topic_is_encrypted_and_tls_only(dev: Synthesized) -> None:
    dev.storage.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    dev.storage.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )


def test_prod_retains_stateful_resources_and_dev_does_not(dev: Synthesized, prod: Synthesized) -> None:
    for resource_type in ("AWS::S3::Bucket", "AWS::ECR::Repository", "AWS::KMS::Key"):
        for resource in prod.storage.find_resources(resource_type).values():
            assert resource["DeletionPolicy"] == "Retain", resource_type
        for resource in dev.storage.find_resources(resource_type).values():
            assert resource["DeletionPolicy"] == "Delete", resource_type


def test_key_rotates_and_lets_cloudwatch_alarms_publish(dev: Synthesized) -> None:
    dev.storage.has_resource_properties(
        "AWS::KMS::Key",
        {
            "EnableKeyRotation": True,
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [Match.object_like({"Principal": {"Service": "cloudwatch.amazonaws.com"}})]
                )
            },
        },
    )


# -- pipeline --------------------------------------------------------------------------------------


def test_no_policy_grants_a_wildcard_action(dev: Synthesized) -> None:
    for template in (dev.storage, dev.pipeline, dev.inference):
        for statement in _statements(template):
            assert "*" not in _actions(statement)
            assert all(not a.endswith(":*") for a in _actions(statement)), statement


def test_pass_role_is_only_for_the_sagemaker_role_and_only_to_sagemaker(dev: Synthesized) -> None:
    # One statement per state machine: retraining and drift pass it to jobs, deployment and batch to models.
    passes = [s for s in _statements(dev.pipeline) if "iam:PassRole" in _actions(s)]
    assert len(passes) == len(dev.pipeline.find_resources("AWS::StepFunctions::StateMachine"))
    for statement in passes:
        assert "SageMakerExecutionRole" in statement["Resource"]["Fn::GetAtt"][0]
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}


def test_sagemaker_permissions_are_scoped_to_the_environment(dev: Synthesized) -> None:
    sagemaker = [s for s in _statements(dev.pipeline) if any(a.startswith("sagemaker:") for a in _actions(s))]
    # The List* actions are the SageMaker actions AWS authorizes on "*" only (they list names): the state
    # machine's lookup and the clean-up's listings. The policy minimizer may merge them with other star-only
    # actions, never with a scoped one.
    on_star = [s for s in sagemaker if s["Resource"] == "*"]
    scoped = [s for s in sagemaker if s["Resource"] != "*"]
    assert {a for s in on_star for a in _actions(s) if a.startswith("sagemaker:")} == {
        "sagemaker:listEndpoints",
        "sagemaker:ListEndpointConfigs",
        "sagemaker:ListModels",
        "sagemaker:listModelPackages",
        "sagemaker:ListModelPackages",
    }
    # Besides those, only the scalable-target actions, whose target ARN ends in an ID assigned at registration.
    allowed_on_star = {x.lower() for x in ACTIONS_REQUIRING_STAR | ACTIONS_ON_ASSIGNED_IDS}
    assert all(a.lower() in allowed_on_star for s in on_star for a in _actions(s))
    resources = json.dumps([s["Resource"] for s in scoped])
    assert "training-job/fraud-dev-*" in resources
    assert "processing-job/fraud-dev-*" in resources
    assert "model-package/fraud-dev-models/*" in resources
    assert "endpoint/fraud-detector-dev" in resources
    assert '"*"' not in resources


def test_no_role_uses_sagemaker_full_access(dev: Synthesized) -> None:
    rendered = json.dumps(dev.pipeline.to_json())
    assert "AmazonSageMakerFullAccess" not in rendered


def test_image_builds_are_privileged_codebuild_projects_with_the_base_image(dev: Synthesized) -> None:
    projects = dev.pipeline.find_resources("AWS::CodeBuild::Project")
    assert len(projects) == 2
    dockerfiles = set()
    for project in projects.values():
        environment = project["Properties"]["Environment"]
        assert environment["PrivilegedMode"] is True
        variables = {v["Name"]: v["Value"] for v in environment["EnvironmentVariables"]}
        assert set(variables) == {
            "IMAGE_KIND",
            "IMAGE_REPO_URI",
            "IMAGE_TAG",
            "BASE_IMAGE",
            "BASE_IMAGE_REGISTRY",
            "DOCKERFILE",
        }
        assert variables["DOCKERFILE"] == f"{variables['IMAGE_KIND']}/Dockerfile"
        dockerfiles.add(variables["DOCKERFILE"])
        assert "sagemaker-scikit-learn:1.9-0-cpu-py3" in json.dumps(variables["BASE_IMAGE"])
        assert project["Properties"]["Source"]["Type"] == "S3"
        assert "docker build" in project["Properties"]["Source"]["BuildSpec"]
        assert project["Properties"]["EncryptionKey"]
    assert dockerfiles == {"training/Dockerfile", "inference/Dockerfile"}


def test_build_roles_may_ask_ecr_whether_their_tag_exists(dev: Synthesized) -> None:
    # Given the buildspec's check before a push to an immutable tag (finding: it always fell through)
    buildspec = next(iter(dev.pipeline.find_resources("AWS::CodeBuild::Project").values()))["Properties"]["Source"]
    assert "aws ecr describe-images" in buildspec["BuildSpec"]
    # Then each build role may call ecr:DescribeImages on its own repository
    for logical_id, policy in dev.pipeline.find_resources("AWS::IAM::Policy").items():
        if "ImageBuildProjectRole" not in logical_id:
            continue
        describe = [
            s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "ecr:DescribeImages" in _actions(s)
        ]
        assert len(describe) == 1, logical_id
        assert "ExportsOutputFnGetAtt" in json.dumps(describe[0]["Resource"]), logical_id


def test_pinned_region_resolves_the_base_image_at_synth(tmp_path: Any) -> None:
    eu = Synthesized("dev", tmp_path, region="eu-west-1", account="123456789012")
    rendered = json.dumps(eu.pipeline.find_resources("AWS::CodeBuild::Project"))
    assert "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3" in rendered


def test_lambdas_are_traced_python_functions_with_their_own_log_groups(dev: Synthesized) -> None:
    functions = dev.pipeline.find_resources("AWS::Lambda::Function")
    handlers = {f["Properties"]["Handler"] for f in functions.values()}
    assert handlers == {
        "lambdas.batch_scoring.app.prepare_handler",
        "lambdas.batch_scoring.app.summary_handler",
        "lambdas.drift_decision.app.handler",
        "lambdas.explain_rollback.app.handler",
        "lambdas.initiate_pipeline.app.handler",
        "lambdas.notify.app.handler",
        "lambdas.prepare_drift.app.handler",
        "lambdas.quality_gate.app.handler",
        "lambdas.resolve_deployment.app.handler",
        "lambdas.sagemaker_cleanup.app.handler",
        "lambdas.sagemaker_cleanup.app.teardown_handler",
    }
    for function in functions.values():
        properties = function["Properties"]
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["Runtime"].startswith("python3.")
        assert "LoggingConfig" in properties
        assert "AWSLambdaPowertoolsPythonV3" in json.dumps(properties["Layers"])
    dev.pipeline.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 7})


def test_initiate_gets_its_settings_and_source_hashes(dev: Synthesized) -> None:
    functions = dev.pipeline.find_resources(
        "AWS::Lambda::Function", {"Properties": {"Handler": "lambdas.initiate_pipeline.app.handler"}}
    )
    (function,) = functions.values()
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["DATA_PREFIX"] == "incoming/"
    assert variables["ENDPOINT_NAME"] == "fraud-detector-dev"
    assert variables["NAME_PREFIX"] == "fraud-dev-"
    assert variables["QUEUE_POLL_SECONDS"] == str(dev.config.queue_poll_seconds)
    assert variables["QUEUE_MAX_WAIT_SECONDS"] == str(dev.config.queue_max_wait_seconds)
    assert len(variables["TRAINING_SOURCE_HASH"]) == 64
    assert variables["TRAINING_SOURCE_HASH"] != variables["INFERENCE_SOURCE_HASH"]


def test_settings_parameters_hold_hyperparameters_and_run_settings(dev: Synthesized) -> None:
    parameters = [p["Properties"]["Value"] for p in dev.pipeline.find_resources("AWS::SSM::Parameter").values()]
    documents = [json.loads(p) for p in parameters]
    hyperparameters = next(d for d in documents if "learning_rate" in d)
    settings = next(d for d in documents if "training_instance_type" in d)
    assert all(isinstance(v, str) for v in hyperparameters.values())
    assert settings["training_instance_type"] == dev.config.training_instance_type
    assert settings["endpoint_initial_instance_count"] == dev.config.endpoint_initial_instance_count


def test_state_machine_logs_everything_and_is_traced(dev: Synthesized) -> None:
    dev.pipeline.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": True}),
            "TracingConfiguration": {"Enabled": True},
        },
    )


def test_a_completed_dataset_starts_the_state_machine_saying_why(dev: Synthesized) -> None:
    rules = dev.pipeline.find_resources("AWS::Events::Rule", {"Properties": {"EventPattern": Match.any_value()}})
    # The retraining rule (the batch rule has its own test, tests/infrastructure/test_batch.py)
    (rule,) = [
        r
        for r in rules.values()
        if r["Properties"]["EventPattern"]["source"] == ["aws.s3"]
        and "WorkflowStateMachine" in json.dumps(r["Properties"]["Targets"])
    ]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["Object Created"]
    # Only a dataset's completion marker, never its data files, starts a run
    assert pattern["detail"]["object"] == {"key": [{"wildcard": "incoming/*/_SUCCESS"}]}
    (target,) = rule["Properties"]["Targets"]
    assert "StateMachine" in json.dumps(target["Arn"])
    transformer = target["InputTransformer"]
    assert transformer["InputPathsMap"] == {
        "detail-bucket-name": "$.detail.bucket.name",
        "detail-object-key": "$.detail.object.key",
    }
    assert '"trigger":"s3"' in transformer["InputTemplate"]


def test_schedule_exists_only_where_configured(dev: Synthesized, prod: Synthesized) -> None:
    dev.pipeline.resource_properties_count_is("AWS::Events::Rule", {"ScheduleExpression": Match.any_value()}, 0)
    prod.pipeline.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": prod.config.schedule,
            "Targets": [Match.object_like({"Input": Match.string_like_regexp('"trigger":"schedule"')})],
        },
    )


# -- inference -------------------------------------------------------------------------------------


def _predict_methods(template: Template) -> dict[str, dict[str, Any]]:
    """The methods on the ``/predict`` resource, by HTTP method."""
    (resource_id,) = [
        logical_id
        for logical_id, resource in template.find_resources("AWS::ApiGateway::Resource").items()
        if resource["Properties"]["PathPart"] == "predict"
    ]
    return {
        m["Properties"]["HttpMethod"]: m["Properties"]
        for m in template.find_resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["ResourceId"] == {"Ref": resource_id}
    }


def test_predict_is_iam_authorized_and_every_method_reaches_the_proxy(dev: Synthesized) -> None:
    # Given the synthesized API's methods on /predict
    methods = _predict_methods(dev.inference)
    # Then POST, and every other method (ANY), go to the proxy Lambda, which scores POST and answers
    # any other method with a 405 JSON naming POST; all are IAM-authorized
    assert set(methods) == {"POST", "ANY"}
    for method in methods.values():
        assert method["AuthorizationType"] == "AWS_IAM"
        assert method["Integration"]["Type"] == "AWS_PROXY"
    assert methods["POST"]["Integration"]["Uri"] == methods["ANY"]["Integration"]["Uri"]


def test_request_bodies_are_validated_in_one_place_the_proxy(dev: Synthesized) -> None:
    # Given the synthesized API
    methods = _predict_methods(dev.inference)
    # Then API Gateway holds no validator or body model (its generic "Invalid request body" would
    # shadow the proxy's precise messages); the shared schema in the proxy is the only validation
    dev.inference.resource_count_is("AWS::ApiGateway::RequestValidator", 0)
    dev.inference.resource_count_is("AWS::ApiGateway::Model", 0)
    for method in methods.values():
        assert "RequestValidatorId" not in method
        assert "RequestModels" not in method


def test_a_body_over_api_gateways_limit_gets_a_413_json_naming_it(dev: Synthesized) -> None:
    from training.feature_schema import REQUEST_TOO_LARGE_MESSAGE

    # Given the gateway response API Gateway sends for a body over its 10 MB limit
    (response,) = [
        r["Properties"]
        for r in dev.inference.find_resources("AWS::ApiGateway::GatewayResponse").values()
        if r["Properties"]["ResponseType"] == "REQUEST_TOO_LARGE"
    ]
    # Then it is a 413 in the API's error format, naming the limit and pointing to batch scoring
    assert response["StatusCode"] == "413"
    body = json.loads(response["ResponseTemplates"]["application/json"])
    assert body == {"error": REQUEST_TOO_LARGE_MESSAGE}
    assert "10 MB" in body["error"]
    assert "6 MB" in body["error"]
    assert "batch transform" in body["error"]


def test_the_local_api_emulates_what_the_synthesized_api_does(dev: Synthesized) -> None:
    from offline.services.api_gateway import RestApiSpec

    # Given the REST API as synthesized, read the way offline mode reads a template
    synthesized = RestApiSpec.from_template(dev.inference.to_json())
    # Then the local API's defaults (stage, routes, gateway responses) are the same
    assert synthesized == RestApiSpec()
    assert synthesized.stage == "v1"


def test_stage_is_throttled_traced_and_access_logged(dev: Synthesized) -> None:
    dev.inference.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": [
                Match.object_like(
                    {
                        "ThrottlingRateLimit": dev.config.api_throttle_rate_limit,
                        "ThrottlingBurstLimit": dev.config.api_throttle_burst_limit,
                    }
                )
            ],
        },
    )


def test_proxy_may_only_invoke_this_environments_endpoint(dev: Synthesized) -> None:
    invokes = [s for s in _statements(dev.inference) if "sagemaker:InvokeEndpoint" in _actions(s)]
    assert len(invokes) == 1
    assert "endpoint/fraud-detector-dev" in json.dumps(invokes[0]["Resource"])
    dev.inference.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "lambdas.inference_proxy.app.handler",
            "Environment": {"Variables": Match.object_like({"ENDPOINT_NAME": "fraud-detector-dev"})},
        },
    )


def test_alarms_on_5xx_latency_and_proxy_errors_notify_the_topic(dev: Synthesized) -> None:
    alarms = dev.inference.find_resources("AWS::CloudWatch::Alarm")
    metrics = {a["Properties"]["MetricName"] for a in alarms.values()}
    assert metrics == {"5XXError", "Latency", "Errors"}
    for alarm in alarms.values():
        assert "Alerts" in json.dumps(alarm["Properties"]["AlarmActions"])


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_api_is_named_for_its_environment_and_its_alarms_watch_that_name(
    env_name: str, request: pytest.FixtureRequest
) -> None:
    # Given one environment's synthesized Inference stack
    synthesized: Synthesized = request.getfixturevalue(env_name)
    # When the REST API and the alarms on API Gateway metrics are read
    (api,) = synthesized.inference.find_resources("AWS::ApiGateway::RestApi").values()
    api_alarms = synthesized.inference.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"Namespace": "AWS/ApiGateway"}}
    )
    # Then the API is named after the environment
    assert api["Properties"]["Name"] == f"fraud-pipeline-{env_name}"
    # And both API alarms (5xx, latency) filter on exactly that name, so another environment's API cannot trip them
    assert {a["Properties"]["MetricName"] for a in api_alarms.values()} == {"5XXError", "Latency"}
    for alarm in api_alarms.values():
        assert alarm["Properties"]["Dimensions"] == [{"Name": "ApiName", "Value": api["Properties"]["Name"]}]


def test_environments_sharing_an_account_have_distinct_api_names(dev: Synthesized, prod: Synthesized) -> None:
    # Given dev and prod synthesized from the same cdk.json
    # When their REST API names are compared
    names = {
        s.config.name: next(iter(s.inference.find_resources("AWS::ApiGateway::RestApi").values()))["Properties"]["Name"]
        for s in (dev, prod)
    }
    # Then they differ, so the ApiName dimension tells their metrics apart
    assert names["dev"] != names["prod"]


def test_api_key_option_adds_a_usage_plan(tmp_path: Any) -> None:
    keyed = Synthesized("dev", tmp_path, api_key_required=True)
    for method in _predict_methods(keyed.inference).values():
        assert method["ApiKeyRequired"] is True
    keyed.inference.resource_count_is("AWS::ApiGateway::UsagePlan", 1)
    keyed.inference.resource_count_is("AWS::ApiGateway::UsagePlanKey", 1)
