"""The machine's floor: real round trips to a real helper process, which ends when closed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from orbitmesh.ground.load.floor import FloorProbe, FloorServer, round_trips_ms


def _wait_until(condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_round_trips_to_the_helper_process() -> None:
    server = FloorServer().start()
    try:
        assert server.address.startswith("127.0.0.1:")
        assert server.process is not None and server.process.poll() is None
        back_to_back = round_trips_ms(server.address, 20)
        after_a_pause = round_trips_ms(server.address, 3, idle_s=0.02)
    finally:
        server.close()
    assert len(back_to_back) == 20 and len(after_a_pause) == 3
    assert all(0.0 < ms < 5000.0 for ms in back_to_back + after_a_pause)
    assert server.process.poll() is not None  # ended


def test_the_probe_waits_for_the_measured_phase_and_keeps_its_rate() -> None:
    pauses: list[float] = []

    def pause_s() -> float:
        pauses.append(time.monotonic())
        return 0.002

    probe = FloorProbe(pause_s, max_per_s=20.0).start()
    try:
        assert probe.ready()
        time.sleep(0.3)
        assert probe.round_trips_ms == []  # nothing before the measured phase
        probe.begin()
        time.sleep(0.5)
    finally:
        trips = probe.stop()
    assert probe.error is None
    # 20 a second for 0.5 s: 10 probes, give or take the first and last.
    assert 5 <= len(trips) <= 12, trips
    assert all(ms > 0.0 for ms in trips)
    assert len(pauses) >= len(trips)  # each probe asked for its pause
    assert probe.server.process is not None and probe.server.process.poll() is not None
    assert not any(t.name == "orbitmesh-floor" for t in threading.enumerate())


def test_a_probe_whose_server_dies_stops_and_says_why() -> None:
    probe = FloorProbe(lambda: None, max_per_s=50.0).start()
    try:
        assert probe.ready()
        probe.begin()
        assert _wait_until(lambda: len(probe.round_trips_ms) > 0)
        assert probe.server.process is not None
        probe.server.process.kill()
        assert _wait_until(lambda: probe.error is not None)
    finally:
        probe.stop()
    assert "UNAVAILABLE" in str(probe.error) or "Unavailable" in str(probe.error)
