"""The radiation model (node/radiation.py) against geography, published figures and
hand calculations.

Reference values come from the sources the defaults cite (the SAA box, the IGRF pole,
SPENVIS doses, the 3:2:1 latch-up split, two in-orbit upset rates) or are worked out in
the tests; statistical checks state their bounds.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from typing import Any

import numpy as np
import pytest

from orbitmesh.checking import Checker
from orbitmesh.geodesy import geodetic_to_itrs_km
from orbitmesh.node.ephemeris import Ephemeris
from orbitmesh.node.radiation import (
    REGION_OTHER,
    REGION_POLAR,
    REGION_SAA,
    DoseMeter,
    RadiationParams,
    RegionalRate,
    Track,
    altitude_factor,
    flip_bits,
    geomagnetic_latitude_deg,
    in_saa,
    local_rate,
    orbit_average_rate,
    orbit_fractions,
    parse_radiation,
    radiation_events,
    region_of,
)

DEFAULT = RadiationParams()
DAY_S = 86_400.0
#: WGS84 equatorial radius and GM (km, km^3/s^2) and the Earth's rotation rate (rad/s,
#: IERS), for a circular test orbit computed without the code under test.
EARTH_RADIUS_KM = 6378.137
GM_KM3_S2 = 398_600.4418
EARTH_RATE_RAD_S = 7.2921150e-5


def circular_track(
    *, altitude_km: float, inclination_deg: float, days: float, step_s: float = 30.0
) -> Track:
    """A circular orbit under a turning Earth: argument of latitude u = n t, node fixed
    in inertial space (so its longitude drifts west at the Earth's rate)."""
    t = np.arange(0.0, days * DAY_S + step_s, step_s)
    a = EARTH_RADIUS_KM + altitude_km
    u = t * math.sqrt(GM_KM3_S2 / a**3)
    i = math.radians(inclination_deg)
    lat = np.degrees(np.arcsin(math.sin(i) * np.sin(u)))
    lon = np.degrees(np.arctan2(math.cos(i) * np.sin(u), np.cos(u)) - EARTH_RATE_RAD_S * t)
    lon = (lon + 180.0) % 360.0 - 180.0
    return Track(times_s=t, lat_deg=lat, lon_deg=lon, alt_km=np.full_like(t, altitude_km))


def still_track(
    *, lat_deg: float, lon_deg: float, altitude_km: float, days: float, samples: int = 2
) -> Track:
    """A satellite that stays over one point: a constant rate, for hand calculations."""
    t = np.linspace(0.0, days * DAY_S, samples)
    return Track(
        times_s=t,
        lat_deg=np.full_like(t, lat_deg),
        lon_deg=np.full_like(t, lon_deg),
        alt_km=np.full_like(t, altitude_km),
    )


#: A rate calibrated on an equatorial orbit that meets neither the SAA nor high
#: latitudes, all of it "elsewhere": the local rate outside both regions is then exactly
#: the orbit average (times the altitude factor).
def flat(per_day: float, altitude_km: float = 500.0) -> RegionalRate:
    return RegionalRate(
        orbit_average=per_day,
        altitude_km=altitude_km,
        inclination_deg=0.0,
        saa_share=0.0,
        polar_share=0.0,
    )


#: Over the equator at 100 E: outside the SAA, geomagnetic latitude -9.3 degrees.
QUIET_LAT_DEG, QUIET_LON_DEG = 0.0, 100.0


# --------------------------------------------------------------------------- geography


@pytest.mark.parametrize(
    ("lat", "lon", "inside"),
    [
        (-26.61, -49.06, True),  # the SAA's deepest point (Wikipedia)
        (-23.55, -46.63, True),  # Sao Paulo
        (-25.0, 335.0, True),  # the ellipse's centre, longitude written past 180
        (-33.92, 18.42, True),  # Cape Town: the 500 km box reaches 40 E
        (50.11, 8.68, False),  # Frankfurt
        (1.29, 103.85, False),  # Singapore
        (35.69, 139.69, False),  # Tokyo
        (21.31, -157.86, False),  # Honolulu
        (-0.18, -78.47, False),  # Quito: inside the box's corner, outside its ellipse
        (-50.0, -90.0, False),  # the box's corner itself
        (-25.0, 179.0, False),  # the centre's latitude, far east: the longitude wraps
    ],
)
def test_saa_membership_at_known_points(lat: float, lon: float, inside: bool) -> None:
    assert bool(in_saa(DEFAULT, lat, lon)) is inside
    assert bool(region_of(DEFAULT, lat, lon) == REGION_SAA) is inside


def unit(lat_deg: float, lon_deg: float) -> np.ndarray[Any, np.dtype[np.float64]]:
    lat, lon = math.radians(lat_deg), math.radians(lon_deg)
    return np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)])


