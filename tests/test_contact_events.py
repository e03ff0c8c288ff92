"""Contact events from two views of a station's sky, worked out by hand."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

from orbitmesh.ground.contactevents import contact_changes
from orbitmesh.ground.load.observer import (
    OBSERVER_NICENESS,
    ContactViews,
    ObserverProcess,
    SimClockView,
)


def test_rises_sets_and_a_handover() -> None:
    # b stays, a sets, c and d rise; the highest was a, now d: a handover from a to d.
    assert contact_changes(["a", "b"], ["d", "b", "c"]) == [
        ("rise", "c", ""),
        ("rise", "d", ""),
        ("set", "a", ""),
        ("handover", "d", "a"),
    ]


def test_same_sky_reordered_below_the_top_is_no_event() -> None:
    assert contact_changes(["a", "b", "c"], ["a", "c", "b"]) == []


def test_the_first_and_the_last_view_have_no_handover() -> None:
    assert contact_changes([], ["a"]) == [("rise", "a", "")]
    assert contact_changes(["a"], []) == [("set", "a", "")]


def test_views_say_nothing_for_the_first_view_or_the_same_tick() -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 3, 20, 12, tzinfo=UTC)
    views = ContactViews()
    assert views.update("gs", t0, ["a", "b"]) == []  # already in view: not a rise now
    assert views.update("gs", t0, ["b"]) == []  # the same tick read again
    assert views.update("gs", t0 + timedelta(seconds=1), ["b"]) == [
        ("set", "a", ""),
        ("handover", "b", "a"),
    ]


def test_the_observer_process_runs_below_the_emulations_priority() -> None:
    # Nothing to watch: the process starts, reports, and stops; what matters is its nice.
    clock = SimClockView(sim_start=datetime(2026, 3, 20, 12, tzinfo=UTC), speed=1.0, wall0=None)
    observer = ObserverProcess({}, {}, clock, watch_stations=[])
    observer.start(time.time())
    try:
        assert observer.pid is not None
        assert os.getpriority(os.PRIO_PROCESS, observer.pid) == OBSERVER_NICENESS > 0
    finally:
        observer.stop()
