"""The lumped thermal model against hand calculations (node/thermal.py).

Hand values use the constants written out here (sigma = 5.670374419e-8 W/m^2/K^4,
S = 1361 W/m^2, 0 degC = 273.15 K), not the model's own helpers.
"""

from __future__ import annotations

import math

import pytest

from orbitmesh.node.power import PowerParams, Segment, split_step
from orbitmesh.node.thermal import (
    THERMAL_CAUSE,
    ThermalNode,
    ThermalParams,
    ThermalState,
)

SIGMA = 5.670374419e-8
SOLAR = 1361.0
ZERO_C = 273.15


def params(**changes: float) -> ThermalParams:
    fields = {name: getattr(ThermalParams(), name) for name in ThermalParams.field_names()}
    fields.update(changes)
    return ThermalParams(**fields)


#: A light node (1 kg aluminium-ish, tau of minutes) with round optical numbers.
LIGHT = params(
    mass_kg=1.0,
    specific_heat_j_per_kg_k=900.0,
    absorber_area_m2=0.05,
    earth_facing_area_m2=0.05,
    earth_view_factor=0.8,
    radiator_area_m2=0.1,
    emissivity=0.8,
    absorptivity=0.5,
    albedo=0.3,
    earth_ir_w_per_m2=237.0,
)

#: Only internal heat and radiation: no Sun, albedo or Earth infrared reaches it.
DARK = params(absorber_area_m2=0.0, earth_facing_area_m2=0.0)


# --------------------------------------------------------------------------- physics


def test_steady_state_matches_hand_calculation() -> None:
    # Absorbed: sun 0.5*1361*0.05 + albedo 0.5*0.3*1361*0.05*0.8 + IR 0.8*237*0.05*0.8
    sunlit_in_w = 0.5 * SOLAR * 0.05 + 0.5 * 0.3 * SOLAR * 0.04 + 0.8 * 237.0 * 0.04 + 20.0
    eclipse_in_w = 0.8 * 237.0 * 0.04 + 20.0
    for sunlit, heat_w in ((True, sunlit_in_w), (False, eclipse_in_w)):
        expected_k = math.pow(heat_w / (0.8 * SIGMA * 0.1), 0.25)
        assert LIGHT.steady_state_temp_c(sunlit=sunlit, internal_w=20.0) == pytest.approx(
            expected_k - ZERO_C, abs=1e-9
        )
        node = ThermalNode(LIGHT)
        node.advance_span(40_000.0, sunlit=sunlit, internal_w=20.0)  # > 30 time constants
        assert node.temperature_k == pytest.approx(expected_k, abs=1e-6)


def test_short_step_matches_first_order_change() -> None:
    p = ThermalParams()
    node = ThermalNode(p)
    t0_k = 20.0 + ZERO_C
    earth_m2 = 0.077 * 0.85
    absorbed_w = 0.45 * SOLAR * 0.077 + 0.45 * 0.30 * SOLAR * earth_m2 + 0.85 * 237.0 * earth_m2
    net_w = absorbed_w + 35.0 - 0.85 * SIGMA * 0.15 * t0_k**4
    capacity = 20.0 * 896.0
    node.advance_span(1.0, sunlit=True, internal_w=35.0)
    assert node.temperature_k - t0_k == pytest.approx(net_w * 1.0 / capacity, rel=1e-4)
    node = ThermalNode(p)
    node.advance_span(10.0, sunlit=True, internal_w=35.0)
    assert node.temperature_k - t0_k == pytest.approx(net_w * 10.0 / capacity, rel=1e-3)


