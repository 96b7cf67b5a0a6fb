"""The serving benchmark's verdicts and tables, from made-up measurements (no server, no wrk)."""

from __future__ import annotations

import dataclasses
import math

from bench.serving_doc import Run, http_layer, serving_section
from bench.serving_load import Measurement
from bench.serving_report import (
    C1,
    C4_100,
    C16,
    Spread,
    fastest_json,
    idle_workers,
    load_table,
    mlflow_table,
    scoring_table,
    targets,
    worker_shares,
    worker_table,
)

SCORING = {1: (0.04, 1.2), 100: (0.4, 1.9), 10_000: (40.0, 66.0), 100_000: (400.0, 590.0)}


def m(
    rps: float, p50: float = 1.0, p99: float = 2.0, failures: int = 0, cpu: tuple[float, ...] = (0.7, 0.7)
) -> Measurement:
    return Measurement(rps, p50, p99, failures, cpu)


def results(ours_c16: float = 9_000.0, ours_cpu: tuple[float, ...] = (0.7, 0.7), failures: int = 0) -> dict:
    return {
        C1.name: {"ours": [m(4_000, p50=0.2, failures=failures)] * 3},
        C16.name: {
            "ours": [
                m(ours_c16 * 0.9, p99=2.0, cpu=ours_cpu),
                m(ours_c16, p99=1.8, cpu=ours_cpu),
                m(ours_c16 * 1.1, cpu=ours_cpu),
            ],
            "ours-gunicorn": [m(3_000, cpu=(0.9, 0.0))] * 3,
            "mlflow-fair": [m(200, p99=700.0)] * 3,
            "fastapi-peer": [m(500, p99=120.0)] * 3,
            "const-granian": [m(23_000)] * 3,
        },
        C4_100.name: {"ours": [m(470)] * 3},
    }


def verdicts(found: list) -> dict[str, bool]:
    return {target.name: target.met for target in found}


def test_every_target_met_by_a_good_run() -> None:
    found = targets(results(), floor_ms=0.04, scoring_ms=SCORING)
    assert len(found) == 8
    assert all(verdicts(found).values()), [t.line() for t in found if not t.met]
    assert found[0].detail == "45.0x: 9,000 against 200 req/s; against MLflow's best round, 200 req/s: 45.0x"


def test_the_mlflow_target_is_decided_by_its_median_round_and_shows_its_best() -> None:
    # Given MLflow's rounds at 200, 250 and 900 req/s (in the last its load spread over both workers)
    run = results()
    run[C16.name]["mlflow-fair"] = [m(200), m(900), m(250)]
    # Then the median round decides, and the best round's ratio is shown beside it
    (mlflow, *_) = targets(run, floor_ms=0.04, scoring_ms=SCORING)
    assert mlflow.met
    assert mlflow.detail == "36.0x: 9,000 against 250 req/s; against MLflow's best round, 900 req/s: 10.0x"


def test_throughput_targets_fail_below_their_factors() -> None:
    found = verdicts(targets(results(ours_c16=3_900), floor_ms=0.04, scoring_ms=SCORING))
    assert found["1-row c=16 throughput >= 20x MLflow's (fair settings)"] is False  # 19.5x
    assert found["1-row c=16 throughput >= 5x the FastAPI peer's"] is True  # 7.8x
    assert found["1-row c=16 throughput >= 1.8x the same app under the previous gunicorn settings"] is False


def test_latency_target_is_twice_the_floor_plus_a_millisecond() -> None:
    assert verdicts(targets(results(), floor_ms=0.0, scoring_ms=SCORING))[
        "p50 at c=1 <= 2x the runtime's in-process one-row time + 1 ms"
    ]
    slow = results()
    slow[C1.name]["ours"] = [m(900, p50=1.2)]
    found = targets(slow, floor_ms=0.05, scoring_ms=SCORING)
    assert not verdicts(found)["p50 at c=1 <= 2x the runtime's in-process one-row time + 1 ms"]


def test_an_idle_worker_fails_the_busy_target() -> None:
    found = {t.name: t for t in targets(results(ours_cpu=(0.9, 0.2)), floor_ms=0.04, scoring_ms=SCORING)}
    busy = found["every worker busy at c=16 (ours)"]
    assert busy.met is False
    assert busy.detail.endswith("round 1: worker 2 idle; round 2: worker 2 idle; round 3: worker 2 idle")


def test_one_round_with_an_idle_worker_fails_the_busy_target() -> None:
    data = results()
    data[C16.name]["ours"] = [m(9_000), m(9_000, cpu=(0.0, 0.9)), m(9_000)]
    busy = next(t for t in targets(data, floor_ms=0.04, scoring_ms=SCORING) if t.name.startswith("every worker"))
    assert busy.met is False
    assert busy.detail == "CPU per worker, mean of the rounds: 0.47, 0.77; round 2: worker 1 idle"


def test_failures_and_slower_scoring_fail_their_targets() -> None:
    slower = SCORING | {100_000: (600.0, 590.0)}
    found = {t.name: t for t in targets(results(failures=2), floor_ms=0.04, scoring_ms=slower)}
    assert not found["no failed requests (ours)"].met
    assert found["no failed requests (ours)"].detail == "6 failed"
    scoring = found["scoring: ours no slower than predict_proba at 1, 100, 10,000 and 100,000 rows"]
    assert not scoring.met
    assert scoring.detail == "slower at 100,000 rows"


