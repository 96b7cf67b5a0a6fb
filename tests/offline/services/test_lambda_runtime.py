"""In-process Lambda invocation: environment, results and errors as the Lambda service reports them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from offline.services.lambda_runtime import LambdaRuntime, LambdaSpec


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LambdaRuntime:
    (tmp_path / "sample_handler.py").write_text(
        "import os\n"
        "def handler(event, context):\n"
        "    if event.get('boom'):\n"
        "        raise KeyError('boom')\n"
        "    return {'table': os.environ['TABLE'], 'name': context.function_name}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    runtime = LambdaRuntime(account="123456789012", region="us-east-1")
    runtime.register(LambdaSpec(function_name="fn", handler="sample_handler.handler", environment={"TABLE": "t1"}))
    return runtime


def test_the_handler_sees_its_template_environment_only_during_the_call(runtime: LambdaRuntime):
    result = runtime.invoke("arn:aws:lambda:us-east-1:123456789012:function:fn", {})

    assert result.function_error is None
    assert result.json() == {"table": "t1", "name": "fn"}
    assert "TABLE" not in os.environ


def test_an_exception_is_an_unhandled_function_error_named_by_its_type(runtime: LambdaRuntime):
    result = runtime.invoke("fn", {"boom": True})

    assert result.function_error == "Unhandled"
    assert result.json()["errorType"] == "KeyError"
    assert result.json()["errorMessage"] == "'boom'"


def test_an_injected_fault_raises_instead_of_running_the_handler(runtime: LambdaRuntime):
    result = runtime.invoke("fn", {}, inject_fault="offline fault injected at state Initiate")

    assert result.function_error == "Unhandled"
    assert result.json()["errorType"] == "InjectedFaultError"
    assert "Initiate" in result.json()["errorMessage"]
