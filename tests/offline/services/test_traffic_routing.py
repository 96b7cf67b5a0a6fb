"""Deterministic weighted routing: exact shares over every window, thread-safe."""

from __future__ import annotations

import math
import threading
from collections import Counter
from fractions import Fraction

import pytest

from offline.services.traffic_routing import WeightedRouter


def picks(router: WeightedRouter[str], count: int) -> list[str]:
    return [router.choose() for _ in range(count)]


def test_two_equal_shares_alternate_exactly():
    # Given blue and green at 50 % each
    router = WeightedRouter({"blue": 0.5, "green": 0.5})
    # When ten requests are routed
    chosen = picks(router, 10)
    # Then they alternate, blue first
    assert chosen == ["blue", "green"] * 5


@pytest.mark.parametrize(
    "shares",
    [
        {"blue": Fraction(2, 3), "green": Fraction(1, 3)},
        {"blue": Fraction(3, 4), "green": Fraction(1, 4)},
        {"a": Fraction(1, 2), "b": Fraction(3, 10), "c": Fraction(1, 5)},
        {"blue": 0.9, "green": 0.1},
    ],
)
def test_every_window_of_one_cycle_holds_each_share_exactly(shares: dict[str, Fraction | float]):
    # Given shares whose common denominator is d
    router = WeightedRouter(shares)
    exact = router.shares()
    cycle = math.lcm(*(share.denominator for share in exact.values()))
    # When 5 cycles of requests are routed
    chosen = picks(router, 5 * cycle)
    # Then every window of d consecutive requests (aligned or not) holds share * d of each target
    for start in range(len(chosen) - cycle + 1):
        counts = Counter(chosen[start : start + cycle])
        assert {target: counts[target] for target in exact} == {t: int(s * cycle) for t, s in exact.items()}


def test_a_target_with_no_share_is_never_chosen():
    router = WeightedRouter({"blue": 1, "green": 0})

    assert set(picks(router, 50)) == {"blue"}


def test_new_shares_start_a_fresh_cycle():
    # Given a router that has already routed an odd number of requests at 2/3 : 1/3
    router = WeightedRouter({"blue": Fraction(2, 3), "green": Fraction(1, 3)})
    picks(router, 7)
    # When the shares change to 50/50
    router.set_shares({"blue": 1, "green": 1})
    # Then the very next requests alternate from the start
    assert picks(router, 4) == ["blue", "green", "blue", "green"]


def test_concurrent_callers_together_get_the_exact_split():
    # Given 8 threads routing 300 requests each through one 1/4 : 3/4 router
    router = WeightedRouter({"blue": Fraction(1, 4), "green": Fraction(3, 4)})
    chosen: list[str] = []
    lock = threading.Lock()

    def route_many() -> None:
        mine = picks(router, 300)
        with lock:
            chosen.extend(mine)

    threads = [threading.Thread(target=route_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then the 2400 requests split exactly
    assert Counter(chosen) == {"blue": 600, "green": 1800}


@pytest.mark.parametrize("shares", [{"blue": -1, "green": 2}, {"blue": 0, "green": 0}])
def test_impossible_shares_are_refused(shares: dict[str, int]):
    with pytest.raises(ValueError, match="share"):
        WeightedRouter(shares)
