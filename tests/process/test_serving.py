# ruff: noqa: N806 - X is the feature matrix, as in scikit-learn
"""``python -m inference.serve`` over real HTTP: the SageMaker hosting contract, good and bad input.

Starting, stopping, the worker processes and what the HTTP layer refuses: ``test_server_process``.
"""

import http.client
import json
from typing import Any

import numpy as np
import pytest

from tests.process.conftest import Server, TrainedJob
from training.feature_schema import FEATURE_NAMES, MAX_PAYLOAD_BYTES, MAX_ROWS_PER_REQUEST, N_FEATURES
from training.synthetic import generate

pytestmark = pytest.mark.slow

ROW = [125.5, 14, 3.2, 0, 2, 400, 1, 0.02]


def request(
    server: Server, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        status, raw = answer.status, answer.read()
        assert answer.getheader("Content-Type") == "application/json"
        return status, json.loads(raw) if raw else {}
    finally:
        connection.close()


def invoke(server: Server, body: bytes, content_type: str | None = "text/csv") -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": content_type} if content_type else {}
    return request(server, "POST", "/invocations", body, headers)


def csv_body(rows: list[list[float]]) -> bytes:
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows).encode()


def test_ping_answers_200_with_the_model_version(server: Server) -> None:
    status, body = request(server, "GET", "/ping")
    assert status == 200
    assert body["model_version"] == "fraud-train-test-1"


def test_csv_and_both_json_forms_give_the_same_predictions(server: Server) -> None:
    # Given the same two rows in each accepted form
    rows = [ROW, [900.0, 3, 250.0, 1, 9, 20, 1, 0.3]]
    as_lists = json.dumps({"instances": rows}).encode()
    as_objects = json.dumps({"instances": [dict(zip(FEATURE_NAMES, r, strict=True)) for r in rows]}).encode()
    # When each is sent
    answers = [
        invoke(server, csv_body(rows)),
        invoke(server, as_lists, "application/json"),
        invoke(server, as_objects, "application/json; charset=utf-8"),
    ]
    # Then all succeed with identical predictions and the model version
    assert [status for status, _ in answers] == [200, 200, 200]
    assert answers[0][1] == answers[1][1] == answers[2][1]
    assert answers[0][1]["model_version"] == "fraud-train-test-1"
    for prediction in answers[0][1]["predictions"]:
        assert 0.0 <= prediction["probability"] <= 1.0
        assert prediction["label"] in (0, 1)


def test_what_spreadsheets_write_is_accepted(server: Server) -> None:
    # Given the same row plain, and as a spreadsheet exports it: a BOM, quoted fields, CRLF
    quoted = ",".join(f'"{v}"' for v in ROW)
    exported = b"\xef\xbb\xbf" + f"{quoted}\r\n".encode()
    # When both are sent
    plain_status, plain = invoke(server, csv_body([ROW]))
    exported_status, answer = invoke(server, exported)
    # Then both are scored, identically
    assert (plain_status, exported_status) == (200, 200)
    assert answer == plain