def test_a_missing_server_is_not_met() -> None:
    partial = results()
    del partial[C16.name]["mlflow-fair"]
    found = targets(partial, floor_ms=0.04, scoring_ms=SCORING)
    assert not verdicts(found)["1-row c=16 throughput >= 20x MLflow's (fair settings)"]
    assert found[0].line().startswith("- NOT met: ")


def test_idle_workers_are_those_under_a_third_of_the_busiest() -> None:
    assert idle_workers([0.7, 0.69]) == []
    assert idle_workers([0.9, 0.29]) == [1]
    assert idle_workers([0.9, 0.31]) == []
    assert idle_workers([0.0, 0.0]) == [0, 1]
    assert idle_workers([]) == []


def test_worker_shares_average_each_worker_over_rounds() -> None:
    assert worker_shares([m(1, cpu=(0.6, 0.2)), m(1, cpu=(0.8, 0.4))]) == (0.7, 0.30000000000000004)
    assert worker_shares([m(1, cpu=(0.5,)), m(1, cpu=(0.5, 0.3))]) == (0.5, 0.3)
    assert worker_shares([]) == ()


def test_spread_is_median_min_max() -> None:
    assert Spread.of([3.0, 1.0, 2.0]) == Spread(2.0, 1.0, 3.0)
    assert math.isnan(Spread.of([]).median)


def test_tables_render_one_row_per_server_and_scenario() -> None:
    data = results()
    servers = ["ours", "ours-gunicorn", "const-granian"]
    table = load_table(data, servers, {"ours": "const-granian", "const-granian": "const-granian"}, {"ours": "csv"})
    rows = table.splitlines()
    assert len(rows) == 2 + 3 * len(servers)
    assert rows[2].startswith("| 1-row CSV, c=1 | ours | csv | 4,000 (4,000-4,000) | 0.20 (0.20-0.20) |")
    c16 = next(row for row in rows if row.startswith("| 1-row CSV, c=16 | ours |"))
    assert "9,000 (8,100-9,900)" in c16
    assert c16.endswith("| 0 | 1.00x | const-granian: 23,000 req/s |")
    assert next(row for row in rows if "c=16 | const-granian" in row).endswith("| 0.39x | - |")
    workers = worker_table(data, ["ours", "ours-gunicorn"]).splitlines()
    assert workers[2:] == ["| ours | 2 | 0.70, 0.70 | none |", "| ours-gunicorn | 2 | 0.90, 0.00 | 2 |"]
    assert scoring_table(SCORING, "onnxruntime 1.32.0").splitlines()[2] == "| 1 | 0.040 | 1.200 | 30.0x |"


def test_mlflow_formats_pick_the_fastest_json_one() -> None:
    timings = {
        "csv": {"1": 0.5, "100": 3.0},
        "dataframe_split": {"1": 2.0, "100": 3.0},
        "instances": {"1": 1.3, "100": 2.8},
    }
    assert fastest_json(timings) == "instances"
    assert "| **instances** (fair runs) | 1.300 | 2.800 |" in mlflow_table(timings, "instances").splitlines()


def run_with(**changes: object) -> Run:
    found = targets(results(), floor_ms=0.04, scoring_ms=SCORING)
    run = Run(
        machine="2 cores",
        stamp="now",
        workers=2,
        rounds=3,
        duration=5,
        warmup=1,
        evaluation={"rows": {"train": 1_000}, "hyperparameters": {}},
        train_wall=1.0,
        servers=[("ours", "`python -m inference.serve`", "csv"), ("mlflow-fair", "MLflow", "mlflow:instances")],
        runtime="onnxruntime 1.32.0",
        floor_ms=(0.04, 1.2),
        max_difference=1e-7,
        start_times=[0.3, 0.2, 0.4],
        mlflow_json="instances",
        load_table="LOAD",
        worker_table="WORKERS",
        scoring_table="SCORING",
        mlflow_table="MLFLOW",
        targets=found,
    )
    return dataclasses.replace(run, **changes)  # type: ignore[arg-type]


def test_serving_section_carries_the_tables_and_verdicts() -> None:
    text = serving_section(run_with(against_granian=(10_000.0, 12_500.0)))
    for part in ("LOAD", "WORKERS", "SCORING", "MLFLOW", "median 0.30 s", 'MLflow JSON `{"instances": ...}`'):
        assert part in text
    assert "\n- met: no failed requests (ours) (0 failed)" in text


def test_the_http_layer_says_what_ours_runs_and_what_granian_would_give() -> None:
    text = " ".join(http_layer(run_with(against_granian=(10_000.0, 12_500.0))).split())
    for part in ("uvicorn", "httptools", "uvloop", "`SO_REUSEPORT` listener per worker", "4xx JSON", "empty 400"):
        assert part in text
    assert "it answered 25% more requests a second (12,500 against 10,000)" in text
    assert "was not faster in this run (9,000 against 10,000" in http_layer(run_with(against_granian=(1e4, 9e3)))
    assert "was not measured in this run" in http_layer(run_with())
