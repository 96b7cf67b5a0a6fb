"""The servers the serving benchmark starts, and which of their processes count as workers."""

from __future__ import annotations

from pathlib import Path

from bench.serving_load import leaves, workers_among
from bench.serving_peers import Setup, peers, port_of

SETUP = Setup(Path("/model"), Path("/model.joblib"), Path("/mlflow_model"), 2, "inputs")


def test_every_server_has_a_port_of_its_own_and_a_measured_ceiling() -> None:
    found = peers(SETUP)
    names = [peer.name for peer in found]
    assert names == [
        "ours",
        "ours-gunicorn",
        "ours-granian",
        "mlflow-shipped",
        "mlflow-fair",
        "fastapi-peer",
        "const-uvicorn",
        "const-gunicorn",
        "const-granian",
    ]
    assert len({port_of(peer) for peer in found}) == len(found)
    assert {peer.ceiling for peer in found} <= set(names)


def test_ours_is_the_real_server_and_its_ceiling_has_its_http_layer() -> None:
    by_name = {peer.name: peer for peer in peers(SETUP)}
    ours = by_name["ours"]
    assert ours.command[1:] == ("-m", "inference.serve")
    assert ours.env["SM_MODEL_DIR"] == "/model"
    assert ours.env["SAGEMAKER_MODEL_SERVER_WORKERS"] == "2"
    assert "uvloop" in ours.description
    assert "JSON" in ours.description
    assert ours.ceiling == "const-uvicorn"
    assert by_name["const-uvicorn"].command[1:3] == ("-m", "bench.serving_uvicorn")
    assert by_name["ours-granian"].command[1:4] == ("-m", "bench.serving_granian", "ours")
    assert by_name["ours-granian"].ceiling == "const-granian"
    assert by_name["ours-gunicorn"].command[1:4] == ("-m", "bench.serving_gunicorn", "ours")


def test_peers_on_uvicorns_command_line_get_tcp_nodelay_without_our_protocol() -> None:
    by_name = {peer.name: peer for peer in peers(SETUP)}
    for name in ("mlflow-fair", "fastapi-peer"):
        command = by_name[name].command
        assert command[command.index("--http") + 1] == "bench.serving_apps:NoDelayHttpTools", name
    assert "--http" not in by_name["mlflow-shipped"].command


#: What ``python -m inference.serve``'s master has under it (``ps``): multiprocessing's resource
#: tracker and the spawned workers.
TRACKER = "python -B -c from multiprocessing.resource_tracker import main;main(7) "
SPAWNED = "python -B -c from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=8, pipe_handle={}) "


def test_a_spawning_servers_workers_are_its_spawned_children_not_the_tracker() -> None:
    commands = {
        40: TRACKER,
        41: SPAWNED.format(11) + "--multiprocessing-fork ",
        42: SPAWNED.format(13) + "--multiprocessing-fork ",
    }
    assert workers_among(commands) == [41, 42]


def test_a_forking_servers_workers_are_its_leaves_but_helpers() -> None:
    worker = "python -m bench.serving_granian constant --port 1 --workers 2 "
    assert workers_among({7: worker, 5: worker, 6: TRACKER}) == [5, 7]


def test_leaves_of_the_process_tree() -> None:
    tree = {1: [2, 3], 2: [4, 5]}
    assert leaves(1, tree) == [3, 4, 5]
    assert leaves(9, tree) == [9]