@pytest.mark.parametrize(
    ("lat", "lon"), [(0.0, 0.0), (69.65, 18.96), (-77.85, 166.67), (40.0, -100.0), (-30, 120)]
)
def test_geomagnetic_latitude_is_ninety_minus_the_angle_to_the_dipole_pole(
    lat: float, lon: float
) -> None:
    # Independently: the angle between unit vectors to the point and to the IGRF-13 2020
    # pole (80.65 N, 72.68 W).
    angle = math.degrees(math.acos(float(unit(lat, lon) @ unit(80.65, -72.68))))
    assert float(geomagnetic_latitude_deg(DEFAULT, lat, lon)) == pytest.approx(
        90.0 - angle, abs=1e-9
    )


def test_regions_at_known_places() -> None:
    assert region_of(DEFAULT, 69.65, 18.96) == REGION_POLAR  # Tromso, under the auroral oval
    assert region_of(DEFAULT, -77.85, 166.67) == REGION_POLAR  # McMurdo
    assert region_of(DEFAULT, 1.29, 103.85) == REGION_OTHER  # Singapore
    assert float(geomagnetic_latitude_deg(DEFAULT, 80.65, -72.68)) == pytest.approx(90.0)
    assert float(geomagnetic_latitude_deg(DEFAULT, -80.65, 107.32)) == pytest.approx(-90.0)


def test_time_in_each_region_by_inclination() -> None:
    # An equatorial orbit stays at latitude 0: outside the SAA ellipse (whose edge only
    # touches the equator) and within 90 - 80.65 = 9.35 degrees of the geomagnetic
    # equator. An orbit reaches geomagnetic latitude i + 9.35 at most, so high latitudes
    # (50.8) start between 41 and 42 degrees of inclination.
    assert orbit_fractions(DEFAULT, 0.0) == (1.0, 0.0, 0.0)
    assert orbit_fractions(DEFAULT, 41.0)[REGION_POLAR] == 0.0
    assert orbit_fractions(DEFAULT, 42.5)[REGION_POLAR] > 0.0
    polar = [orbit_fractions(DEFAULT, i)[REGION_POLAR] for i in (45, 53, 60, 70, 80, 90)]
    assert polar == sorted(polar) and len(set(polar)) == len(polar)
    for inclination in (0, 30, 53, 98, 120):
        assert sum(orbit_fractions(DEFAULT, inclination)) == pytest.approx(1.0, abs=1e-12)


# --------------------------------------------------------------------------- rates


def test_rates_grow_with_altitude_as_the_two_in_orbit_upset_rates_say() -> None:
    # 4.04e-7 per bit-day at ~700 km (Alsat-1), 7.63e-7 at 1050-1425 km (mid 1237.5 km).
    ratio = float(altitude_factor(DEFAULT, 1237.5, 700.0))
    assert ratio == pytest.approx(7.63 / 4.04, rel=1e-3)
    for source in (DEFAULT.upsets_per_bit_day, DEFAULT.latchups_per_day, DEFAULT.dose_rad_per_day):
        for lat, lon in ((-26.61, -49.06), (69.65, 18.96), (0.0, 100.0)):
            rates = [float(local_rate(DEFAULT, source, lat, lon, h)) for h in (400, 550, 700, 1000)]
            assert rates == sorted(rates)
            # Strictly, wherever the source saw events at all (the dose saw none
            # outside the SAA and high latitudes).
            assert len(set(rates)) == 4 or rates == [0.0] * 4
            assert rates[0] > 0.0 or (source is DEFAULT.dose_rad_per_day and lat == 0.0)


