"""The battery model against hand calculations (node/power.py, node/energy_ledger.py).

Every expected value is worked out in the test from the stated watts and seconds, never
taken from the code under test.
"""

from __future__ import annotations

import math
import random

import pytest

from orbitmesh.checking import ParamProblem
from orbitmesh.node.energy_ledger import EnergyLedger
from orbitmesh.node.power import (
    POWER_CAUSE,
    Battery,
    PowerParams,
    PowerState,
    Segment,
    split_step,
    sunlit_spans,
)

#: Round numbers for hand calculations: 100 Wh battery, 50 W array, 10 W bus,
#: 20 W compute, 5 W radio; refuse below 20%, accept again from 30%.
HAND = PowerParams(
    battery_wh=100.0,
    initial_soc=0.9,
    reserve_soc=0.2,
    recover_soc=0.3,
    solar_w=50.0,
    base_load_w=10.0,
    compute_w=20.0,
    radio_w=5.0,
)


def hand(**changes: float) -> PowerParams:
    fields = {name: getattr(HAND, name) for name in PowerParams.field_names()}
    fields.update(changes)
    return PowerParams(**fields)


# --------------------------------------------------------------------------- energy


def test_full_eclipse_drains_exactly_base_load_times_duration() -> None:
    battery = Battery(HAND)
    step = battery.step(2100.0, sunlit=False)
    drained_wh = 10.0 * 2100.0 / 3600.0  # 5.8333 Wh
    assert battery.energy_wh == pytest.approx(90.0 - drained_wh, rel=1e-12)
    assert step.base_load_wh == pytest.approx(drained_wh, rel=1e-12)
    assert step.stored_delta_wh == pytest.approx(-drained_wh, rel=1e-12)
    assert step.solar_in_wh == step.compute_wh == step.radio_wh == 0.0
    assert step.clipped_wh == step.unmet_wh == 0.0


def test_default_bus_drains_six_wh_in_a_36_minute_eclipse() -> None:
    battery = Battery(PowerParams())
    start_wh = battery.energy_wh
    battery.step(36 * 60.0, sunlit=False)
    assert start_wh - battery.energy_wh == pytest.approx(10.0 * 0.6, rel=1e-12)


def test_sunlit_surplus_charges_until_full_then_clips() -> None:
    battery = Battery(HAND)
    battery.step(600.0, sunlit=True)
    # Net 50 - 10 = 40 W for 600 s.
    assert battery.energy_wh == pytest.approx(90.0 + 40.0 * 600.0 / 3600.0, rel=1e-12)

    battery = Battery(HAND)
    step = battery.step(3600.0, sunlit=True)
    # 40 Wh of surplus in the hour; 10 Wh fill the battery, 30 Wh are clipped.
    assert battery.energy_wh == 100.0
    assert battery.soc == 1.0
    assert step.solar_in_wh == pytest.approx(50.0, rel=1e-12)
    assert step.base_load_wh == pytest.approx(10.0, rel=1e-12)
    assert step.stored_delta_wh == pytest.approx(10.0, rel=1e-12)
    assert step.clipped_wh == pytest.approx(30.0, rel=1e-12)
    assert step.balance_error_wh() == pytest.approx(0.0, abs=1e-12)


def test_compute_and_radio_seconds_add_their_energy() -> None:
    battery = Battery(HAND)
    step = battery.step(1800.0, sunlit=False, compute_s=900.0, radio_s=300.0)
    base_wh = 10.0 * 1800.0 / 3600.0  # 5 Wh
    compute_wh = 20.0 * 900.0 / 3600.0  # 5 Wh
    radio_wh = 5.0 * 300.0 / 3600.0  # 0.41667 Wh
    assert step.compute_wh == pytest.approx(compute_wh, rel=1e-12)
    assert step.radio_wh == pytest.approx(radio_wh, rel=1e-12)
    assert battery.energy_wh == pytest.approx(90.0 - base_wh - compute_wh - radio_wh, rel=1e-12)


def test_brown_out_is_reported_as_unmet_energy() -> None:
    battery = Battery(hand(initial_soc=0.05))  # 5 Wh left
    step = battery.step(3600.0, sunlit=False)  # the bus wants 10 Wh
    assert battery.energy_wh == 0.0
    assert step.base_load_wh == pytest.approx(10.0, rel=1e-12)
    assert step.unmet_wh == pytest.approx(5.0, rel=1e-12)
    assert step.stored_delta_wh == pytest.approx(-5.0, rel=1e-12)
    assert step.balance_error_wh() == pytest.approx(0.0, abs=1e-12)
    assert battery.can_start_inference() == (False, POWER_CAUSE)


# --------------------------------------------------------------------------- segments


def test_eclipse_entry_inside_a_step_equals_two_steps() -> None:
    one = Battery(HAND)
    one.step(100.0, sunlit=[(40.0, True), (60.0, False)], compute_s=50.0, radio_s=10.0)
    two = Battery(HAND)
    two.step(40.0, sunlit=True, compute_s=20.0, radio_s=4.0)
    two.step(60.0, sunlit=False, compute_s=30.0, radio_s=6.0)
    assert one.energy_wh == pytest.approx(two.energy_wh, rel=1e-12)
    for name, value in one.ledger.as_dict().items():
        assert value == pytest.approx(two.ledger.as_dict()[name], rel=1e-12, abs=1e-15), name


