"""Waits offline mode shortens: a cap below one second must not send moto's wait loop into recursion."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from offline.moto_patches.stepfunctions_engine import _wait_interval
from offline.run.active import activate
from tests.offline.services_stub import bare_services


def test_a_fractional_cap_waits_once_for_the_cap() -> None:
    # Given offline mode capping waits at 0.2 s (moto rounds elapsed time down to whole seconds)
    activate(bare_services(max_wait_seconds=0.2))
    env = SimpleNamespace(program_state_event=threading.Event(), is_running=lambda: True)
    try:
        # When a Wait state asks for 30 s
        started = time.monotonic()
        _wait_interval(None, env, 30)
        elapsed = time.monotonic() - started
    finally:
        activate(None)
    # Then it returns after the cap, without recursing
    assert 0.15 < elapsed < 1.0
