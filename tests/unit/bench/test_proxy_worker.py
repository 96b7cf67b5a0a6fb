"""``bench/proxy_worker.py``: the trace headers the warm worker gives its invocations."""

from __future__ import annotations

from bench.proxy_worker import trace_headers

SAMPLED = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def test_each_invocation_gets_a_new_trace_with_the_modes_sampling_decision() -> None:
    # Given the trace header of a tracing mode
    # When the worker makes one per invocation
    headers = trace_headers(SAMPLED, 3)
    # Then each is a new trace and parent, as Lambda gives each invocation, and keeps the decision
    assert len(set(headers)) == 3
    for header in headers:
        assert header is not None
        root, parent, decision = header.split(";")
        assert root.startswith("Root=1-")
        assert len(root) == len(SAMPLED.split(";")[0])
        assert parent.startswith("Parent=")
        assert len(parent) == len("Parent=") + 16
        assert decision == "Sampled=1"
    assert all(h is not None and h.endswith("Sampled=0") for h in trace_headers(SAMPLED.replace("=1", "=0"), 2))


def test_no_header_stays_no_header() -> None:
    # Given tracing off (no trace header), then none for any invocation
    assert trace_headers(None, 2) == [None, None]
