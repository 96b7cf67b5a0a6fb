"""An execution started without a name gets a UUID, as AWS names it, not moto's "None"."""

from __future__ import annotations

import json
import uuid

import boto3  # type: ignore[import-untyped, unused-ignore]
import pytest
from moto import mock_aws
from moto.core.config import default_user_config

from offline import moto_patches
from offline.run.active import activate
from tests.offline.services_stub import bare_services


@pytest.fixture
def executing_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's engine that runs definitions (the one offline mode uses), not its stub backend."""
    monkeypatch.setitem(default_user_config, "stepfunctions", {"execute_state_machine": True})


def test_an_unnamed_execution_is_named_with_a_uuid(executing_engine: None) -> None:
    moto_patches.install()
    activate(bare_services())
    try:
        with mock_aws():
            sfn = boto3.client("stepfunctions", region_name="us-east-1")
            machine = sfn.create_state_machine(
                name="m",
                definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
                roleArn="arn:aws:iam::123456789012:role/sfn",
            )["stateMachineArn"]
            # When two executions are started without --name
            first = sfn.start_execution(stateMachineArn=machine)["executionArn"]
            second = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    finally:
        activate(None)
    # Then each is named with its own UUID
    names = [arn.rsplit(":", 1)[-1] for arn in (first, second)]
    assert names[0] != names[1]
    for name in names:
        assert str(uuid.UUID(name)) == name