def test_every_source_orbit_gets_back_its_published_average() -> None:
    for source, published in (
        (DEFAULT.upsets_per_bit_day, 4.04e-7),
        (DEFAULT.latchups_per_day, 0.134),
        (DEFAULT.dose_rad_per_day, 9545.7 / 1825.0),
    ):
        average = orbit_average_rate(
            DEFAULT,
            source,
            altitude_km=source.altitude_km,
            inclination_deg=source.inclination_deg,
        )
        assert average == pytest.approx(published, rel=1e-12)


def test_latch_ups_fall_three_two_one_over_the_saa_the_poles_and_elsewhere() -> None:
    # The published split (SAA : polar : elsewhere = 3 : 2 : 1) recovered from events on
    # a simulated sun-synchronous orbit. Rate x 10^4 over 20 days: about 26,800
    # latch-ups, so a share's sampling deviation is at most sqrt(0.25 / 26800) = 0.003;
    # the 0.02 bound leaves room for the track sampling the regions a little differently
    # from the long-run average.
    params = dataclasses.replace(DEFAULT, enabled=True, rate_scale=1e4)
    track = circular_track(altitude_km=700.0, inclination_deg=98.0, days=20.0)
    events = radiation_events(params, track, satellite_id="x", weight_bits=0, output_bits=0)
    times = np.array([e.time_s for e in events])
    assert {e.kind for e in events} == {"latch-up"}
    assert abs(len(events) - 0.134e4 * 20) < 5 * math.sqrt(0.134e4 * 20) + 0.02 * 0.134e4 * 20
    held = np.searchsorted(track.times_s, times, side="right") - 1
    regions = region_of(params, track.lat_deg[held], track.lon_deg[held])
    shares = np.bincount(regions, minlength=3) / len(regions)
    assert shares[REGION_SAA] == pytest.approx(3 / 6, abs=0.02)
    assert shares[REGION_POLAR] == pytest.approx(2 / 6, abs=0.02)
    assert shares[REGION_OTHER] == pytest.approx(1 / 6, abs=0.02)


def test_dose_by_inclination_follows_spenvis() -> None:
    # SPENVIS at 550 km behind 2 mm Al, 5 years (results/{0,30,55}.txt of the cited
    # data): 0.505, 2315.5 and 9545.7 rad. The model is calibrated on 55 degrees only.
    def five_years(inclination: float) -> float:
        rate = orbit_average_rate(
            DEFAULT, DEFAULT.dose_rad_per_day, altitude_km=550.0, inclination_deg=inclination
        )
        return rate * 1825.0

    assert five_years(55.0) == pytest.approx(9545.7, rel=1e-12)
    assert five_years(30.0) / five_years(55.0) == pytest.approx(2315.5 / 9545.7, rel=0.25)
    assert five_years(0.0) / five_years(55.0) < 1e-3  # SPENVIS: 5e-5


def test_a_constant_rate_gives_a_poisson_count() -> None:
    # 0.01 upsets per bit-day on 10,000 bits for 100 days: mean 10,000, deviation 100.
    # Five deviations would be exceeded by chance with probability 6e-7; a rate taken
    # per second instead of per day would be off by a factor 86,400.
    params = dataclasses.replace(
        DEFAULT, enabled=True, upsets_per_bit_day=flat(0.01), latchups_per_day=flat(0.0)
    )
    track = still_track(lat_deg=QUIET_LAT_DEG, lon_deg=QUIET_LON_DEG, altitude_km=500.0, days=100.0)
    events = radiation_events(params, track, satellite_id="x", weight_bits=10_000, output_bits=0)
    assert {e.kind for e in events} == {"weight-upset"}
    assert abs(len(events) - 10_000) < 500
    # Uniform over the span: each half holds binomial(N, 1/2), deviation sqrt(N)/2 = 50.
    first_half = sum(e.time_s < 50 * DAY_S for e in events)
    assert abs(first_half - len(events) / 2) < 5 * math.sqrt(len(events)) / 2
    times = [e.time_s for e in events]
    assert times == sorted(times) and times[0] >= 0.0 and times[-1] < 100 * DAY_S


