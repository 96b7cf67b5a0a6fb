"""The prediction API: API Gateway (REST) → the inference proxy Lambda → the SageMaker endpoint.

Request bodies are validated in one place, the proxy Lambda, with the shared feature schema, so
the caller always gets its precise message ("row 3: feature 'amount' is out of range ...") and
never API Gateway's generic "Invalid request body". API Gateway keeps what only it can do: IAM
(or API key) auth, stage throttling, the ``v1`` stage, access logs, and its own payload limit.
"""

from __future__ import annotations

import json

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.components.nag import acknowledge
from stacks.components.python_function import PythonFunction
from stacks.config import EnvironmentConfig
from training.feature_schema import REQUEST_TOO_LARGE_MESSAGE

#: The stage: part of every URL (``https://<api>.execute-api.<region>.amazonaws.com/v1/predict``).
STAGE_NAME = "v1"


class InferenceApi(Construct):
    """``POST /v1/predict`` with IAM (SigV4) auth or an API key, throttling, logs and alarms.

    Every other method on ``/predict`` reaches the proxy too (``ANY``), which answers it with a 405
    JSON naming POST rather than API Gateway's "Missing Authentication Token". A body too large for
    the API gets a 413 JSON naming the limits (the ``REQUEST_TOO_LARGE`` gateway response).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        alarm_topic: sns.ITopic,
        log_retention: logs.RetentionDays,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.proxy = PythonFunction(
            self,
            "Proxy",
            name="inference_proxy",
            description="Validates prediction requests and forwards them to the SageMaker endpoint",
            environment={"ENDPOINT_NAME": config.endpoint_name, "ENVIRONMENT": config.name},
            log_retention=log_retention,
            removal_policy=removal_policy,
            powertools_layer_version=config.powertools_layer_version,
            timeout=Duration.seconds(29),
            memory_size=512,
        )
        self.proxy.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sagemaker:InvokeEndpoint"],
                resources=[
                    stack.format_arn(service="sagemaker", resource="endpoint", resource_name=config.endpoint_name)
                ],
            )
        )

        access_logs = logs.LogGroup(self, "AccessLogs", retention=log_retention, removal_policy=removal_policy)
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=config.api_name,
            description=f"Fraud predictions ({config.name})",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # The account-wide CloudWatch Logs role is owned once per account and region
            # (stacks/api_gateway_account_stack.py), never by an environment that can be destroyed.
            cloud_watch_role=False,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                throttling_rate_limit=config.api_throttle_rate_limit,
                throttling_burst_limit=config.api_throttle_burst_limit,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
                tracing_enabled=True,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        auth = apigw.AuthorizationType.NONE if config.api_key_required else apigw.AuthorizationType.IAM
        integration = apigw.LambdaIntegration(self.proxy.function, proxy=True)
        predict = self.api.root.add_resource("predict")
        self.predict = predict.add_method(
            "POST", integration, authorization_type=auth, api_key_required=config.api_key_required
        )
        self.other_methods = predict.add_method(
            "ANY", integration, authorization_type=auth, api_key_required=config.api_key_required
        )
        # API Gateway refuses a body over its 10 MB quota before the proxy runs, and cannot pass the proxy
        # an event over Lambda's 6 MB invocation payload (API Gateway Developer Guide, "Amazon API Gateway
        # quotas" and "Gateway response types"; Lambda Developer Guide, "Lambda quotas"). Its own answer
        # names the limits in the API's error format. The template is static JSON text: it holds no "$"
        # or "#", which the mapping template language would read.
        self.api.add_gateway_response(
            "RequestTooLarge",
            type=apigw.ResponseType.REQUEST_TOO_LARGE,
            status_code="413",
            templates={"application/json": json.dumps({"error": REQUEST_TOO_LARGE_MESSAGE})},
        )
        if config.api_key_required:
            key = self.api.add_api_key("ApiKey")
            plan = self.api.add_usage_plan(
                "UsagePlan",
                throttle=apigw.ThrottleSettings(
                    rate_limit=config.api_throttle_rate_limit, burst_limit=config.api_throttle_burst_limit
                ),
            )
            plan.add_api_key(key)
            plan.add_api_stage(stage=self.api.deployment_stage)

        five_minutes = Duration.minutes(5)
        alarm_action = cloudwatch_actions.SnsAction(alarm_topic)
        self.alarms: list[cloudwatch.Alarm] = []
        for alarm_id, description, metric, threshold, periods in (
            (
                "ServerErrors",
                "The prediction API answered with 5xx errors",
                self.api.metric_server_error(period=five_minutes, statistic="Sum"),
                5,
                1,
            ),
            (
                "Latency",
                "p99 latency of the prediction API is above 2 s",
                self.api.metric_latency(period=five_minutes, statistic="p99"),
                2000,
                3,
            ),
            (
                "ProxyErrors",
                "The inference proxy Lambda failed (it never raises on purpose)",
                self.proxy.function.metric_errors(period=five_minutes, statistic="Sum"),
                1,
                1,
            ),
        ):
            alarm = cloudwatch.Alarm(
                self,
                alarm_id,
                alarm_description=description,
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(alarm_action)
            self.alarms.append(alarm)

        acknowledge(
            self.api,
            "AwsSolutions-APIG3",
            "No WAF web ACL: the API is IAM-authorized (or API-key metered) and stage-throttled; "
            "attach an organisation's WAF ACL to the stage where policy requires it",
        )
        acknowledge(
            self.api,
            "AwsSolutions-APIG2",
            "Request bodies are validated in one place, the proxy Lambda, with the shared feature schema: "
            "callers get its precise 4xx message instead of API Gateway's generic 'Invalid request body'",
        )
        acknowledge(
            self.api,
            "AwsSolutions-COG4",
            "Callers are services signing with SigV4 (IAM auth) or holding an API key, not Cognito users",
        )
        if config.api_key_required:
            acknowledge(
                self.api,
                "AwsSolutions-APIG4",
                "This environment is configured with api_key_required: callers authenticate with an API key",
            )