def test_cooling_follows_the_closed_form_radiative_solution() -> None:
    # With no input, C dT/dt = -k T^4 gives T(t) = (T0^-3 + 3 k t / C)^(-1/3).
    node = ThermalNode(DARK, temperature_c=80.0)
    k = 0.85 * SIGMA * 0.15
    capacity = 20.0 * 896.0
    t0_k = 80.0 + ZERO_C
    elapsed_s = 0.0
    for step_s in (1.0, 59.0, 540.0, 3000.0, 20_000.0, 100_000.0):
        node.advance_span(step_s, sunlit=False, internal_w=0.0)
        elapsed_s += step_s
        expected_k = (t0_k**-3 + 3.0 * k * elapsed_s / capacity) ** (-1.0 / 3.0)
        assert node.temperature_k == pytest.approx(expected_k, abs=1e-6), elapsed_s


def test_hot_node_throttles_when_the_heating_curve_reaches_max_temp() -> None:
    # Constant input Q: C dT/dt = k (a^4 - T^4) with a = (Q/k)^(1/4), whose solution is
    # t(T) = C / (2 k a^3) * [atanh(T/a) + atan(T/a)] from T0 to T.
    p = ThermalParams()  # sunlit, accelerator busy: heads for about 76 degC
    k = 0.85 * SIGMA * 0.15
    capacity = 20.0 * 896.0
    earth_m2 = 0.077 * 0.85
    heat_w = 0.45 * SOLAR * 0.077 + 0.45 * 0.30 * SOLAR * earth_m2 + 0.85 * 237.0 * earth_m2
    heat_w += 35.0
    a = math.pow(heat_w / k, 0.25)

    def curve(temp_c: float) -> float:
        x = (temp_c + ZERO_C) / a
        return capacity / (2.0 * k * a**3) * (math.atanh(x) + math.atan(x))

    to_max_s = curve(50.0) - curve(20.0)  # about 2 h 40 min
    node = ThermalNode(p)
    node.advance_span(to_max_s - 10.0, sunlit=True, internal_w=35.0)
    assert 49.98 < node.temperature_c < 50.0  # rising about 0.0016 K/s
    assert (node.is_throttled, node.throttle_factor()) == (False, 1.0)
    node.advance_span(20.0, sunlit=True, internal_w=35.0)
    assert node.is_throttled and node.throttle_factor() > 1.0
    to_hard_s = curve(60.0) - curve(20.0)
    node.advance_span(to_hard_s - to_max_s - 20.0, sunlit=True, internal_w=35.0)
    assert 59.98 < node.temperature_c < 60.0  # rising about 0.001 K/s
    assert node.admission() == (True, None)
    node.advance_span(20.0, sunlit=True, internal_w=35.0)
    assert node.admission() == (False, "thermal")
    node = ThermalNode(p)
    node.advance_span(to_hard_s, sunlit=True, internal_w=35.0)
    assert node.temperature_c == pytest.approx(60.0, abs=1e-6)


def test_heat_from_segments_is_the_mean_electrical_load() -> None:
    loads = PowerParams(base_load_w=10.0, compute_w=25.0, radio_w=10.0)
    by_segment = ThermalNode(LIGHT)
    by_segment.advance([Segment(60.0, True, compute_s=30.0, radio_s=6.0)], loads)
    by_hand = ThermalNode(LIGHT)
    by_hand.advance_span(60.0, sunlit=True, internal_w=10.0 + 25.0 * 0.5 + 10.0 * 0.1)
    assert by_segment.temperature_k == pytest.approx(by_hand.temperature_k, abs=1e-12)


def test_eclipse_entry_inside_a_step_is_honoured() -> None:
    loads = PowerParams()
    split = ThermalNode(LIGHT)
    split.advance(split_step(600.0, sunlit=[(200.0, True), (400.0, False)]), loads)
    two = ThermalNode(LIGHT)
    two.advance_span(200.0, sunlit=True, internal_w=10.0)
    two.advance_span(400.0, sunlit=False, internal_w=10.0)
    assert split.temperature_k == pytest.approx(two.temperature_k, abs=1e-12)
    end_only = ThermalNode(LIGHT)  # what checking illumination at the step end gives
    end_only.advance_span(600.0, sunlit=False, internal_w=10.0)
    assert abs(split.temperature_k - end_only.temperature_k) > 1.0


