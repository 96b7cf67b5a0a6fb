"""Steady local traffic for the rollout scenarios: who answered each request, and when.

A thread posts one prediction every ``interval`` seconds through the local REST API (the
same path a caller takes: API → proxy Lambda → SageMaker Runtime → the endpoint's fleets)
and records each answer: its time, status and the ``model_version`` that served it. The
scenarios read the traffic split over time from it, and which requests failed.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Answer:
    at: float  # time.time() when the request was sent (the timeline of an endpoint uses the same clock)
    status: int
    version: str | None  # the model_version that answered, when it answered 200
    error: str = ""


@dataclass
class TrafficRecord:
    answers: list[Answer] = field(default_factory=list)

    def between(self, start: float, end: float) -> list[Answer]:
        return [a for a in self.answers if start <= a.at < end]

    @property
    def failed(self) -> list[Answer]:
        return [a for a in self.answers if a.status != 200]

    def split(self, bucket_seconds: float = 1.0) -> list[tuple[float, Counter[str]]]:
        """Per time bucket (seconds since the first request): how many answers each version gave ("failed" too)."""
        if not self.answers:
            return []
        first = self.answers[0].at
        buckets: dict[int, Counter[str]] = {}
        for answer in self.answers:
            slot = int((answer.at - first) // bucket_seconds)
            key = f"v{answer.version}" if answer.status == 200 else "failed"
            buckets.setdefault(slot, Counter())[key] += 1
        return [(slot * bucket_seconds, buckets[slot]) for slot in sorted(buckets)]


def render_split(record: TrafficRecord, bucket_seconds: float = 1.0) -> str:
    """One line per bucket: the share each version served, e.g. ``  12 s  v1 50% ▏v2 50% (20 requests)``."""
    lines = []
    for offset, counts in record.split(bucket_seconds):
        total = sum(counts.values())
        shares = "  ".join(f"{key} {100 * n / total:3.0f}%" for key, n in sorted(counts.items()))
        lines.append(f"  {offset:5.0f} s  {shares}  ({total} requests)")
    return "\n".join(lines)


class SteadyTraffic:
    """Sends ``send(index)`` every ``interval`` seconds on a thread until stopped; ``send`` returns (status, body)."""

    def __init__(self, send: Callable[[int], tuple[int, str]], *, interval: float = 0.05) -> None:
        self._send = send
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="steady-traffic", daemon=True)
        self.record = TrafficRecord()

    def __enter__(self) -> SteadyTraffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _loop(self) -> None:
        index = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            sent = time.time()
            try:
                status, body = self._send(index)
            except OSError as error:  # the API itself did not answer: a failed request all the same
                status, body = 599, str(error)
            self.record.answers.append(_answer(sent, status, body))
            index += 1
            next_at = max(next_at + self._interval, time.monotonic())
            self._stop.wait(max(0.0, next_at - time.monotonic()))


def _answer(sent: float, status: int, body: str) -> Answer:
    if status != 200:
        return Answer(sent, status, None, body[:300])
    try:
        version = json.loads(body).get("model_version")
    except (json.JSONDecodeError, AttributeError):
        return Answer(sent, 598, None, f"unreadable answer: {body[:200]}")
    return Answer(sent, status, None if version is None else str(version))
