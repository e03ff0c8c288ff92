"""How far a station's first route search reaches (links/reach.py), against hand-worked
needs and times."""

from __future__ import annotations

import pytest

from orbitmesh.links.reach import SearchReach


def test_nothing_learned_uses_the_ceiling_and_every_limit_in_turn() -> None:
    reach = SearchReach(20.0)
    assert reach.limit_ms(0.0) == 20.0
    assert reach.limits(0.0) == (20.0, None)


def test_the_limit_covers_the_largest_recent_need_with_margin() -> None:
    reach = SearchReach(20.0, floor_ms=4.0, margin=1.5, slack_ms=2.0, window_s=30.0)
    reach.needed(3.0, 0.0)
    assert reach.limit_ms(0.0) == 8.0  # 1.5 * 3 + 2 = 6.5, up to a whole 2 ms step
    reach.needed(5.0, 1.0)
    reach.needed(2.0, 2.0)
    assert reach.limit_ms(2.0) == 10.0  # the largest of the window: 5 (9.5, stepped)
    assert reach.limits(2.0) == (10.0, 20.0, None)
    # 5 ms was needed at 1 s: it leaves the window after 31 s, and 2 ms is left.
    assert reach.limit_ms(31.0) == 10.0
    assert reach.limit_ms(31.5) == 6.0  # 5.0, stepped
    # Nothing left in the window: the ceiling again.
    assert reach.limit_ms(100.0) == 20.0


def test_the_limit_stays_between_floor_and_ceiling() -> None:
    reach = SearchReach(20.0, floor_ms=8.0)
    reach.needed(0.5, 0.0)
    assert reach.limit_ms(0.0) == 8.0
    reach.needed(30.0, 1.0)
    assert reach.limit_ms(1.0) == 20.0
    assert reach.limits(1.0) == (20.0, None)


def test_a_sliding_maximum_matches_a_plain_scan() -> None:
    import random

    rng = random.Random(4)
    reach = SearchReach(1e9, floor_ms=1e-9, margin=1.0, slack_ms=0.0, window_s=5.0)
    seen: list[tuple[float, float]] = []
    t = 0.0
    for _ in range(2000):
        t += rng.expovariate(2.0)
        need = rng.uniform(0.0, 50.0)
        reach.needed(need, t)
        seen.append((t, need))
        recent = [n for when, n in seen if when >= t - 5.0]
        assert reach.largest_need_ms(t) == max(recent)


def test_needs_that_move_within_a_step_keep_one_limit() -> None:
    """What a host searched ahead must answer its next requests: needs of 6.08, 6.33 and
    6.36 ms (limits 11.12, 11.50, 11.54 unrounded) all ask for 12 ms."""
    reach = SearchReach(20.0)
    limits = set()
    for k, need in enumerate((6.08, 6.33, 6.36, 6.2)):
        reach.needed(need, float(k))
        limits.add(reach.limit_ms(float(k)))
    assert limits == {12.0}
    reach.needed(6.7, 5.0)  # 12.05: the next step
    assert reach.limit_ms(5.0) == 14.0
    # An exact multiple stays where it is.
    exact = SearchReach(20.0, margin=1.0, slack_ms=0.0, floor_ms=1.0)
    exact.needed(10.0, 0.0)
    assert exact.limit_ms(0.0) == 10.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"floor_ms": 0.0},
        {"floor_ms": 30.0},
        {"margin": 0.5},
        {"window_s": 0.0},
        {"step_ms": 0.0},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SearchReach(20.0, **kwargs)
