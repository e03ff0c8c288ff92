"""Positions, geodetic coordinates, sunlight and ground visibility against skyfield's API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from conftest import make_scenario, tle_path
from skyfield.api import EarthSatellite, wgs84
from skyfield.framelib import itrs
from skyfield.timelib import Timescale

from orbitmesh.constants import C_KM_PER_S
from orbitmesh.orchestrator import GeometryEngine
from orbitmesh.orchestrator.orbits import times_at

OFFSETS_S = np.array([0.0, 437.5, 1800.0, 3333.3, 7000.0])


def _tle_engine(name: str, start: str) -> GeometryEngine:
    return GeometryEngine(
        make_scenario(
            {
                "time": {"start": start, "duration_s": 7200},
                "shell": [],
                "tle": [{"path": str(tle_path(name))}],
                "compute": {"satellites": "all"},
            }
        )
    )


TLE_CASES = [
    ("starlink-2020-02-01.tle", "2020-02-01T18:00:00Z"),
    ("starlink-2020-05-06.tle", "2020-05-06T06:30:00Z"),
    ("oneweb-2020-02-01.tle", "2020-02-01T12:00:00Z"),
]


@pytest.fixture(scope="module", params=TLE_CASES, ids=[c[0] for c in TLE_CASES])
def tle_engine(request: pytest.FixtureRequest) -> GeometryEngine:
    name, start = request.param
    return _tle_engine(name, start)


def _reference_itrs_km(engine: GeometryEngine, sat: int, ts: Timescale) -> Any:
    es = EarthSatellite.from_satrec(engine.catalog.satrec(sat), ts)
    return es.at(times_at(engine.start, OFFSETS_S)).frame_xyz(itrs).km.T


def test_tle_positions_match_skyfield_within_1_m(tle_engine: GeometryEngine, ts: Timescale) -> None:
    positions, valid = tle_engine.positions(OFFSETS_S)
    assert positions.shape == (len(OFFSETS_S), tle_engine.catalog.size, 3)
    sats = range(0, tle_engine.catalog.size, max(1, tle_engine.catalog.size // 40))
    worst_m = 0.0
    for sat in sats:
        if not valid[:, sat].all():
            continue
        ref = _reference_itrs_km(tle_engine, sat, ts)
        worst_m = max(worst_m, float(np.abs(positions[:, sat] - ref).max()) * 1e3)
    assert worst_m < 1.0


def test_walker_positions_match_skyfield_within_1_m(
    walker_engine: GeometryEngine, ts: Timescale
) -> None:
    positions, valid = walker_engine.positions(OFFSETS_S)
    assert valid.all()
    for sat in range(walker_engine.catalog.size):
        ref = _reference_itrs_km(walker_engine, sat, ts)
        assert np.abs(positions[:, sat] - ref).max() * 1e3 < 1.0


def test_large_walker_shell_positions_match_skyfield_within_1_m(ts: Timescale) -> None:
    """Starlink shell 1 (1,584 distinct mean anomalies) takes the Fourier-series path."""
    shell = {
        "name": "sl",
        "altitude_km": 550,
        "inclination_deg": 53,
        "planes": 72,
        "sats_per_plane": 22,
        "phasing": 1,
    }
    engine = GeometryEngine(make_scenario({"shell": [shell]}))
    assert [part.fourier for part in engine.propagator._shells] == [True]
    positions, valid = engine.positions(OFFSETS_S)
    assert valid.all()
    for sat in range(0, engine.catalog.size, 37):
        ref = _reference_itrs_km(engine, sat, ts)
        assert np.abs(positions[:, sat] - ref).max() * 1e3 < 1.0


def test_walker_elements_follow_the_walker_pattern(ts: Timescale) -> None:
    engine = GeometryEngine(
        make_scenario(
            {
                "shell": [
                    {
                        "name": "w",
                        "altitude_km": 700,
                        "inclination_deg": 60,
                        "planes": 5,
                        "sats_per_plane": 4,
                        "phasing": 2,
                        "raan_spread_deg": 360,
                        "raan_offset_deg": 10,
                    }
                ]
            }
        )
    )
    cat = engine.catalog
    assert cat.ids[0] == "w-0-0" and cat.ids[7] == "w-1-3" and cat.ids[-1] == "w-4-3"
    total = 20
    for i, sat in enumerate(cat.satrecs):
        p, s = divmod(i, 4)
        assert np.degrees(sat.nodeo) == pytest.approx((10 + p * 72) % 360, abs=1e-9)
        anomaly = (s * 90 + p * 2 * 360 / total) % 360
        assert np.degrees(sat.mo) == pytest.approx(anomaly, abs=1e-9)
        assert np.degrees(sat.inclo) == pytest.approx(60, abs=1e-12)
        # Epoch at the scenario start (to the microsecond).
        epoch = EarthSatellite.from_satrec(sat, ts).epoch.utc_datetime()
        assert abs(epoch - engine.start) < timedelta(microseconds=5)
    # Circular orbit near the requested altitude (SGP4's J2 terms move it a few km).
    _lat, _lon, alt = engine.tick(0.0, routes=False).geodetic()
    assert np.all(np.abs(alt - 700) < 30)


def test_positions_are_the_same_one_time_or_many(walker_engine: GeometryEngine) -> None:
    many, _ = walker_engine.positions(OFFSETS_S)
    for k, off in enumerate(OFFSETS_S):
        one, _ = walker_engine.positions(np.array([off]))
        np.testing.assert_allclose(one[0], many[k], rtol=0, atol=1e-9)
    ticks = list(walker_engine.ticks(OFFSETS_S, routes=False, batch=2))
    np.testing.assert_allclose(np.stack([t.itrs_km for t in ticks]), many, rtol=0, atol=1e-9)


def test_geodetic_matches_skyfield(tle_engine: GeometryEngine, ts: Timescale) -> None:
    tick = tle_engine.tick(1234.5, routes=False)
    lat, lon, alt = tick.geodetic()
    t = times_at(tle_engine.start, 1234.5)
    for sat in range(0, tle_engine.catalog.size, max(1, tle_engine.catalog.size // 30)):
        es = EarthSatellite.from_satrec(tle_engine.catalog.satrec(sat), ts)
        geo = wgs84.geographic_position_of(es.at(t))
        assert lat[sat] == pytest.approx(geo.latitude.degrees, abs=1e-7)
        assert lon[sat] == pytest.approx(geo.longitude.degrees, abs=1e-7)
        assert alt[sat] == pytest.approx(geo.elevation.km, abs=1e-3)


def test_sunlit_identical_to_skyfield(
    tle_engine: GeometryEngine, ts: Timescale, ephemeris: Any
) -> None:
    offsets = np.arange(0.0, 7200.0, 300.0)
    lit_counts = [0, 0]
    for tick in tle_engine.ticks(offsets, routes=False):
        t = times_at(tle_engine.start, tick.offset_s)
        for sat in range(0, tle_engine.catalog.size, max(1, tle_engine.catalog.size // 25)):
            es = EarthSatellite.from_satrec(tle_engine.catalog.satrec(sat), ts)
            expected = bool(es.at(t).is_sunlit(ephemeris))
            assert bool(tick.sunlit[sat]) == expected, (tick.offset_s, sat)
            lit_counts[expected] += 1
    # Both outcomes occur, so the comparison means something.
    assert min(lit_counts) > 0


def test_walker_eclipse_fraction_is_plausible(walker_engine: GeometryEngine) -> None:
    # A 550 km orbit spends roughly a third of each revolution in shadow near equinox.
    lit = np.stack(
        [t.sunlit for t in walker_engine.ticks(np.arange(0.0, 5760.0, 60.0), routes=False)]
    )
    assert 0.55 < lit.mean() < 0.75


def test_ground_visibility_matches_skyfield(walker_engine: GeometryEngine, ts: Timescale) -> None:
    for offset in (0.0, 900.0, 2400.0):
        tick = walker_engine.tick(offset, routes=False)
        t = times_at(walker_engine.start, offset)
        g = tick.ground
        for j, spec in enumerate(walker_engine.stations.specs):
            topo = wgs84.latlon(spec.lat_deg, spec.lon_deg, elevation_m=spec.alt_m)
            expected: set[int] = set()
            for sat in range(walker_engine.catalog.size):
                es = EarthSatellite.from_satrec(walker_engine.catalog.satrec(sat), ts)
                alt, az, dist = (es - topo).at(t).altaz()
                if alt.degrees >= spec.min_elevation_deg:
                    expected.add(sat)
                hit = np.flatnonzero((g.station == j) & (g.satellite == sat))
                if len(hit):
                    k = int(hit[0])
                    assert g.elevation_deg[k] == pytest.approx(alt.degrees, abs=0.01)
                    assert g.azimuth_deg[k] == pytest.approx(az.degrees, abs=0.01)
                    assert g.range_km[k] == pytest.approx(dist.km, abs=1e-3)
                    assert g.delay_ms[k] == pytest.approx(dist.km / C_KM_PER_S * 1e3, rel=1e-9)
            assert set(g.satellite[g.station == j].tolist()) == expected


def test_visibility_finds_satellites_on_real_tles(ts: Timescale) -> None:
    engine = _tle_engine("starlink-2020-05-06.tle", "2020-05-06T06:30:00Z")
    tick = engine.tick(600.0, routes=False)
    t = times_at(engine.start, 600.0)
    spec = engine.stations.specs[0]
    topo = wgs84.latlon(spec.lat_deg, spec.lon_deg, elevation_m=spec.alt_m)
    sats = [EarthSatellite.from_satrec(s, ts) for s in engine.catalog.satrecs]
    expected = {
        i
        for i, es in enumerate(sats)
        if (es - topo).at(t).altaz()[0].degrees >= spec.min_elevation_deg
    }
    got = set(tick.ground.satellite[tick.ground.station == 0].tolist())
    assert got == expected
    assert len(expected) > 0


@pytest.mark.parametrize(
    ("planes", "per_plane", "phasing", "altitude_km"),
    [
        (80, 80, 1, 550.0),  # 6,400 distinct mean anomalies: the Fourier-series path
        (40, 30, 0, 550.0),  # F = 0: 30 distinct mean anomalies, direct references
        (3, 4, 1, 20_200.0),  # GPS-like, deep-space SGP4 (SDP4): the general path
    ],
)
def test_every_shell_path_matches_per_satellite_sgp4(
    planes: int, per_plane: int, phasing: int, altitude_km: float, ts: Timescale
) -> None:
    shell = {
        "name": "w",
        "altitude_km": altitude_km,
        "inclination_deg": 55,
        "planes": planes,
        "sats_per_plane": per_plane,
        "phasing": phasing,
    }
    engine = GeometryEngine(make_scenario({"shell": [shell], "links": {"isl": "none"}}))
    positions, valid = engine.positions(OFFSETS_S)
    assert valid.all()
    rng = np.random.default_rng(11)
    for sat in rng.choice(engine.catalog.size, size=min(40, engine.catalog.size), replace=False):
        ref = _reference_itrs_km(engine, int(sat), ts)
        assert np.abs(positions[:, sat] - ref).max() * 1e3 < 1.0


def test_shifted_pairs_agree_with_each_satellites_own_record() -> None:
    """Walker satellites at arbitrary instants from one reference satellite per shell (the
    contact search's refinement) against each satellite's own SGP4 record: within 0.1 m."""
    shell = {
        "name": "s",
        "altitude_km": 550.0,
        "inclination_deg": 53.0,
        "planes": 72,
        "sats_per_plane": 22,
        "phasing": 36,
    }
    engine = GeometryEngine(make_scenario({"shell": [shell], "links": {"isl": "none"}}))
    rng = np.random.default_rng(4)
    sats = rng.integers(0, engine.catalog.size, 300)
    offsets = rng.uniform(0.0, 86_400.0, 300)
    t = times_at(engine.start, offsets)
    shifted = engine.propagator.itrs_km_pairs(sats, t, shifted=True)
    own = engine.propagator.itrs_km_pairs(sats, t)
    assert np.abs(shifted - own).max() * 1e3 < 0.1


# ------------------------------------------------------------------ frames and the Sun


def test_teme_to_itrs_is_skyfields_own_composition() -> None:
    """TEME -> ITRS as a single z rotation equals skyfield's ITRS x TEME^T."""
    from datetime import UTC, datetime

    from skyfield.sgp4lib import TEME

    from orbitmesh.orchestrator.orbits import teme_to_itrs_matrices

    t = times_at(datetime(2026, 3, 20, 12, tzinfo=UTC), np.linspace(0.0, 3 * 86_400.0, 97))
    reference = np.einsum(
        "ijt,kjt->tik", np.asarray(itrs.rotation_at(t)), np.asarray(TEME.rotation_at(t))
    )
    np.testing.assert_allclose(teme_to_itrs_matrices(t), reference, rtol=0, atol=1e-12)


def test_sun_matches_skyfield_to_a_nanoradian() -> None:
    """The interpolated Sun against skyfield's DE421 Sun at random instants of a month."""
    from datetime import UTC, datetime

    from skyfield.api import Loader
    from skyfield_data import get_skyfield_data_path

    from orbitmesh.orchestrator.sunlight import sun_itrs_km

    offsets = np.random.default_rng(7).uniform(0.0, 30 * 86_400.0, 500)
    t = times_at(datetime(2026, 3, 20, 12, tzinfo=UTC), offsets)
    eph = Loader(get_skyfield_data_path(), verbose=False)("de421.bsp")
    reference = np.asarray((eph["sun"] - eph["earth"]).at(t).frame_xyz(itrs).km).T
    ours = sun_itrs_km(t)
    norm = np.linalg.norm(reference, axis=1)
    angle = np.linalg.norm(np.cross(ours, reference), axis=1) / norm / np.linalg.norm(ours, axis=1)
    assert angle.max() < 1e-9  # 7 um of shadow edge at 7,000 km
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), norm, rtol=1e-8)
    none = times_at(datetime(2026, 3, 20, 12, tzinfo=UTC), np.empty(0))
    assert sun_itrs_km(none).shape == (0, 3)


def test_visibility_cones_follow_the_highest_satellite() -> None:
    """The station cones are kept per altitude ceiling: a later, higher satellite still
    needs (and gets) a wider cone. Checked against brute-force elevations."""
    from orbitmesh.geodesy import geodetic_to_itrs_km
    from orbitmesh.orchestrator.scenario import GroundStationSpec
    from orbitmesh.orchestrator.visibility import StationSet

    stations = StationSet(
        [GroundStationSpec(name="gs", lat_deg=0.0, lon_deg=0.0, alt_m=0.0, min_elevation_deg=10.0)]
    )
    lon = np.linspace(0.0, 60.0, 601)

    def visible(alt_km: float) -> set[int]:
        pos = geodetic_to_itrs_km(np.zeros_like(lon), lon, np.full_like(lon, alt_km * 1e3))
        pos = pos.reshape(-1, 3)
        found = set(stations.links(pos).satellite.tolist())
        brute = np.flatnonzero(stations.elevation_deg(0, pos) >= stations.mask_deg[0])
        assert found == set(brute.tolist())
        return found

    low, high = visible(550.0), visible(8_000.0)
    assert low < high  # the higher shell is seen much farther away
