"""Direct-to-device terminals (orchestrator/terminals.py): ``[[terminal]]`` tables and the
motion of routed terminals and seeded groups.

Reference positions come from formulas written out here (haversine, Ed Williams'
intermediate point and initial bearing from the Aviation Formulary), never from the
module's own output.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from skyfield.api import wgs84

from orbitmesh.checking import Checker
from orbitmesh.orchestrator.terminals import (
    KIND_DEFAULTS,
    TERMINAL_KINDS,
    TerminalSpec,
    TerminalTracks,
    parse_terminal,
)

R_KM = 6371.0088  # IUGG mean Earth radius R1, the sphere the terminals move on
ROTTERDAM = (51.9, 4.1)
NEW_YORK = (40.6, -74.0)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R_KM * math.asin(math.sqrt(a))


def intermediate_point(
    lat1: float, lon1: float, lat2: float, lon2: float, f: float
) -> tuple[float, float]:
    """Ed Williams, Aviation Formulary: the point a fraction f along the great circle."""
    p1, l1, p2, l2 = map(math.radians, (lat1, lon1, lat2, lon2))
    d = haversine_km(lat1, lon1, lat2, lon2) / R_KM
    a = math.sin((1 - f) * d) / math.sin(d)
    b = math.sin(f * d) / math.sin(d)
    x = a * math.cos(p1) * math.cos(l1) + b * math.cos(p2) * math.cos(l2)
    y = a * math.cos(p1) * math.sin(l1) + b * math.cos(p2) * math.sin(l2)
    z = a * math.sin(p1) + b * math.sin(p2)
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Ed Williams, Aviation Formulary: initial course from point 1 to point 2 (0-360)."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(y, x)) % 360.0


def routed(route: list[tuple[float, float]], speed_kmh: float, name: str = "t") -> TerminalSpec:
    return TerminalSpec(
        name=name, kind="ship", alt_m=0.0, speed_kmh=speed_kmh, route_deg=tuple(route)
    )


def group(
    count: int = 2000, seed: int = 1, fraction: float = 0.5, speed_kmh: float = 5.0
) -> TerminalSpec:
    return TerminalSpec(
        name="phones",
        kind="phone",
        alt_m=1.5,
        speed_kmh=speed_kmh,
        count=count,
        region_lat_deg=(30.0, 45.0),
        region_lon_deg=(-10.0, 5.0),
        seed=seed,
        moving_fraction=fraction,
    )


def at(tracks: TerminalTracks, offset_s: float, k: int = 0) -> tuple[float, float]:
    lat, lon, _ = tracks.geodetic(offset_s)
    return float(lat[k]), float(lon[k])


# ------------------------------------------------------------------------- single routes


@pytest.mark.parametrize("hours", [0.0, 1.0, 10.0, 50.5])
def test_equator_route_longitude_grows_at_speed_over_radius(hours: float) -> None:
    tracks = TerminalTracks([routed([(0.0, 0.0), (0.0, 90.0)], 100.0)])
    lat, lon = at(tracks, hours * 3600.0)
    assert lat == pytest.approx(0.0, abs=1e-9)
    assert lon == pytest.approx(math.degrees(100.0 * hours / R_KM), abs=1e-9)


def test_equator_route_stops_at_its_last_waypoint() -> None:
    tracks = TerminalTracks([routed([(0.0, 0.0), (0.0, 90.0)], 100.0)])
    hours = (R_KM * math.pi / 2) / 100.0  # a quarter of the equator at 100 km/h
    for offset_s in (hours * 3600.0, hours * 3600.0 + 1.0, 1e9):
        assert at(tracks, offset_s) == pytest.approx((0.0, 90.0), abs=1e-9)


@pytest.mark.parametrize("hours", [0.5, 20.0, 100.0, 150.0])
def test_ship_follows_the_great_circle_rotterdam_new_york(hours: float) -> None:
    tracks = TerminalTracks([routed([ROTTERDAM, NEW_YORK], 30.0)])
    length_km = haversine_km(*ROTTERDAM, *NEW_YORK)
    travelled_km = 30.0 * hours
    lat, lon = at(tracks, hours * 3600.0)
    want = intermediate_point(*ROTTERDAM, *NEW_YORK, travelled_km / length_km)
    assert (lat, lon) == pytest.approx(want, abs=1e-9)
    assert haversine_km(*ROTTERDAM, lat, lon) == pytest.approx(travelled_km, abs=1e-6)


def test_ship_is_at_new_york_once_the_route_is_done() -> None:
    tracks = TerminalTracks([routed([ROTTERDAM, NEW_YORK], 30.0)])
    duration_s = haversine_km(*ROTTERDAM, *NEW_YORK) / 30.0 * 3600.0
    assert at(tracks, duration_s + 3600.0) == pytest.approx(NEW_YORK, abs=1e-9)
    # A minute before the end it is still half a kilometre out.
    lat, lon = at(tracks, duration_s - 60.0)
    assert haversine_km(lat, lon, *NEW_YORK) == pytest.approx(0.5, abs=1e-6)
    assert tracks.moving.tolist() == [True]


def test_multi_leg_route_takes_the_sum_of_its_legs() -> None:
    route = [(10.0, 20.0), (15.0, 30.0), (-5.0, 40.0), (-5.0, 41.0)]
    speed = 900.0
    tracks = TerminalTracks([routed(route, speed)])
    legs_km = [haversine_km(*a, *b) for a, b in itertools.pairwise(route)]
    ends_s = np.cumsum(legs_km) / speed * 3600.0
    for end_s, waypoint in zip(ends_s, route[1:], strict=True):
        assert at(tracks, float(end_s)) == pytest.approx(waypoint, abs=1e-9)
    # Halfway along the second leg: the formulary's midpoint of that leg.
    mid_s = (ends_s[0] + ends_s[1]) / 2
    want = intermediate_point(*route[1], *route[2], 0.5)
    assert at(tracks, float(mid_s)) == pytest.approx(want, abs=1e-9)
    # Ten seconds before the whole route's time it is 2.5 km short of the end.
    lat, lon = at(tracks, float(ends_s[-1]) - 10.0)
    assert haversine_km(lat, lon, *route[-1]) == pytest.approx(2.5, abs=1e-6)
    assert at(tracks, float(ends_s[-1]) + 1e6) == pytest.approx(route[-1], abs=1e-9)


def test_any_query_order_gives_the_same_positions() -> None:
    route = [(10.0, 20.0), (15.0, 30.0), (-5.0, 40.0)]
    offsets = [5e4, 0.0, 3e3, 9e9, 1.2e4, 1.2e4, -10.0, 4e4]
    shared = TerminalTracks([routed(route, 300.0), routed(route[::-1], 200.0)])
    for offset_s in offsets:
        fresh = TerminalTracks([routed(route, 300.0), routed(route[::-1], 200.0)])
        for k in (0, 1):
            assert at(shared, offset_s, k) == at(fresh, offset_s, k)


def test_nearly_antipodal_waypoints_take_the_short_way() -> None:
    tracks = TerminalTracks([routed([(0.0, 0.0), (0.0, 179.0)], 100.0)])
    half_s = R_KM * math.radians(179.0) / 2 / 100.0 * 3600.0
    assert at(tracks, half_s) == pytest.approx((0.0, 89.5), abs=1e-9)


def test_crossing_the_antimeridian_keeps_longitude_in_range() -> None:
    tracks = TerminalTracks([routed([(0.0, 170.0), (0.0, -170.0)], 100.0)])
    hours_per_deg = R_KM * math.radians(1.0) / 100.0
    for degrees, want in ((5.0, 175.0), (10.0, -180.0), (15.0, -175.0)):
        assert at(tracks, degrees * hours_per_deg * 3600.0) == pytest.approx((0.0, want))
    _, lon, _ = tracks.geodetic(10.0 * hours_per_deg * 3600.0)
    assert -180.0 <= lon[0] < 180.0


def test_standing_terminals_and_repeated_waypoints() -> None:
    one_point = routed([(48.0, 11.0)], 50.0)
    parked = routed([(48.0, 11.0), (49.0, 12.0)], 0.0)
    repeat = routed([(0.0, 0.0), (0.0, 0.0), (0.0, 1.0)], 100.0)
    tracks = TerminalTracks([one_point, parked, repeat])
    for offset_s in (0.0, 1e5, -5.0):
        assert at(tracks, offset_s, 0) == pytest.approx((48.0, 11.0))
        assert at(tracks, offset_s, 1) == pytest.approx((48.0, 11.0))
    # The repeated first waypoint costs no time.
    assert at(tracks, 3600.0, 2) == pytest.approx((0.0, math.degrees(100.0 / R_KM)), abs=1e-9)
    assert tracks.moving.tolist() == [False, False, True]


def test_before_the_start_a_terminal_is_where_it_starts() -> None:
    tracks = TerminalTracks([routed([ROTTERDAM, NEW_YORK], 30.0), group(count=50)])
    for k in range(tracks.size):
        assert at(tracks, -3600.0, k) == at(tracks, 0.0, k)


# ------------------------------------------------------------------------------- groups


def test_group_members_start_inside_the_region_with_numbered_ids() -> None:
    tracks = TerminalTracks([group()])
    lat, lon, alt = tracks.geodetic(0.0)
    assert tracks.size == 2000 == len(lat)
    assert tracks.ids[:3] == ("phones-0", "phones-1", "phones-2")
    assert tracks.ids[-1] == "phones-1999"
    assert tracks.names == tracks.ids
    assert np.all((lat >= 30.0) & (lat <= 45.0))
    assert np.all((lon >= -10.0) & (lon <= 5.0))
    assert np.all(alt == 1.5)


def test_group_positions_repeat_for_a_seed_and_differ_for_another() -> None:
    first = TerminalTracks([group(seed=1)]).itrs_km(7200.0)
    again = TerminalTracks([group(seed=1)]).itrs_km(7200.0)
    other = TerminalTracks([group(seed=2)]).itrs_km(7200.0)
    np.testing.assert_array_equal(first, again)
    assert not np.any(np.all(first == other, axis=1))


@pytest.mark.parametrize(("count", "fraction", "movers"), [(2000, 0.5, 1000), (10, 0.3, 3)])
def test_group_moving_fraction_is_honoured(count: int, fraction: float, movers: int) -> None:
    tracks = TerminalTracks([group(count=count, fraction=fraction)])
    assert int(tracks.moving.sum()) == movers
    lat0, lon0, _ = tracks.geodetic(0.0)
    lat1, lon1, _ = tracks.geodetic(3600.0)
    still = ~tracks.moving
    np.testing.assert_array_equal(lat1[still], lat0[still])
    np.testing.assert_array_equal(lon1[still], lon0[still])
    assert np.all((lat1 != lat0)[tracks.moving])


def test_all_or_none_of_a_group_moves() -> None:
    assert TerminalTracks([group(count=20, fraction=1.0)]).moving.all()
    assert not TerminalTracks([group(count=20, fraction=0.0)]).moving.any()
    assert not TerminalTracks([group(count=20, fraction=1.0, speed_kmh=0.0)]).moving.any()


@pytest.mark.parametrize("hours", [0.25, 1.0, 30.0])
def test_group_movers_walk_speed_times_time_from_their_start(hours: float) -> None:
    tracks = TerminalTracks([group(count=300)])
    lat0, lon0, _ = tracks.geodetic(0.0)
    lat1, lon1, _ = tracks.geodetic(hours * 3600.0)
    for k in np.flatnonzero(tracks.moving):
        distance = haversine_km(lat0[k], lon0[k], lat1[k], lon1[k])
        assert distance == pytest.approx(5.0 * hours, abs=1e-6)


def test_group_headings_are_spread_over_the_compass() -> None:
    tracks = TerminalTracks([group(count=4000)])
    lat0, lon0, _ = tracks.geodetic(0.0)
    lat1, lon1, _ = tracks.geodetic(600.0)
    movers = np.flatnonzero(tracks.moving)
    headings = np.array([bearing_deg(lat0[k], lon0[k], lat1[k], lon1[k]) for k in movers])
    quarters = np.bincount((headings // 90).astype(int), minlength=4) / len(movers)
    assert quarters == pytest.approx([0.25] * 4, abs=0.04)
    # The mean direction of uniform headings has a length near 0 (1 for one heading).
    resultant = np.hypot(np.cos(np.radians(headings)).mean(), np.sin(np.radians(headings)).mean())
    assert resultant < 0.08


def test_group_members_are_uniform_over_area_not_over_latitude() -> None:
    spec = TerminalSpec(
        name="g", kind="phone", alt_m=0.0, speed_kmh=0.0, count=4000,
        region_lat_deg=(0.0, 90.0), region_lon_deg=(0.0, 10.0),
    )  # fmt: skip
    lat, _, _ = TerminalTracks([spec]).geodetic(0.0)
    # Half a hemisphere's area lies below 30 deg (sin 30 = 1/2); half its latitudes below 45.
    assert np.mean(lat < 30.0) == pytest.approx(0.5, abs=0.03)


# ------------------------------------------------------------------- flat order, ITRS


def test_tracks_hold_every_spec_in_order_with_per_terminal_values() -> None:
    ship = routed([ROTTERDAM, NEW_YORK], 30.0, name="ship1")
    plane = TerminalSpec(
        name="plane", kind="aircraft", alt_m=10_000.0, speed_kmh=900.0,
        min_elevation_deg=10.0, rate_mbps=2.0, route_deg=(NEW_YORK, ROTTERDAM),
    )  # fmt: skip
    tracks = TerminalTracks([ship, group(count=3), plane])
    assert tracks.ids == ("ship1", "phones-0", "phones-1", "phones-2", "plane")
    assert tracks.kind == ("ship", "phone", "phone", "phone", "aircraft")
    assert tracks.min_elevation_deg.tolist() == [25.0, 25.0, 25.0, 25.0, 10.0]
    assert tracks.rate_mbps.tolist() == [5.0, 5.0, 5.0, 5.0, 2.0]
    assert tracks.alt_m.tolist() == [0.0, 1.5, 1.5, 1.5, 10_000.0]
    assert at(tracks, 0.0, 0) == pytest.approx(ROTTERDAM)
    assert at(tracks, 0.0, 4) == pytest.approx(NEW_YORK)
    assert TerminalTracks([]).size == 0
    assert TerminalTracks([]).itrs_km(10.0).shape == (0, 3)


def test_itrs_agrees_with_skyfield_wgs84() -> None:
    plane = TerminalSpec(
        name="plane", kind="aircraft", alt_m=10_000.0, speed_kmh=900.0,
        route_deg=(NEW_YORK, ROTTERDAM),
    )  # fmt: skip
    tracks = TerminalTracks([plane, group(count=5), routed([(-33.9, 151.2), (-89.0, 0.0)], 50.0)])
    offset_s = 4 * 3600.0
    lat, lon, alt = tracks.geodetic(offset_s)
    xyz = tracks.itrs_km(offset_s)
    assert xyz.shape == (7, 3)
    for k in range(tracks.size):
        want = wgs84.latlon(lat[k], lon[k], elevation_m=alt[k]).itrs_xyz.km
        np.testing.assert_allclose(xyz[k], want, rtol=0, atol=1e-6)


# -------------------------------------------------------------------------- parsing

SINGLE: dict[str, Any] = {"name": "ship-1", "kind": "ship", "route": [[51.9, 4.1], [40.6, -74.0]]}
GROUP: dict[str, Any] = {
    "name": "phones",
    "kind": "phone",
    "count": 1000,
    "region": {"lat_deg": [30.0, 45.0], "lon_deg": [-10.0, 5.0]},
    "seed": 1,
}
ALLOWED = (
    "name, kind, route, count, region, seed, moving_fraction, speed_kmh, alt_m, "
    "min_elevation_deg, rate_mbps"
)
P = "terminal[3]"


def table(base: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """``base`` with ``overrides``; an override of None drops the key."""
    return {k: v for k, v in {**base, **overrides}.items() if v is not None}


def problems(raw: dict[str, Any]) -> list[str]:
    chk = Checker("t.toml")
    assert parse_terminal(raw, P, chk) is None
    assert chk.problems, "a rejected table must say why"
    for line in chk.problems:
        assert line.startswith(f"t.toml: {P}")
    return [line.removeprefix("t.toml: ") for line in chk.problems]


def test_valid_single_terminal_gets_its_kind_defaults() -> None:
    chk = Checker("t.toml")
    spec = parse_terminal(SINGLE, P, chk)
    assert chk.problems == []
    assert spec == TerminalSpec(
        name="ship-1", kind="ship", alt_m=0.0, speed_kmh=30.0, min_elevation_deg=25.0,
        rate_mbps=5.0, route_deg=((51.9, 4.1), (40.6, -74.0)),
    )  # fmt: skip
    assert spec.ids == ("ship-1",)
    assert spec.size == 1


def test_valid_group_gets_its_kind_defaults() -> None:
    chk = Checker("t.toml")
    spec = parse_terminal(GROUP, P, chk)
    assert chk.problems == []
    assert spec == TerminalSpec(
        name="phones", kind="phone", alt_m=1.5, speed_kmh=5.0, min_elevation_deg=25.0,
        rate_mbps=5.0, count=1000, region_lat_deg=(30.0, 45.0), region_lon_deg=(-10.0, 5.0),
        seed=1, moving_fraction=0.5,
    )  # fmt: skip
    assert spec.size == 1000
    assert spec.ids[0] == "phones-0"
    assert spec.ids[-1] == "phones-999"


def test_kind_defaults_table() -> None:
    assert TERMINAL_KINDS == ("phone", "ship", "aircraft")
    assert {k: tuple(v) for k, v in KIND_DEFAULTS.items()} == {
        "phone": (5.0, 1.5, 0.5),
        "ship": (30.0, 0.0, 1.0),
        "aircraft": (900.0, 10_000.0, 1.0),
    }
    chk = Checker("t.toml")
    spec = parse_terminal(table(GROUP, kind="aircraft", name="flights"), P, chk)
    assert spec is not None
    assert (spec.speed_kmh, spec.alt_m, spec.moving_fraction) == (900.0, 10_000.0, 1.0)
    assert spec.seed == 1
    assert parse_terminal(table(GROUP, seed=None), P, chk) == TerminalSpec(
        name="phones", kind="phone", alt_m=1.5, speed_kmh=5.0, count=1000,
        region_lat_deg=(30.0, 45.0), region_lon_deg=(-10.0, 5.0), seed=0, moving_fraction=0.5,
    )  # fmt: skip


BOUNDARIES: list[dict[str, Any]] = [
    {"speed_kmh": 0, "alt_m": -500, "min_elevation_deg": 0, "rate_mbps": 1e-3},
    {"speed_kmh": 3000, "alt_m": 20_000, "min_elevation_deg": 90},
    {"route": [[90, 180], [0, -180], [-90, 0]], "speed_kmh": 100},
    {"route": [[0, 0]]},
    {"route": [[0, 0], [0, 0]]},
]


@pytest.mark.parametrize("overrides", BOUNDARIES)
def test_boundaries_are_accepted_for_a_single_terminal(overrides: dict[str, Any]) -> None:
    chk = Checker("t.toml")
    assert parse_terminal(table(SINGLE, **overrides), P, chk) is not None
    assert chk.problems == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"count": 1, "moving_fraction": 0, "seed": 0},
        {"count": 1_000_000, "moving_fraction": 1},
        {"region": {"lat_deg": [-90, 90], "lon_deg": [-180, 180]}},
    ],
)
def test_boundaries_are_accepted_for_a_group(overrides: dict[str, Any]) -> None:
    chk = Checker("t.toml")
    assert parse_terminal(table(GROUP, **overrides), P, chk) is not None
    assert chk.problems == []


SINGLE_CASES: list[tuple[dict[str, Any], str]] = [
    ({"colour": "red"}, f"{P}.colour: unknown key (allowed: {ALLOWED})"),
    ({"name": None}, f"{P}.name: is required"),
    ({"name": " "}, f"{P}.name: must be a non-empty string, got the string ' '"),
    ({"name": "ship 1"}, f"{P}.name: must be printable, without spaces, got 'ship 1'"),
    ({"name": "ship\n1"}, f"{P}.name: must be printable, without spaces, got 'ship\\n1'"),
    ({"kind": None}, f"{P}.kind: is required"),
    ({"kind": "car"}, f"{P}.kind: must be one of phone, ship, aircraft, got 'car'"),
    ({"route": None}, f"{P}: needs route (one terminal) or count and region (a group)"),
    ({"route": []}, f"{P}.route: must be a non-empty array of [lat_deg, lon_deg], got an array"),
    (
        {"route": "x"},
        f"{P}.route: must be a non-empty array of [lat_deg, lon_deg], got the string 'x'",
    ),
    ({"route": [[1, 2], [3]]}, f"{P}.route[1]: must be an array of two numbers, got an array"),
    ({"route": [[1, 2], 3]}, f"{P}.route[1]: must be an array of two numbers, got int 3"),
    ({"route": [[1, "a"]]}, f"{P}.route[0][1]: must be a number, got the string 'a'"),
    ({"route": [[95, 0]]}, f"{P}.route[0]: latitude must be within [-90, 90], got 95"),
    ({"route": [[0, -180.5]]}, f"{P}.route[0]: longitude must be within [-180, 180], got -180.5"),
    (
        {"route": [[0, 0], [10, 20], [-10, -160]]},
        f"{P}.route[2]: is antipodal to {P}.route[1]: every great circle joins them, "
        "add a waypoint between to say which way",
    ),
    (
        {"route": [[90, 0], [-90, 0]]},
        f"{P}.route[1]: is antipodal to {P}.route[0]: every great circle joins them, "
        "add a waypoint between to say which way",
    ),
    ({"seed": 1}, f"{P}.seed: only a group (count and region) has one"),
    ({"moving_fraction": 0.5}, f"{P}.moving_fraction: only a group (count and region) has one"),
    ({"count": 3}, f"{P}: give route (one terminal) or count and region (a group), not both"),
    ({"speed_kmh": -1}, f"{P}.speed_kmh: must be within [0, 3000], got -1"),
    ({"speed_kmh": 3000.5}, f"{P}.speed_kmh: must be within [0, 3000], got 3000.5"),
    ({"speed_kmh": "fast"}, f"{P}.speed_kmh: must be a number, got the string 'fast'"),
    ({"alt_m": -501}, f"{P}.alt_m: must be within [-500, 20000], got -501"),
    ({"alt_m": 20_001}, f"{P}.alt_m: must be within [-500, 20000], got 20001"),
    ({"min_elevation_deg": -1}, f"{P}.min_elevation_deg: must be within [0, 90], got -1"),
    ({"min_elevation_deg": 90.5}, f"{P}.min_elevation_deg: must be within [0, 90], got 90.5"),
    ({"rate_mbps": 0}, f"{P}.rate_mbps: must be > 0, got 0"),
    ({"rate_mbps": True}, f"{P}.rate_mbps: must be a number, got the boolean true"),
]


def case_id(case: tuple[dict[str, Any], str]) -> str:
    return ",".join(f"{k}={v!r}" for k, v in case[0].items())


@pytest.mark.parametrize(("overrides", "message"), SINGLE_CASES, ids=map(case_id, SINGLE_CASES))
def test_single_terminal_problems(overrides: dict[str, Any], message: str) -> None:
    assert problems(table(SINGLE, **overrides)) == [message]


REGION = "terminal[3].region"
GROUP_CASES: list[tuple[dict[str, Any], str]] = [
    (
        {"name": "my-phones"},
        f"{P}.name: must not contain '-' (ids are <name>-<n>), got 'my-phones'",
    ),
    ({"count": None}, f"{P}.count: is required"),
    ({"region": None}, f"{P}.region: is required"),
    ({"count": 0}, f"{P}.count: must be within [1, 1000000], got 0"),
    ({"count": 1_000_001}, f"{P}.count: must be within [1, 1000000], got 1000001"),
    ({"count": 1.5}, f"{P}.count: must be an integer, got float 1.5"),
    ({"region": [30, 45]}, f"{REGION}: must be a table, got an array"),
    (
        {"region": {**GROUP["region"], "alt": 1}},
        f"{REGION}.alt: unknown key (allowed: lat_deg, lon_deg)",
    ),
    ({"region": {"lon_deg": [0, 1]}}, f"{REGION}.lat_deg: is required"),
    ({"region": {"lat_deg": [0, 1]}}, f"{REGION}.lon_deg: is required"),
    (
        {"region": {"lat_deg": [45, 30], "lon_deg": [0, 1]}},
        f"{REGION}.lat_deg: must be [low, high] with low < high, got [45, 30]",
    ),
    (
        {"region": {"lat_deg": [0, 1], "lon_deg": [170, -170]}},
        f"{REGION}.lon_deg: must be [low, high] with low < high, got [170, -170]",
    ),
    (
        {"region": {"lat_deg": [1, 1], "lon_deg": [0, 1]}},
        f"{REGION}.lat_deg: must be [low, high] with low < high, got [1, 1]",
    ),
    (
        {"region": {"lat_deg": [-95, 0], "lon_deg": [0, 1]}},
        f"{REGION}.lat_deg: latitude must be within [-90, 90], got -95",
    ),
    (
        {"region": {"lat_deg": [0, 1], "lon_deg": [0, 200]}},
        f"{REGION}.lon_deg: longitude must be within [-180, 180], got 200",
    ),
    (
        {"region": {"lat_deg": [0, 1, 2], "lon_deg": [0, 1]}},
        f"{REGION}.lat_deg: must be an array of two numbers, got an array",
    ),
    ({"seed": -1}, f"{P}.seed: must be an integer >= 0, got -1"),
    ({"seed": "x"}, f"{P}.seed: must be an integer, got the string 'x'"),
    ({"moving_fraction": 1.5}, f"{P}.moving_fraction: must be within [0, 1], got 1.5"),
    ({"moving_fraction": -0.1}, f"{P}.moving_fraction: must be within [0, 1], got -0.1"),
]


@pytest.mark.parametrize(("overrides", "message"), GROUP_CASES, ids=map(case_id, GROUP_CASES))
def test_group_problems(overrides: dict[str, Any], message: str) -> None:
    assert problems(table(GROUP, **overrides)) == [message]


def test_every_problem_is_reported_at_once() -> None:
    raw = table(
        GROUP,
        name="a b",
        kind="bike",
        count=0,
        region={"lat_deg": [100, 0], "lon_deg": [5, -5]},
        rate_mbps=-1,
        extra=1,
    )
    assert problems(raw) == [
        f"{P}.extra: unknown key (allowed: {ALLOWED})",
        f"{P}.name: must be printable, without spaces, got 'a b'",
        f"{P}.kind: must be one of phone, ship, aircraft, got 'bike'",
        f"{P}.count: must be within [1, 1000000], got 0",
        f"{REGION}.lat_deg: latitude must be within [-90, 90], got 100",
        f"{REGION}.lon_deg: must be [low, high] with low < high, got [5, -5]",
        f"{P}.rate_mbps: must be > 0, got -1",
    ]
    assert problems(table(SINGLE, route=[[91, 0], [0, 181]])) == [
        f"{P}.route[0]: latitude must be within [-90, 90], got 91",
        f"{P}.route[1]: longitude must be within [-180, 180], got 181",
    ]


def test_spec_must_be_a_route_or_a_group() -> None:
    with pytest.raises(ValueError, match="route_deg or count and region"):
        TerminalSpec(name="x", kind="ship", alt_m=0.0, speed_kmh=1.0)
    with pytest.raises(ValueError, match="route_deg or count and region"):
        TerminalSpec(
            name="x", kind="ship", alt_m=0.0, speed_kmh=1.0, route_deg=((0.0, 0.0),), count=2,
            region_lat_deg=(0.0, 1.0), region_lon_deg=(0.0, 1.0),
        )  # fmt: skip
    with pytest.raises(ValueError, match="route_deg or count and region"):
        TerminalSpec(name="x", kind="ship", alt_m=0.0, speed_kmh=1.0, count=2)
    with pytest.raises(ValueError, match="route_deg or count and region"):
        TerminalSpec(name="x", kind="ship", alt_m=0.0, speed_kmh=1.0, route_deg=(), count=0)