def test_altitude_scales_a_constant_rate_by_e_per_scale_height() -> None:
    params = dataclasses.replace(DEFAULT, upsets_per_bit_day=flat(0.01, altitude_km=500.0))
    here = float(local_rate(params, params.upsets_per_bit_day, 0.0, 100.0, 500.0 + 845.0))
    assert here == pytest.approx(0.01 * math.e, rel=1e-12)


def test_the_dose_meter_integrates_the_held_rate() -> None:
    # 2 rad a day outside both regions: 3 days and 6 hours hold 6.5 rad.
    params = dataclasses.replace(DEFAULT, dose_rad_per_day=flat(2.0))
    meter = DoseMeter(
        params,
        still_track(
            lat_deg=QUIET_LAT_DEG, lon_deg=QUIET_LON_DEG, altitude_km=500.0, days=10.0, samples=11
        ),
    )
    assert meter.dose_rad(3.25 * DAY_S) == pytest.approx(6.5, rel=1e-12)
    assert meter.dose_between_rad(1 * DAY_S, 2.5 * DAY_S) == pytest.approx(3.0, rel=1e-12)
    assert meter.dose_rad(-5.0) == 0.0
    assert meter.dose_rad(99 * DAY_S) == pytest.approx(20.0, rel=1e-12)  # held at the end


# --------------------------------------------------------------------------- determinism


ACCELERATED = dataclasses.replace(DEFAULT, enabled=True, rate_scale=1e4, seed=5)
ORBIT = circular_track(altitude_km=550.0, inclination_deg=53.0, days=1.0, step_s=10.0)


def events_of(params: RadiationParams = ACCELERATED, track: Track = ORBIT, **kw: Any) -> list[Any]:
    args: dict[str, Any] = {"satellite_id": "shell1-0-0", "weight_bits": 8_000, "output_bits": 800}
    args.update(kw)
    return radiation_events(params, track, **args)


def test_same_seed_same_events_other_seed_or_satellite_other_events() -> None:
    first = events_of()
    assert len(first) > 500
    assert {e.kind for e in first} == {"weight-upset", "output-upset", "latch-up"}
    assert events_of() == first
    assert [e.time_s for e in events_of(dataclasses.replace(ACCELERATED, seed=6))] != [
        e.time_s for e in first
    ]
    assert [e.time_s for e in events_of(satellite_id="shell1-0-1")] != [e.time_s for e in first]
    # Streams are per kind: more weights move no latch-up.
    latchups = [e for e in first if e.kind == "latch-up"]
    assert [e for e in events_of(weight_bits=80_000) if e.kind == "latch-up"] == latchups


def test_a_longer_track_keeps_every_earlier_event() -> None:
    half = Track(
        times_s=ORBIT.times_s[:4321],
        lat_deg=ORBIT.lat_deg[:4321],
        lon_deg=ORBIT.lon_deg[:4321],
        alt_km=ORBIT.alt_km[:4321],
    )
    end = float(half.times_s[-1])
    assert events_of(track=half) == [e for e in events_of() if e.time_s < end]
    window = events_of(start_s=1000.0, end_s=2000.0)
    assert window == [e for e in events_of() if 1000.0 <= e.time_s < 2000.0]


def test_disabled_radiation_draws_nothing_and_a_flood_is_refused() -> None:
    assert events_of(DEFAULT) == []
    flood = dataclasses.replace(ACCELERATED, rate_scale=1e12)
    with pytest.raises(ValueError, match="radiation events on one track"):
        events_of(flood, weight_bits=8_000_000)
    with pytest.raises(ValueError, match="weight_bits must be a non-negative integer"):
        events_of(weight_bits=-1)


def test_an_events_bit_is_the_same_every_time() -> None:
    event = next(e for e in events_of() if e.kind == "weight-upset")
    flips = []
    for _ in range(2):
        weights = np.arange(100, dtype=np.float32)
        flips.append(flip_bits(weights, event.generator(), 1))
    assert flips[0] == flips[1]


