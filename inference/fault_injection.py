"""Fault injection, for offline scenario testing only: ``INFERENCE_FAULT_5XX_RATE``.

Offline mode's ``bad-canary`` scenario needs a challenger that fails on live traffic, so that an
endpoint alarm fires during the canary and the update rolls back. Nothing the app deploys sets
this variable; unset (or 0) it changes nothing.

A rate ``r`` from 0 to 1 makes the server answer that share of the valid ``/invocations``
requests with a 500 JSON ``{"error": "injected fault ..."}`` instead of scoring them, and
deterministically: request ``n`` (counted per worker process) fails when ``floor(n*r)`` passes
``floor((n-1)*r)``, so exactly ``floor(n*r)`` of the first ``n`` fail; ``1/k`` fails every k-th.
Any other value stops the server at start with a message naming the variable.
"""

from __future__ import annotations

import math
import threading
from fractions import Fraction

VARIABLE = "INFERENCE_FAULT_5XX_RATE"


def parse_rate(raw: str | None) -> float:
    """The rate ``raw`` sets (0 when unset or empty); ValueError naming the variable otherwise."""
    text = (raw or "").strip()
    if not text:
        return 0.0
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not 0.0 <= rate <= 1.0:  # also refuses nan
        raise ValueError(
            f"{VARIABLE} must be a number from 0 to 1 (the share of /invocations to answer 500, for offline "
            f"scenario testing only), got {text[:40]!r}"
        )
    return rate


class FaultInjector:
    """Decides, request by request, which ones fail; thread-safe."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._exact = Fraction(rate).limit_denominator(1_000_000)
        self._count = 0
        self._lock = threading.Lock()

    def next_failure(self) -> str | None:
        """The 500 message if this request fails, else None."""
        with self._lock:
            self._count += 1
            count = self._count
        if math.floor(count * self._exact) == math.floor((count - 1) * self._exact):
            return None
        return f"injected fault ({VARIABLE}={self.rate:g}): request {count} answered 500 on purpose"
