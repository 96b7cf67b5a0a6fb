"""A clock for the rollout tests: waits return at once and move time on (``sagemaker_rollout.Clock``)."""

from __future__ import annotations

import threading


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def wait(self, seconds: float, abort: threading.Event) -> bool:
        self.now += seconds
        return abort.is_set()
