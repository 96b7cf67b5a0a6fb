"""Environment configuration: validated once, with errors that name the environment and key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import ConfigError, load_environment
from tests.infrastructure.conftest import CDK_CONTEXT


def _context(**dev: Any) -> dict[str, Any]:
    context = json.loads(json.dumps(CDK_CONTEXT))
    context["environments"]["dev"].update(dev)
    return context


@pytest.mark.parametrize("env_name", ["dev", "stage", "prod"])
def test_every_shipped_environment_is_valid(env_name: str) -> None:
    config = load_environment(CDK_CONTEXT, env_name)
    assert config.name == env_name
    assert config.stack_name("Pipeline") == f"FraudPipeline-{env_name}-Pipeline"
    assert config.endpoint_name == f"fraud-detector-{env_name}"


def test_prod_retains_data_and_retrains_weekly_while_dev_has_no_schedule() -> None:
    prod = load_environment(CDK_CONTEXT, "prod")
    dev = load_environment(CDK_CONTEXT, "dev")
    assert prod.is_production
    assert prod.schedule is not None
    assert not dev.is_production
    assert dev.schedule is None


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown environment 'qa'; cdk.json defines: dev, prod, stage"):
        load_environment(CDK_CONTEXT, "qa")


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"training_instance_type": "m5.large"}, "environments.dev.training_instance_type"),
        ({"training_instance_type": "ml.p3.2xlarge"}, "GPU instance"),
        ({"endpoint_initial_instance_count": 0}, "environments.dev.endpoint_initial_instance_count"),
        ({"schedule": "every monday"}, "environments.dev.schedule"),
        ({"log_retention_days": 10}, "environments.dev.log_retention_days"),
        ({"notification_emails": ["not-an-address"]}, "environments.dev.notification_emails"),
        ({"removal_policy": "snapshot"}, "environments.dev.removal_policy"),
        ({"region": "mars-1"}, "environments.dev.region"),
        ({"instance_typo": "ml.m5.large"}, "environments.dev.instance_typo"),
        ({"keep_last_versions": 0}, "environments.dev.keep_last_versions: Input should be greater than or equal to 1"),
        ({"keep_last_versions": "all"}, "environments.dev.keep_last_versions: Input should be a valid integer"),
        ({"queue_poll_seconds": 10}, "allows 8640 checks while waiting in line; keep it at most 1440"),
        (
            {"api_gateway_cloudwatch_role": "maybe"},
            "environments.dev.api_gateway_cloudwatch_role: Input should be 'create' or 'external'",
        ),
    ],
)
def test_a_bad_value_names_the_environment_and_key(override: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_environment(_context(**override), "dev")
    assert fragment in str(caught.value)


def test_missing_environments_block_is_reported() -> None:
    with pytest.raises(ConfigError, match="'environments' is missing"):
        load_environment({}, "dev")


def test_config_is_frozen() -> None:
    config = load_environment(CDK_CONTEXT, "dev")
    with pytest.raises(ValueError, match="frozen"):
        config.name = "other"


def test_clean_up_keeps_three_versions_unless_told_otherwise() -> None:
    context = _context()
    del context["environments"]["dev"]["keep_last_versions"]
    assert load_environment(context, "dev").keep_last_versions == 3
    assert load_environment(_context(keep_last_versions=7), "dev").keep_last_versions == 7
