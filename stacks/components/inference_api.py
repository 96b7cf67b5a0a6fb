"""The prediction API: API Gateway (REST) → the inference proxy Lambda → the SageMaker endpoint."""

from __future__ import annotations

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
from training.feature_schema import FEATURES, N_FEATURES


def _request_model_schema() -> apigw.JsonSchema:
    """The JSON body schema, generated from the shared feature schema (API Gateway validates it)."""
    number = apigw.JsonSchema(type=apigw.JsonSchemaType.NUMBER)
    by_name = apigw.JsonSchema(
        type=apigw.JsonSchemaType.OBJECT,
        properties={
            f.name: apigw.JsonSchema(type=apigw.JsonSchemaType.NUMBER, minimum=f.minimum, maximum=f.maximum)
            for f in FEATURES
        },
        required=[f.name for f in FEATURES],
        additional_properties=False,
    )
    as_list = apigw.JsonSchema(
        type=apigw.JsonSchemaType.ARRAY, items=number, min_items=N_FEATURES, max_items=N_FEATURES
    )
    return apigw.JsonSchema(
        schema=apigw.JsonSchemaVersion.DRAFT4,
        title="PredictRequest",
        type=apigw.JsonSchemaType.OBJECT,
        required=["instances"],
        properties={
            "instances": apigw.JsonSchema(
                type=apigw.JsonSchemaType.ARRAY, min_items=1, items=apigw.JsonSchema(one_of=[as_list, by_name])
            )
        },
    )


class InferenceApi(Construct):
    """``POST /predict`` with IAM (SigV4) auth or an API key, throttling, validation, logs and alarms."""

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
                stage_name="v1",
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
        validator = apigw.RequestValidator(
            self,
            "Validator",
            rest_api=self.api,
            validate_request_body=True,
            validate_request_parameters=True,
        )
        model = self.api.add_model("PredictRequest", content_type="application/json", schema=_request_model_schema())
        auth = apigw.AuthorizationType.NONE if config.api_key_required else apigw.AuthorizationType.IAM
        self.predict = self.api.root.add_resource("predict").add_method(
            "POST",
            apigw.LambdaIntegration(self.proxy.function, proxy=True),
            authorization_type=auth,
            api_key_required=config.api_key_required,
            request_validator=validator,
            request_models={"application/json": model},
            request_parameters={"method.request.header.Content-Type": True},
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
            "AwsSolutions-COG4",
            "Callers are services signing with SigV4 (IAM auth) or holding an API key, not Cognito users",
        )
        if config.api_key_required:
            acknowledge(
                self.api,
                "AwsSolutions-APIG4",
                "This environment is configured with api_key_required: callers authenticate with an API key",
            )
