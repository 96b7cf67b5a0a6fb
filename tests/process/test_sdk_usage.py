"""The README's SageMaker SDK example, run as written against the real model server.

The endpoint is the local SageMaker Runtime (offline mode's) in front of ``python -m inference.serve``,
so the SDK's own request (serializer, content type, Accept) reaches the real container.
"""

import ast
import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from offline.services.http_server import Server as HttpServer
from offline.services.sagemaker_runtime import runtime_proxy
from tests.process.conftest import REPO, Server

pytestmark = pytest.mark.slow

ENDPOINT = "fraud-detector-dev"


def readme_python_blocks(section: str, readme: Path = REPO / "README.md") -> list[str]:
    """The ``python`` code blocks of one README section, in order."""
    text = readme.read_text()
    start = text.index(f"{section}\n")
    end = text.find("\n## ", start + len(section))
    return re.findall(r"```python\n(.*?)```", text[start:end], flags=re.DOTALL)


@pytest.fixture
def runtime(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpServer]:
    """The local SageMaker Runtime routing the README's endpoint name to the real server."""
    local = runtime_proxy(
        lambda name: server.url if name == ENDPOINT else None, account="123456789012", region="us-east-1"
    )
    for name, value in {
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": local.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    yield local
    local.stop()


def test_the_readme_sdk_example_gets_predictions_in_csv_and_json(runtime: HttpServer) -> None:
    # Given the README's SageMaker SDK example
    (example,) = [block for block in readme_python_blocks("## Calling the API") if "sagemaker" in block]
    # When it runs as written
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "README.md", "exec"), {})
    # Then both calls printed the container's answer for the one row
    answers = [ast.literal_eval(line) for line in printed.getvalue().splitlines()]
    assert len(answers) == 2
    assert answers[0] == answers[1]
    assert answers[0]["model_version"] == "fraud-train-test-1"
    assert len(answers[0]["predictions"]) == 1


def test_the_sdk_without_a_content_type_gets_a_415_naming_the_types(runtime: HttpServer) -> None:
    from botocore.exceptions import ClientError
    from sagemaker.core.deserializers import JSONDeserializer
    from sagemaker.core.resources import Endpoint
    from sagemaker.core.serializers import CSVSerializer

    # Given the SDK's Endpoint with a CSV serializer but no content type (the pitfall the README warns of)
    endpoint = Endpoint(endpoint_name=ENDPOINT, serializer=CSVSerializer(), deserializer=JSONDeserializer())
    # When it is invoked
    with pytest.raises(ClientError) as raised:
        endpoint.invoke(body=[[125.5, 14, 3.2, 0, 2, 400, 1, 0.02]])
    # Then the container's 415 names the types it takes
    assert raised.value.response["OriginalStatusCode"] == 415
    assert "use text/csv or application/json" in raised.value.response["OriginalMessage"]