def test_predictions_match_the_trained_model(server: Server, trained_job: TrainedJob) -> None:
    import joblib

    # Given a batch of 200 rows and the estimator the job fitted (kept beside the model, never served)
    X, _ = generate(200, seed=404)
    model = joblib.load(trained_job.root / "output/data/model.joblib")
    threshold = json.loads((trained_job.model_dir / "model.json").read_text())["threshold"]
    # When the batch is scored by the server
    status, body = invoke(server, csv_body(X.tolist()))
    # Then there is one prediction per row, the estimator's own within 1e-6, labelled by the threshold
    assert status == 200
    probabilities = np.array([p["probability"] for p in body["predictions"]])
    np.testing.assert_allclose(probabilities, model.predict_proba(X)[:, 1], rtol=0, atol=1e-6)
    assert [p["label"] for p in body["predictions"]] == [int(p >= threshold) for p in probabilities]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "fragment"),
    [
        (b"1,2,3\n", "text/csv", 400, f"row 1: expected {N_FEATURES} features"),
        (csv_body([ROW]).replace(b"125.5", b"abc"), "text/csv", 400, "feature 'amount' must be a number"),
        (csv_body([[*ROW[:1], 24, *ROW[2:]]]), "text/csv", 400, "'hour_of_day' is out of range"),
        (csv_body([ROW, [*ROW[:7], 1.5]]), "text/csv", 400, "row 2: feature 'merchant_risk_score' is out of range"),
        (b"{not json", "application/json", 400, "not valid JSON"),
        (json.dumps({"instances": [{"amnt": 1}]}).encode(), "application/json", 400, "unknown feature(s) amnt"),
        (json.dumps({"rows": [ROW]}).encode(), "application/json", 400, '"instances"'),
        (b"", "text/csv", 400, "the body is empty"),
        (csv_body([ROW]), "application/x-npy", 415, "unsupported content type 'application/x-npy'"),
        (csv_body([ROW]), None, 415, "unsupported content type 'none'"),
        (b"\xff\xfe", "text/csv", 400, "not valid UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "text/csv", 400, "not valid UTF-8"),
        (b'{"instances": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", "application/json", 400, "nested too deeply"),
        (
            b'{"instances": [[' + b"9" * 5_000 + b", 14, 3.2, 0, 2, 400, 1, 0.02]]}",
            "application/json",
            400,
            "5000 digits",
        ),
        ((",".join(FEATURE_NAMES) + "\n").encode() + csv_body([ROW]), "text/csv", 400, "without a header"),
        (b"0,0,0,0,0,0,0,0\n" * (MAX_ROWS_PER_REQUEST + 1), "text/csv", 413, "batch transform"),
    ],
    ids=[
        "wrong-count",
        "non-numeric",
        "out-of-range",
        "bad-second-row",
        "bad-json",
        "unknown-name",
        "no-instances",
        "empty",
        "unsupported-type",
        "no-type",
        "not-utf8",
        "binary",
        "nested-5000-deep",
        "5000-digit-integer",
        "header-row",
        "too-many-rows",
    ],
)
def test_bad_input_gets_a_4xx_json_error_saying_what_to_fix(
    server: Server, body: bytes, content_type: str | None, status: int, fragment: str
) -> None:
    answer_status, answer = invoke(server, body, content_type)
    assert answer_status == status
    assert fragment in answer["error"]


def test_a_chunked_body_over_6_mb_is_refused_with_413(server: Server) -> None:
    # Given a body with no Content-Length (chunked) that turns out to be just over the limit
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        connection.request(
            "POST",
            "/invocations",
            body=iter([b"1" * (MAX_PAYLOAD_BYTES + 1)]),
            headers={"Content-Type": "text/csv"},
            encode_chunked=True,
        )
        answer = connection.getresponse()
        # Then it is refused with 413 once the limit is passed
        assert answer.status == 413
        assert "6 MB" in json.loads(answer.read())["error"]
    finally:
        connection.close()


def test_an_oversized_content_length_is_refused_before_the_body_is_sent(server: Server) -> None:
    # Given only the headers of a 7 MB request from a client that waits for 100 Continue before it sends
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        connection.putrequest("POST", "/invocations")
        connection.putheader("Content-Type", "text/csv")
        connection.putheader("Content-Length", str(7 * 1024 * 1024))
        connection.putheader("Expect", "100-continue")
        connection.endheaders()
        # When the answer is read, it is a 413 at once, and the server closes the connection (no body was sent)
        answer = connection.getresponse()
        assert answer.status == 413
        assert "7340032 bytes" in json.loads(answer.read())["error"]
        assert answer.getheader("Connection") == "close"
    finally:
        connection.close()


def test_a_body_over_6_mb_is_answered_413_and_the_connection_stays_usable(server: Server) -> None:
    # Given a client that sends a whole 7 MB body before it reads the answer (as http.client does)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        connection.request("POST", "/invocations", body=b"1" * (7 * 1024 * 1024), headers={"Content-Type": "text/csv"})
        answer = connection.getresponse()
        # Then it can read a 413 JSON naming the limit (not a broken pipe)
        assert answer.status == 413
        assert answer.getheader("Content-Type") == "application/json"
        assert "6 MB" in json.loads(answer.read())["error"]
        # And the same connection serves the next request
        connection.request("GET", "/ping")
        again = connection.getresponse()
        assert again.status == 200
        again.read()
    finally:
        connection.close()


def test_a_body_shorter_than_its_content_length_is_a_client_error(server: Server) -> None:
    # Given a request that promises 100 bytes, sends 27, then closes its side
    with socket_to(server) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 100\r\n\r\n")
        sock.sendall(b"125.5,14,3.2,0,2,400,1,0.02")
        sock.shutdown(1)  # SHUT_WR
        reply = sock.recv(4096)
    # Then the answer is a 400, not a 5xx
    assert reply.startswith(b"HTTP/1.1 400"), reply[:100]


def socket_to(server: Server) -> Any:
    import socket

    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def test_an_unknown_path_is_404_json(server: Server) -> None:
    status, answer = request(server, "GET", "/predict")
    assert status == 404
    assert "/invocations" in answer["error"]


def test_a_wrong_method_is_405_json(server: Server) -> None:
    status, answer = request(server, "GET", "/invocations")
    assert status == 405
    assert "use POST" in answer["error"]


def test_the_server_is_healthy_after_every_kind_of_bad_input(server: Server) -> None:
    # Given a burst of bad requests
    for body, content_type in [(b"x", "text/csv"), (b"{", "application/json"), (b"", None)]:
        invoke(server, body, content_type)
    # Then ping and a good prediction still work, and the server process is alive
    assert request(server, "GET", "/ping")[0] == 200
    assert invoke(server, csv_body([ROW]))[0] == 200
    assert server.process.poll() is None
