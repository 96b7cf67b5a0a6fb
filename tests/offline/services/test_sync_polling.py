"""A ``.sync`` SageMaker task rides out a poll that got no answer, as Step Functions' own wait on the job does."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from offline.services import stepfunctions
from offline.services.stepfunctions import SageMakerIntegration


class _FlakyDescribe:
    """DescribeProcessingJob that first times out, then is throttled, then answers InProgress and Completed."""

    def __init__(self) -> None:
        self.answers: list[Any] = [
            ReadTimeoutError(endpoint_url="http://127.0.0.1"),
            ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "Describe"),
            {"ProcessingJobName": "job", "ProcessingJobStatus": "InProgress"},
            {"ProcessingJobName": "job", "ProcessingJobStatus": "Completed"},
        ]

    def describe_processing_job(self, **_: Any) -> Any:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _resolver(monkeypatch: pytest.MonkeyPatch, client: Any) -> Any:
    integration = SageMakerIntegration.__new__(SageMakerIntegration)
    monkeypatch.setattr(integration, "_get_boto_service_action", lambda: "create_processing_job", raising=False)
    monkeypatch.setattr(stepfunctions, "_client", lambda *_args: client)
    env = SimpleNamespace(stack=[{"ProcessingJobArn": "arn"}])
    runtime_part = SimpleNamespace(region="us-east-1")
    return integration._build_sync_resolver(env, runtime_part, {"ProcessingJobName": "job"}, None)


def test_a_poll_without_an_answer_or_throttled_polls_again_until_the_job_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    resolve = _resolver(monkeypatch, _FlakyDescribe())
    # The timeout, the throttling and InProgress each mean "not yet"; Completed ends the wait
    assert [resolve(), resolve(), resolve()] == [None, None, None]
    assert resolve()["ProcessingJobStatus"] == "Completed"


def test_a_refused_poll_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    client = _FlakyDescribe()
    client.answers = [ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Describe")]
    resolve = _resolver(monkeypatch, client)
    with pytest.raises(ClientError):
        resolve()