def test_eclipse_inside_a_step_is_not_averaged_away() -> None:
    """A full battery clips the sunlit part and then drains: not the mean of the two."""
    battery = Battery(hand(initial_soc=1.0))
    step = battery.step(100.0, sunlit=sunlit_spans(100.0, sunlit_at_start=True, transitions_s=[40]))
    # Loads: 10 W all along. Sunlit 40 s: +40 W surplus, all clipped at full charge.
    # Eclipse 60 s: -10 W.
    assert step.clipped_wh == pytest.approx(40.0 * 40.0 / 3600.0, rel=1e-12)
    assert battery.energy_wh == pytest.approx(100.0 - 10.0 * 60.0 / 3600.0, rel=1e-12)
    # Averaging the illumination over the step (0.4 x 50 W - 10 W = +10 W) would have
    # left the battery full.
    assert battery.energy_wh < 100.0


def test_sunlit_spans_from_transition_offsets() -> None:
    assert sunlit_spans(100.0, sunlit_at_start=True) == [(100.0, True)]
    assert sunlit_spans(100.0, sunlit_at_start=True, transitions_s=[40.0]) == [
        (40.0, True),
        (60.0, False),
    ]
    assert sunlit_spans(100.0, sunlit_at_start=False, transitions_s=[0.0, 30.0, 100.0]) == [
        (30.0, True),
        (70.0, False),
    ]
    assert sunlit_spans(0.0, sunlit_at_start=True) == [(0.0, True)]
    with pytest.raises(ValueError, match="ascend"):
        sunlit_spans(100.0, sunlit_at_start=True, transitions_s=[50.0, 40.0])
    with pytest.raises(ValueError, match="ascend"):
        sunlit_spans(100.0, sunlit_at_start=True, transitions_s=[120.0])


def test_split_step_spreads_activity_in_proportion() -> None:
    segments = split_step(100.0, sunlit=[(25.0, True), (75.0, False)], compute_s=40.0, radio_s=8.0)
    assert segments == [Segment(25.0, True, 10.0, 2.0), Segment(75.0, False, 30.0, 6.0)]
    assert split_step(10.0, sunlit=True, compute_s=10.0) == [Segment(10.0, True, 10.0, 0.0)]
    with pytest.raises(ValueError, match="spans last 90"):
        split_step(100.0, sunlit=[(40.0, True), (50.0, False)])
    with pytest.raises(ValueError, match="compute_s"):
        split_step(100.0, sunlit=[(40.0, True), (60.0, False)], compute_s=101.0)


def test_segment_rejects_impossible_activity() -> None:
    with pytest.raises(ValueError, match="duration_s"):
        Segment(-1.0, True)
    with pytest.raises(ValueError, match="compute_s"):
        Segment(10.0, True, compute_s=11.0)
    with pytest.raises(ValueError, match="radio_s"):
        Segment(10.0, True, radio_s=-1.0)
    with pytest.raises(ValueError, match="compute_s"):
        Segment(10.0, True, compute_s=math.nan)
    assert Segment(10.0, False, compute_s=5.0, radio_s=2.0).load_w(HAND) == pytest.approx(
        10.0 + 20.0 * 0.5 + 5.0 * 0.2
    )


# --------------------------------------------------------------------------- ledger


def test_ledger_balances_over_a_long_random_sequence() -> None:
    rng = random.Random(20260320)
    # A small battery and strong loads so that both clipping and brown-outs happen.
    params = hand(battery_wh=20.0, initial_soc=0.5, solar_w=60.0, compute_w=40.0, radio_w=15.0)
    battery = Battery(params)
    start_wh = battery.energy_wh
    total = EnergyLedger()
    for _ in range(5000):
        duration_s = rng.uniform(0.0, 900.0)
        if rng.random() < 0.3:
            spans = sunlit_spans(
                duration_s,
                sunlit_at_start=rng.random() < 0.6,
                transitions_s=[rng.uniform(0.0, duration_s)],
            )
            sunlit: bool | list[tuple[float, bool]] = spans
        else:
            sunlit = rng.random() < 0.6
        total += battery.step(
            duration_s,
            sunlit=sunlit,
            compute_s=rng.uniform(0.0, duration_s),
            radio_s=rng.uniform(0.0, duration_s) * rng.random(),
        )
    ledger = battery.ledger
    assert ledger.clipped_wh > 1.0 and ledger.unmet_wh > 1.0  # both paths exercised
    assert abs(ledger.balance_error_wh()) <= 1e-9 * ledger.throughput_wh
    assert ledger.is_balanced()
    assert ledger.stored_delta_wh == pytest.approx(battery.energy_wh - start_wh, abs=1e-9)
    assert total.stored_delta_wh == pytest.approx(ledger.stored_delta_wh, abs=1e-9)
    assert 0.0 <= battery.energy_wh <= params.battery_wh


