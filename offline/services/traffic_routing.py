"""Deterministic weighted routing of an endpoint's requests between its fleets.

SageMaker routes a variant's requests across its instances by capacity, so during a blue/green
deployment with traffic shifting the new (green) fleet receives the share of the variant's
capacity activated on it, the old (blue) fleet the rest (SageMaker Developer Guide, "Use canary
traffic shifting", "Use linear traffic shifting"). AWS spreads requests statistically; offline
the split is exact and deterministic, so a scenario can count what each fleet served:
:class:`WeightedRouter` is a smooth weighted round robin (the algorithm nginx uses for weighted
upstreams) over exact fractions. Each pick adds every target's share to its credit and takes
the target with the most credit (the first one on a tie), which then pays 1. Consequences:

* with shares whose common denominator is ``d``, the picks repeat with period ``d``, so every
  ``d`` consecutive requests (any window, not only aligned ones) hold exactly ``share * d`` of
  each target; ``{blue: 1/2, green: 1/2}`` alternates;
* a target with share 0 is never picked;
* a change of shares starts a fresh cycle, so the first window after a traffic shift is exact too.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)

#: Float shares become fractions no finer than this (0.1 → 1/10, 1/3 as a float → 1/3).
_MAX_DENOMINATOR = 1_000_000


@dataclass(frozen=True)
class RouteTarget:
    """Where one request goes: the model server's base URL, its endpoint config and variant."""

    url: str
    config_name: str
    variant: str = "AllTraffic"


def exact(share: Fraction | float | int) -> Fraction:
    """``share`` as an exact fraction (a float is read as the simplest fraction close to it)."""
    if isinstance(share, Fraction):
        return share
    return Fraction(share).limit_denominator(_MAX_DENOMINATOR)


class WeightedRouter(Generic[T]):
    """Picks targets in proportion to their shares, deterministically and thread-safely."""

    def __init__(self, shares: Mapping[T, Fraction | float | int]) -> None:
        self._lock = threading.Lock()
        self._shares: dict[T, Fraction] = {}
        self._credit: dict[T, Fraction] = {}
        self.set_shares(shares)

    def set_shares(self, shares: Mapping[T, Fraction | float | int]) -> None:
        """Replace the shares (normalized to sum 1) and start a new cycle."""
        exact_shares = {target: exact(share) for target, share in shares.items()}
        if any(share < 0 for share in exact_shares.values()):
            raise ValueError(f"shares must not be negative: {dict(shares)}")
        total = sum(exact_shares.values(), Fraction(0))
        if total <= 0:
            raise ValueError(f"at least one share must be positive: {dict(shares)}")
        with self._lock:
            self._shares = {target: share / total for target, share in exact_shares.items()}
            self._credit = dict.fromkeys(self._shares, Fraction(0))

    def shares(self) -> dict[T, Fraction]:
        """The current shares, summing to 1."""
        with self._lock:
            return dict(self._shares)

    def choose(self) -> T:
        """The target of the next request."""
        with self._lock:
            for target, share in self._shares.items():
                self._credit[target] += share
            chosen = max(self._credit, key=self._credit.__getitem__)
            self._credit[chosen] -= 1
            return chosen
