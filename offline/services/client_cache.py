"""boto3 clients of the local AWS, made once and shared: what ``LocalAws`` and offline IAM hand out."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class ClientCache:
    """boto3 clients made once per key and shared between threads (low-level clients are thread-safe).

    Making a client costs 10-20 ms (it loads the service model and builds its handlers); a run asked
    for about 150, a task state's call one each, so they were over a tenth of an offline run.
    """

    def __init__(self) -> None:
        self._clients: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        with self._lock:
            found = self._clients.get(key)
        if found is None:
            found = make()
            with self._lock:
                found = self._clients.setdefault(key, found)
        return found