def test_ledger_balance_check_catches_a_missing_flow() -> None:
    good = EnergyLedger(solar_in_wh=50.0, base_load_wh=10.0, clipped_wh=30.0, stored_delta_wh=10.0)
    assert good.balance_error_wh() == 0.0 and good.is_balanced()
    bad = EnergyLedger(solar_in_wh=50.0, base_load_wh=10.0, stored_delta_wh=10.0)
    assert bad.balance_error_wh() == pytest.approx(30.0)
    assert not bad.is_balanced()
    # 0.1% of the 90 Wh throughput is 0.09 Wh.
    assert EnergyLedger(solar_in_wh=50.0, base_load_wh=10.0, stored_delta_wh=39.95).is_balanced()


# --------------------------------------------------------------------------- admission


def test_refuses_below_reserve_and_recovers_at_recover_soc() -> None:
    battery = Battery(hand(initial_soc=0.25))  # 25 Wh: between reserve and recover
    accepted = ((True, None), PowerState.NOMINAL)
    assert (battery.can_start_inference(), battery.state) == accepted
    # 10 W eclipse drain reaches the 20 Wh reserve after 5 Wh / 10 W = 1800 s.
    battery.step(1799.0, sunlit=False)
    assert (battery.can_start_inference(), battery.state) == accepted
    battery.step(2.0, sunlit=False)
    assert battery.energy_wh == pytest.approx(25.0 - 10.0 * 1801.0 / 3600.0, rel=1e-12)
    assert (battery.can_start_inference(), battery.state) == ((False, "power"), PowerState.RESERVE)

    # Sunlit: +40 W. Back above the reserve within a second, but still refusing.
    battery.step(1.0, sunlit=True)
    assert battery.soc > 0.2
    recovering = ((False, "power"), PowerState.RECOVERING)
    assert (battery.can_start_inference(), battery.state) == recovering
    # The 30 Wh recover level is reached after (30 - E) Wh / 40 W.
    to_recover_s = (30.0 - battery.energy_wh) * 3600.0 / 40.0
    battery.step(to_recover_s - 1.0, sunlit=True)
    assert (battery.can_start_inference(), battery.state) == recovering
    battery.step(2.0, sunlit=True)
    assert (battery.can_start_inference(), battery.state) == accepted


def test_starting_below_the_reserve_refuses_at_once() -> None:
    battery = Battery(hand(initial_soc=0.1))
    assert (battery.can_start_inference(), battery.state) == ((False, "power"), PowerState.RESERVE)
    assert Battery(HAND, energy_wh=25.0).can_start_inference() == (True, None)


def test_batteries_share_no_state() -> None:
    a, b = Battery(HAND), Battery(HAND)
    a.step(3600.0, sunlit=False, compute_s=3600.0)
    assert b.energy_wh == 90.0
    assert b.ledger == EnergyLedger()
    assert a.ledger != b.ledger


# --------------------------------------------------------------------------- validation


def test_default_parameters_are_valid() -> None:
    assert PowerParams().validate() == []
    assert "reserve_soc" in PowerParams.field_names()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"reserve_soc": 1.5}, "power.reserve_soc: must be within [0, 1], got 1.5"),
        ({"initial_soc": -0.1}, "power.initial_soc: must be within [0, 1], got -0.1"),
        ({"recover_soc": 1.2}, "power.recover_soc: must be within [0, 1], got 1.2"),
        (
            {"reserve_soc": 0.5, "recover_soc": 0.4},
            "power.recover_soc: must be greater than reserve_soc (0.5), got 0.4",
        ),
        (
            {"reserve_soc": 0.3, "recover_soc": 0.3},
            "power.recover_soc: must be greater than reserve_soc (0.3), got 0.3",
        ),
        ({"battery_wh": -5.0}, "power.battery_wh: must be > 0, got -5"),
        ({"battery_wh": 0.0}, "power.battery_wh: must be > 0, got 0"),
        ({"solar_w": -1.0}, "power.solar_w: must be >= 0, got -1"),
        ({"compute_w": math.inf}, "power.compute_w: must be finite, got inf"),
        ({"radio_w": math.nan}, "power.radio_w: must be finite, got nan"),
    ],
)
def test_validation_messages(changes: dict[str, float], expected: str) -> None:
    problems = hand(**changes).validate()
    assert [str(p) for p in problems] == [expected]


def test_validation_reports_every_problem_under_the_given_path() -> None:
    params = hand(battery_wh=-1.0, base_load_w=-2.0, reserve_soc=2.0)
    assert params.validate("shell[1].power") == [
        ParamProblem("shell[1].power.battery_wh", "must be > 0, got -1"),
        ParamProblem("shell[1].power.reserve_soc", "must be within [0, 1], got 2"),
        ParamProblem("shell[1].power.base_load_w", "must be >= 0, got -2"),
    ]
    with pytest.raises(ValueError, match=r"power\.battery_wh: must be > 0"):
        Battery(params)
    with pytest.raises(ValueError, match="energy_wh"):
        Battery(HAND, energy_wh=101.0)