def test_a_track_from_an_ephemeris_has_its_geodetic_samples() -> None:
    lat = np.array([10.0, 20.0, 30.0])
    lon = np.array([-170.0, 0.0, 170.0])
    ephemeris = Ephemeris(
        satellite_id="x",
        start_s=60.0,
        step_s=10.0,
        itrs_km=geodetic_to_itrs_km(lat, lon, 550_000.0),
        sunlit_at_start=True,
        transitions_s=(),
    )
    track = Track.from_ephemeris(ephemeris)
    assert track.times_s.tolist() == [60.0, 70.0, 80.0]
    np.testing.assert_allclose(track.lat_deg, lat, atol=1e-9)
    np.testing.assert_allclose(track.lon_deg, lon, atol=1e-9)
    np.testing.assert_allclose(track.alt_km, 550.0, atol=1e-6)
    with pytest.raises(ValueError, match="times must increase"):
        Track(times_s=np.array([0.0, 0.0]), lat_deg=lat[:2], lon_deg=lon[:2], alt_km=lat[:2])
    with pytest.raises(ValueError, match="at least two samples"):
        Track(times_s=lat[:1], lat_deg=lat[:1], lon_deg=lon[:1], alt_km=lat[:1])


# --------------------------------------------------------------------------- bit flips


@pytest.mark.parametrize(
    ("dtype", "as_int"),
    [
        ("<f4", "<u4"),
        (">f4", ">u4"),
        ("<f2", "<u2"),
        ("<f8", "<u8"),
        (">f8", ">u8"),
        ("<i8", "<u8"),
        ("|i1", "|u1"),
    ],
)
def test_a_flipped_element_differs_from_the_original_in_exactly_the_reported_bit(
    dtype: str, as_int: str
) -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        original = (np.arange(24, dtype=np.float64) * 1.37 - 9.0).astype(dtype).reshape(4, 6)
        flipped = original.copy()
        [flip] = flip_bits(flipped, rng, 1)
        before = original.reshape(-1).view(as_int).astype(np.uint64)
        after = flipped.reshape(-1).view(as_int).astype(np.uint64)
        changed = np.flatnonzero(before != after)
        assert changed.tolist() == [flip.index]
        assert int(before[flip.index] ^ after[flip.index]) == 1 << flip.bit


def test_flipping_every_bit_of_a_float32_gives_its_bitwise_complement() -> None:
    # 32 distinct bits of a 32-bit element: each flipped exactly once.
    value = np.array([1.5], dtype=np.float32)  # 0x3FC00000
    flips = flip_bits(value, np.random.default_rng(0), 32)
    assert sorted(f.bit for f in flips) == list(range(32))
    assert int(value.view(np.uint32)[0]) == 0xFFFFFFFF ^ 0x3FC00000


def test_the_sign_bit_of_a_float32_is_bit_31() -> None:
    # Search a generator that picks bit 31 of a one-element array; flipping the sign
    # bit negates the value.
    for seed in range(1000):
        value = np.array([2.25], dtype=np.float32)
        [flip] = flip_bits(value, np.random.default_rng(seed), 1)
        if flip.bit == 31:
            assert value[0] == np.float32(-2.25)
            return
    pytest.fail("no seed in 1000 picked bit 31 of 32")


def test_flip_bits_refuses_what_has_no_bits_to_flip() -> None:
    rng = np.random.default_rng(0)
    assert flip_bits(np.zeros(3, dtype=np.float32), rng, 0) == []
    with pytest.raises(ValueError, match="object arrays"):
        flip_bits(np.array(["a"], dtype=object), rng, 1)
    with pytest.raises(ValueError, match="writeable C-contiguous"):
        flip_bits(np.zeros((4, 4), dtype=np.float32)[:, 1], rng, 1)
    with pytest.raises(ValueError, match="cannot flip 9 distinct bits"):
        flip_bits(np.zeros(1, dtype=np.uint8), rng, 9)


# --------------------------------------------------------------------------- parsing


def parsed(text: str) -> tuple[RadiationParams | None, list[str]]:
    chk = Checker("s.toml")
    params = parse_radiation(tomllib.loads(text)["radiation"], chk)
    return params, chk.problems