# --------------------------------------------------------------------------- throttling


#: A thermally heavy node that radiates almost nothing: 100 W into 1000 J/K heats it
#: 0.1 K/s, so threshold crossings happen at hand-computable times.
OVEN = params(
    mass_kg=1.0,
    specific_heat_j_per_kg_k=1000.0,
    absorber_area_m2=0.0,
    earth_facing_area_m2=0.0,
    radiator_area_m2=1e-6,
    max_temp_c=50.0,
    hard_limit_temp_c=60.0,
    recover_temp_c=45.0,
    max_throttle_factor=3.0,
)


def test_throttling_starts_at_max_temp_and_refusal_at_the_hard_limit() -> None:
    at_max = ThermalNode(OVEN, temperature_c=50.0)
    assert at_max.throttle_factor() == 1.0
    assert not at_max.is_throttled and at_max.state is ThermalState.NOMINAL
    assert at_max.max_concurrency(8) == 8

    node = ThermalNode(OVEN, temperature_c=49.0)  # reaches 50 degC after 10 s
    node.advance_span(9.9, sunlit=False, internal_w=100.0)
    assert node.throttle_factor() == 1.0
    assert node.max_concurrency(8) == 8
    assert node.admission() == (True, None)
    node.advance_span(0.2, sunlit=False, internal_w=100.0)  # 50.01 degC
    assert (node.is_throttled, node.state) == (True, ThermalState.THROTTLED)
    assert node.throttle_factor() == pytest.approx(1.0 + 2.0 * 0.01 / 10.0, rel=1e-3)
    assert node.max_concurrency(8) == 7
    assert node.admission() == (True, None)

    node.advance_span(49.9, sunlit=False, internal_w=100.0)  # 55 degC: halfway
    assert node.temperature_c == pytest.approx(55.0, abs=1e-3)
    assert node.throttle_factor() == pytest.approx(2.0, rel=1e-3)
    assert node.max_concurrency(8) == 4
    assert node.max_concurrency(1) == 1

    node.advance_span(49.9, sunlit=False, internal_w=100.0)  # 59.99 degC
    assert node.admission() == (True, None)
    node.advance_span(0.2, sunlit=False, internal_w=100.0)  # 60.01 degC
    assert (node.admission(), node.state) == ((False, THERMAL_CAUSE), ThermalState.OVERHEATED)
    assert node.max_concurrency(8) == 0
    assert node.throttle_factor() == 3.0


def test_thermal_refusal_recovers_with_hysteresis() -> None:
    # Cooling by radiation alone from 61 degC: the time to reach T is
    # t = C / (3 k) * (T^-3 - T0^-3).
    cool = params(
        absorber_area_m2=0.0,
        earth_facing_area_m2=0.0,
        max_temp_c=50.0,
        hard_limit_temp_c=60.0,
        recover_temp_c=45.0,
    )
    node = ThermalNode(cool, temperature_c=61.0)
    assert node.admission() == (False, "thermal")
    k = 0.85 * SIGMA * 0.15
    capacity = 20.0 * 896.0
    t0_k = 61.0 + ZERO_C

    def time_to(temp_c: float) -> float:
        return capacity / (3.0 * k) * ((temp_c + ZERO_C) ** -3 - t0_k**-3)

    node.advance_span(time_to(60.0) + 5.0, sunlit=False, internal_w=0.0)
    assert node.temperature_c < 60.0
    assert node.admission() == (False, "thermal")  # below the limit, still cooling down
    node.advance_span(time_to(45.0) - time_to(60.0) - 10.0, sunlit=False, internal_w=0.0)
    assert 45.0 < node.temperature_c < 45.1
    assert node.admission() == (False, "thermal")
    node.advance_span(10.0, sunlit=False, internal_w=0.0)
    assert node.temperature_c <= 45.0
    assert (node.admission(), node.state) == ((True, None), ThermalState.NOMINAL)


