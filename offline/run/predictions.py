"""Predictions through the local API: one row of a generated dataset, and a prober for updates in progress."""

from __future__ import annotations

import csv
import threading
import urllib.error
import urllib.request
from pathlib import Path

from offline.run.results import Probe

LABEL_COLUMN = "is_fraud"


def feature_row(test_csv: Path, index: int = 0) -> str:
    """One row of a generated CSV as the API takes it: header-less, without the label."""
    with test_csv.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        label = header.index(LABEL_COLUMN)
        for position, row in enumerate(reader):
            if position == index:
                return ",".join(value for column, value in enumerate(row) if column != label)
    raise ValueError(f"{test_csv} has fewer than {index + 1} rows")


def post_prediction(api_url: str, row: str, timeout: float = 30) -> tuple[int, str]:
    request = urllib.request.Request(
        f"{api_url}/predict", data=row.encode(), headers={"Content-Type": "text/csv"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class Prober:
    """Sends predictions through the local API in a loop, counting failures (during updates)."""

    def __init__(self, api_url: str, test_csv: Path) -> None:
        self._url = api_url
        self._rows = [feature_row(test_csv, i) for i in range(5)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="update-probe", daemon=True)
        self.result = Probe()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            status, body = post_prediction(self._url, self._rows[self.result.sent % len(self._rows)])
            self.result.sent += 1
            if status != 200:
                self.result.failed += 1
                self.result.errors.append(f"{status}: {body[:200]}")
            self._stop.wait(0.05)
