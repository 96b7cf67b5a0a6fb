"""``describe-stacks`` answers the stacks offline mode deployed, with their outputs."""

from __future__ import annotations

import boto3  # type: ignore[import-untyped, unused-ignore]
from moto import mock_aws

from offline.services.cloudformation import StackOutput, register_stacks

ACCOUNT = "123456789012"
REGION = "eu-west-1"


@mock_aws
def test_a_deployed_stack_answers_its_outputs_as_the_readme_queries_them() -> None:
    # Given a deployed stack with two outputs, one exported
    outputs = [
        StackOutput("DataBucketName", "fraud-data-123", "Upload datasets here"),
        StackOutput("TopicArn", f"arn:aws:sns:{REGION}:{ACCOUNT}:t", export_name="FraudTopic"),
    ]
    register_stacks(account=ACCOUNT, region=REGION, stacks={"FraudPipeline-dev-Storage": outputs})
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    # When it is described by name
    (stack,) = cloudformation.describe_stacks(StackName="FraudPipeline-dev-Storage")["Stacks"]
    # Then it is complete and lists each output with its value
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    values = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert values == {"DataBucketName": "fraud-data-123", "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:t"}
    exports = {e["Name"]: e["Value"] for e in cloudformation.list_exports()["Exports"]}
    assert exports == {"FraudTopic": f"arn:aws:sns:{REGION}:{ACCOUNT}:t"}