def test_between_recover_and_hard_limit_without_overheating_is_accepted() -> None:
    node = ThermalNode(OVEN, temperature_c=55.0)
    assert node.admission() == (True, None)
    assert ThermalNode(OVEN, temperature_c=60.5).admission() == (False, "thermal")


def test_default_node_throttles_only_when_kept_busy() -> None:
    loads = PowerParams()

    def orbits(compute: bool, count: int) -> ThermalNode:
        node = ThermalNode(ThermalParams())
        for _ in range(count):
            sunlit_s, eclipse_s = 59 * 60.0, 36 * 60.0
            node.advance(
                split_step(sunlit_s, sunlit=True, compute_s=sunlit_s if compute else 0.0), loads
            )
            node.advance(
                split_step(eclipse_s, sunlit=False, compute_s=eclipse_s if compute else 0.0), loads
            )
        return node

    assert orbits(compute=False, count=30).state is ThermalState.NOMINAL
    busy = orbits(compute=True, count=30)
    assert busy.state is ThermalState.THROTTLED
    assert 1.0 < busy.throttle_factor() < 2.0


def test_nodes_share_no_state() -> None:
    a, b = ThermalNode(LIGHT), ThermalNode(LIGHT)
    a.advance_span(600.0, sunlit=True, internal_w=50.0)
    assert b.temperature_c == pytest.approx(LIGHT.initial_temp_c, abs=1e-12)
    assert a.temperature_c != b.temperature_c


# --------------------------------------------------------------------------- validation


def test_default_parameters_are_valid() -> None:
    assert ThermalParams().validate() == []
    assert "hard_limit_temp_c" in ThermalParams.field_names()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"emissivity": 0.0}, "thermal.emissivity: must be within (0, 1], got 0"),
        ({"absorptivity": 1.2}, "thermal.absorptivity: must be within [0, 1], got 1.2"),
        ({"albedo": -0.1}, "thermal.albedo: must be within [0, 1], got -0.1"),
        ({"earth_view_factor": 2.0}, "thermal.earth_view_factor: must be within [0, 1], got 2"),
        ({"mass_kg": 0.0}, "thermal.mass_kg: must be > 0, got 0"),
        ({"radiator_area_m2": -0.1}, "thermal.radiator_area_m2: must be > 0, got -0.1"),
        ({"absorber_area_m2": -1.0}, "thermal.absorber_area_m2: must be >= 0, got -1"),
        ({"earth_ir_w_per_m2": math.nan}, "thermal.earth_ir_w_per_m2: must be finite, got nan"),
        (
            {"max_temp_c": 70.0},
            "thermal.max_temp_c: must be below hard_limit_temp_c (60), got 70",
        ),
        (
            {"recover_temp_c": 60.0},
            "thermal.recover_temp_c: must be below hard_limit_temp_c (60), got 60",
        ),
        (
            {"initial_temp_c": -300.0},
            "thermal.initial_temp_c: must be above absolute zero (-273.15), got -300",
        ),
        ({"max_throttle_factor": 0.5}, "thermal.max_throttle_factor: must be >= 1, got 0.5"),
    ],
)
def test_validation_messages(changes: dict[str, float], expected: str) -> None:
    assert [str(p) for p in params(**changes).validate()] == [expected]


def test_invalid_parameters_refuse_to_build_a_node() -> None:
    with pytest.raises(ValueError, match=r"thermal\.emissivity"):
        ThermalNode(params(emissivity=0.0))
    with pytest.raises(ValueError, match="absolute zero"):
        ThermalNode(ThermalParams(), temperature_c=-274.0)
    with pytest.raises(ValueError, match="internal_w"):
        ThermalNode(ThermalParams()).advance_span(1.0, sunlit=True, internal_w=-1.0)
    assert [str(p) for p in params(mass_kg=-1.0).validate("shell[0].thermal")] == [
        "shell[0].thermal.mass_kg: must be > 0, got -1"
    ]
