"""NodeState against hand calculations: energy per segment, queue admission, causes."""

from __future__ import annotations

import numpy as np
import pytest

from orbitmesh.node.ephemeris import Ephemeris
from orbitmesh.node.power import PowerParams
from orbitmesh.node.state import NodeState
from orbitmesh.node.thermal import ThermalParams
from orbitmesh.protos.contract import Cause


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def ephemeris(transitions: tuple[float, ...], sunlit_at_start: bool = True) -> Ephemeris:
    track = np.tile([[7000.0, 0.0, 0.0]], (400, 1))
    return Ephemeris("s", 0.0, 10.0, track, sunlit_at_start, transitions)


def make(
    clock: FakeClock,
    eph: Ephemeris,
    *,
    power: PowerParams | None = None,
    thermal: ThermalParams | None = None,
    queue_depth: int = 4,
    max_concurrency: int = 1,
) -> NodeState:
    return NodeState(
        "s",
        power=power or PowerParams(),
        thermal=thermal or ThermalParams(),
        ephemeris=eph,
        clock=clock,
        queue_depth=queue_depth,
        max_concurrency=max_concurrency,
        radio_rate_mbps=1.0,
    )


def test_eclipse_drains_exactly_base_load() -> None:
    clock = FakeClock()
    params = PowerParams(battery_wh=100, initial_soc=0.5, base_load_w=12.0, solar_w=50.0)
    state = make(clock, ephemeris((), sunlit_at_start=False), power=params)
    clock.t = 1800.0
    state.advance()
    assert state.battery.energy_wh == pytest.approx(50.0 - 12.0 * 0.5, rel=1e-12)


def test_compute_time_is_booked_exactly_across_an_eclipse_entry() -> None:
    clock = FakeClock()
    params = PowerParams(
        battery_wh=100, initial_soc=0.5, base_load_w=10.0, compute_w=30.0, solar_w=40.0
    )
    state = make(clock, ephemeris((100.0,)), power=params)
    clock.t = 50.0
    assert state.admit() is None
    state.start()
    clock.t = 150.0  # busy for 100 s: 50 s in sunlight, 50 s in eclipse
    state.finish()
    ledger = state.battery.ledger
    assert ledger.compute_wh == pytest.approx(30.0 * 100 / 3600, rel=1e-12)
    assert ledger.solar_in_wh == pytest.approx(40.0 * 100 / 3600, rel=1e-12)
    assert ledger.base_load_wh == pytest.approx(10.0 * 150 / 3600, rel=1e-12)
    assert ledger.is_balanced(rel_tol=1e-9)


def test_reply_transmission_books_radio_energy() -> None:
    clock = FakeClock()
    params = PowerParams(radio_w=8.0)
    state = make(clock, ephemeris(()), power=params)
    state.admit()
    state.start()
    state.finish()
    state.transmit(1_000_000)  # 8 Mbit at 1 Mbit/s: 8 s of radio
    clock.t = 100.0
    state.advance()
    assert state.battery.ledger.radio_wh == pytest.approx(8.0 * 8.0 / 3600, rel=1e-12)


def test_power_refusal_and_recovery_with_hysteresis() -> None:
    clock = FakeClock()
    params = PowerParams(
        battery_wh=10,
        initial_soc=0.305,
        reserve_soc=0.3,
        recover_soc=0.4,
        base_load_w=36.0,
        solar_w=72.0,
    )
    # Dark for 10 s (0.1 Wh: soc 0.305 -> 0.295), then sunlit: +36 W net.
    state = make(clock, ephemeris((10.0,), sunlit_at_start=False), power=params)
    clock.t = 10.0
    assert state.admit() == Cause.POWER
    clock.t = 10.0 + 100.0  # +1 Wh -> soc 0.395: still below recover_soc
    assert state.admit() == Cause.POWER
    clock.t = 10.0 + 110.0  # soc 0.405
    assert state.admit() is None
    assert state.snapshot().refused == {"power": 2}


def test_thermal_refusal_and_queue_limit() -> None:
    clock = FakeClock()
    hot = make(clock, ephemeris(()), thermal=ThermalParams(initial_temp_c=65.0))
    assert hot.admit() == Cause.THERMAL
    state = make(clock, ephemeris(()), queue_depth=2)
    assert state.admit() is None and state.admit() is None
    assert state.admit() == Cause.QUEUE
    state.start()
    assert not state.can_run()  # one running, limit 1
    state.finish()
    assert state.can_run()
    snap = state.snapshot()
    assert (snap.queue_depth, snap.running, snap.served) == (1, 0, 1)
    assert snap.refused == {"queue": 1}


def test_throttled_node_runs_fewer_at_once() -> None:
    clock = FakeClock()
    warm = ThermalParams(
        initial_temp_c=55.0, max_temp_c=50.0, hard_limit_temp_c=60.0, max_throttle_factor=3.0
    )
    state = make(clock, ephemeris(()), thermal=warm, max_concurrency=4)
    assert state.throttle_factor() == pytest.approx(2.0)
    assert state.concurrency_limit() == 2


def test_restore_carries_charge_and_temperature_into_a_new_incarnation() -> None:
    clock = FakeClock()
    state = make(clock, ephemeris(()))
    state.restore(battery_wh=12.5, temperature_c=55.0)
    snap = state.snapshot()
    assert snap.battery_wh == pytest.approx(12.5) and snap.temperature_c == pytest.approx(55.0)
    assert snap.power_state.value == "reserve"  # 12.5 / 92 Wh is below the 0.3 reserve
    assert state.admit() == Cause.POWER