def test_a_radiation_table_parses_over_the_defaults() -> None:
    params, problems = parsed(
        "[radiation]\nenabled = true\nseed = 42\nrate_scale = 1e3\nscrub_interval_s = 600\n"
        "[radiation.latchups_per_day]\norbit_average = 0.5\n"
    )
    assert problems == []
    assert params is not None
    assert (params.enabled, params.seed, params.rate_scale) == (True, 42, 1000.0)
    assert params.scrub_interval_s == 600.0
    assert params.latchups_per_day == dataclasses.replace(
        DEFAULT.latchups_per_day, orbit_average=0.5
    )
    assert params.upsets_per_bit_day == DEFAULT.upsets_per_bit_day
    assert DEFAULT.validate() == []
    assert parsed("[radiation]\n") == (DEFAULT, [])


ALLOWED = (
    "enabled, seed, rate_scale, upsets_per_bit_day, latchups_per_day, dose_rad_per_day, "
    "altitude_scale_km, saa_lat_deg, saa_lon_deg, saa_half_height_deg, saa_half_width_deg, "
    "geomagnetic_pole_lat_deg, geomagnetic_pole_lon_deg, high_latitude_deg, latchup_down_s, "
    "scrub_interval_s"
)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("radiation = 3\n", "radiation: must be a table, got int 3"),
        ("[radiation]\nflux = 1\n", f"radiation.flux: unknown key (allowed: {ALLOWED})"),
        (
            '[radiation]\nenabled = "yes"\n',
            "radiation.enabled: must be true or false, got the string 'yes'",
        ),
        ("[radiation]\nseed = -1\n", "radiation.seed: must be within [0, 2**63), got -1"),
        ("[radiation]\nseed = 1.5\n", "radiation.seed: must be an integer, got float 1.5"),
        (
            "[radiation]\nrate_scale = 0\n",
            "radiation.rate_scale: must be within (0, 1000000000000], got 0",
        ),
        (
            '[radiation]\nlatchup_down_s = "x"\n',
            "radiation.latchup_down_s: must be a number, got the string 'x'",
        ),
        ("[radiation]\nlatchup_down_s = -1\n", "radiation.latchup_down_s: must be >= 0, got -1"),
        ("[radiation]\nscrub_interval_s = 0\n", "radiation.scrub_interval_s: must be > 0, got 0"),
        (
            "[radiation]\nsaa_half_width_deg = 200\n",
            "radiation.saa_half_width_deg: must be within (0, 180], got 200",
        ),
        (
            "[radiation]\nhigh_latitude_deg = 90\n",
            "radiation.high_latitude_deg: must be within (0, 90), got 90",
        ),
        (
            "[radiation]\naltitude_scale_km = -5\n",
            "radiation.altitude_scale_km: must be > 0, got -5",
        ),
        (
            "[radiation]\nupsets_per_bit_day = 5\n",
            "radiation.upsets_per_bit_day: must be a table, got int 5",
        ),
        (
            "[radiation.upsets_per_bit_day]\norbit_average = -1\n",
            "radiation.upsets_per_bit_day.orbit_average: must be >= 0, got -1",
        ),
        (
            "[radiation.upsets_per_bit_day]\nper_bit = 1\n",
            "radiation.upsets_per_bit_day.per_bit: unknown key (allowed: orbit_average, "
            "altitude_km, inclination_deg, saa_share, polar_share)",
        ),
        (
            "[radiation.dose_rad_per_day]\ninclination_deg = 181\n",
            "radiation.dose_rad_per_day.inclination_deg: must be within [0, 180], got 181",
        ),
        (
            "[radiation.dose_rad_per_day]\nsaa_share = 0.5\npolar_share = 0.6\n",
            "radiation.dose_rad_per_day.polar_share: with saa_share (0.5) must not exceed 1, "
            "got 0.6",
        ),
        (
            "[radiation.latchups_per_day]\ninclination_deg = 30\n",
            "radiation.latchups_per_day.polar_share: must be 0: an orbit inclined 30 degrees "
            "never reaches high geomagnetic latitudes, got 0.333333333333333",
        ),
        (
            "[radiation.upsets_per_bit_day]\ninclination_deg = 0\npolar_share = 0\n",
            "radiation.upsets_per_bit_day.saa_share: must be 0: an orbit inclined 0 degrees "
            "never reaches the SAA, got 0.975",
        ),
    ],
)
def test_each_problem_is_one_line_with_its_path(text: str, line: str) -> None:
    params, problems = parsed(text)
    assert problems == [f"s.toml: {line}"]
    assert params is None
