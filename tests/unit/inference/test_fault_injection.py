"""INFERENCE_FAULT_5XX_RATE: off by default, checked at start, deterministic when on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inference.asgi import make_app
from inference.fault_injection import FaultInjector, parse_rate
from inference.model import load_model
from inference.serve import main
from inference.settings import ServerSettings
from tests.unit.inference.asgi_call import call

ROW = b"125.5,14,3.2,0,2,400,1,0.02\n"


def invoke(app: Any, body: bytes = ROW) -> tuple[int, dict[str, Any]]:
    status, _, answer = call(app, "POST", "/invocations", body, CONTENT_TYPE="text/csv")
    return status, answer


def test_the_fault_is_off_unless_the_variable_is_set():
    assert ServerSettings.from_env({}).fault_5xx_rate == 0.0
    assert parse_rate("") == 0.0


@pytest.mark.parametrize("raw", ["lots", "1.5", "-0.1", "nan"])
def test_a_bad_rate_stops_the_server_at_start_naming_the_variable(raw: str, capsys: pytest.CaptureFixture[str]):
    # When the server starts with an invalid rate
    status = main({"INFERENCE_FAULT_5XX_RATE": raw})
    # Then it exits 2 with one line that names the variable and what it accepts
    assert status == 2
    error = capsys.readouterr().err
    assert "inference server cannot start: INFERENCE_FAULT_5XX_RATE must be a number from 0 to 1" in error


@pytest.mark.parametrize(("rate", "failing"), [(0.5, [2, 4, 6, 8]), (0.25, [4, 8]), (1.0, list(range(1, 9)))])
def test_the_injector_fails_the_same_requests_every_time(rate: float, failing: list[int]):
    injector = FaultInjector(rate)

    failed = [n for n in range(1, 9) if injector.next_failure() is not None]

    assert failed == failing


def test_a_third_fails_exactly_a_third_of_every_three_requests():
    injector = FaultInjector(1 / 3)

    outcomes = [injector.next_failure() is not None for _ in range(300)]

    assert sum(outcomes) == 100
    assert all(sum(outcomes[start : start + 3]) == 1 for start in range(0, 300, 3))


def test_the_server_answers_the_injected_share_of_valid_requests_with_500(model_dir: Path):
    # Given the app with half the requests failing
    app = make_app(load_model(model_dir), fault_rate=0.5)
    # When a client error and then four valid requests arrive
    client_error, _ = invoke(app, b"1,2\n")
    answers = [invoke(app) for _ in range(4)]
    # Then the client error is still a 400 and not counted; every second valid request is a 500 saying why
    assert client_error == 400
    assert [status for status, _ in answers] == [200, 500, 200, 500]
    assert answers[1][1] == {
        "error": "injected fault (INFERENCE_FAULT_5XX_RATE=0.5): request 2 answered 500 on purpose"
    }
    assert "predictions" in answers[2][1]
