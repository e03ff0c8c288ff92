"""Contact windows against skyfield's find_events, and their output formats."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import numpy as np
import pytest
from conftest import make_scenario, tle_path
from skyfield.api import EarthSatellite, wgs84
from skyfield.timelib import Timescale

from orbitmesh.orchestrator import Contact, GeometryEngine, find_contacts
from orbitmesh.orchestrator.orbits import times_at
from orbitmesh.orchestrator.render import contacts_csv, contacts_ion, contacts_json


def _skyfield_windows(
    engine: GeometryEngine, station: int, sat: int, start_s: float, end_s: float, ts: Timescale
) -> tuple[list[tuple[float | None, float | None]], list[tuple[float, float]]]:
    """(rise, set) pairs in seconds from the scenario start (None where clipped), and
    culminations above the mask as (time, elevation)."""
    spec = engine.stations.specs[station]
    topo = wgs84.latlon(spec.lat_deg, spec.lon_deg, elevation_m=spec.alt_m)
    es = EarthSatellite.from_satrec(engine.catalog.satrec(sat), ts)
    t0, t1 = times_at(engine.start, start_s), times_at(engine.start, end_s)
    times, events = es.find_events(topo, t0, t1, altitude_degrees=spec.min_elevation_deg)
    windows: list[tuple[float | None, float | None]] = []
    peaks: list[tuple[float, float]] = []
    current: float | None = None
    above = (es - topo).at(t0).altaz()[0].degrees >= spec.min_elevation_deg
    for t, kind in zip(times, events, strict=True):
        offset = (t.utc_datetime() - engine.start).total_seconds()
        if kind == 0:
            current, above = offset, True
        elif kind == 2:
            windows.append((current, offset))
            current, above = None, False
        elif kind == 1:
            peaks.append((offset, float((es - topo).at(t).altaz()[0].degrees)))
    if above:
        windows.append((current, None))
    return windows, peaks


def _check_against_skyfield(
    engine: GeometryEngine,
    contacts: list[Contact],
    start_s: float,
    end_s: float,
    ts: Timescale,
    pairs: int,
) -> int:
    by_pair: dict[tuple[int, int], list[Contact]] = {}
    for c in contacts:
        by_pair.setdefault((c.station, c.satellite), []).append(c)
    rng = np.random.default_rng(3)
    keys = list(by_pair)
    chosen = [keys[i] for i in rng.choice(len(keys), size=min(pairs, len(keys)), replace=False)]
    # Also a few pairs with no contact at all, which must have none in skyfield either.
    silent = [
        (st, sat)
        for st in range(engine.stations.size)
        for sat in range(0, engine.catalog.size, 7)
        if (st, sat) not in by_pair
    ][:10]
    compared = 0
    for st, sat in chosen + silent:
        ours = sorted(by_pair.get((st, sat), []), key=lambda c: c.start_s)
        windows, peaks = _skyfield_windows(engine, st, sat, start_s, end_s, ts)
        assert len(ours) == len(windows), (st, sat, ours, windows)
        for c, (rise, fall) in zip(ours, windows, strict=True):
            if rise is None:
                assert c.start_clipped and c.start_s == start_s
            else:
                assert not c.start_clipped
                assert abs(c.start_s - rise) < 1.0
            if fall is None:
                assert c.end_clipped and c.end_s == end_s
            else:
                assert not c.end_clipped
                assert abs(c.end_s - fall) < 1.0
            compared += 1
        for peak_s, peak_deg in peaks:
            window = [c for c in ours if c.start_s <= peak_s <= c.end_s]
            assert len(window) == 1
            # Our peak is a search to sub-millisecond; skyfield's culmination is found
            # to about a second, which costs at most a few thousandths of a degree.
            assert window[0].max_elevation_deg == pytest.approx(peak_deg, abs=0.01)
            assert window[0].max_elevation_deg >= peak_deg - 1e-9
    return compared


def test_walker_contacts_match_find_events(walker_engine: GeometryEngine, ts: Timescale) -> None:
    contacts = find_contacts(walker_engine, 0.0, 7200.0)
    assert len(contacts) > 20
    assert _check_against_skyfield(walker_engine, contacts, 0.0, 7200.0, ts, pairs=25) >= 25


def test_real_tle_contacts_match_find_events(ts: Timescale) -> None:
    engine = GeometryEngine(
        make_scenario(
            {
                "time": {"start": "2020-05-06T06:00:00Z", "duration_s": 5400},
                "shell": [],
                "tle": [{"path": str(tle_path("starlink-2020-05-06.tle"))}],
            }
        )
    )
    contacts = find_contacts(engine, 300.0, 5000.0)
    assert len(contacts) > 50
    assert _check_against_skyfield(engine, contacts, 300.0, 5300.0, ts, pairs=25) >= 25


def test_every_window_is_above_the_mask_and_gaps_are_below(walker_engine: GeometryEngine) -> None:
    contacts = find_contacts(walker_engine, 0.0, 3600.0)
    grid = np.arange(0.0, 3600.0, 5.0)
    positions, _ = walker_engine.positions(grid)
    stations = walker_engine.stations
    for c in contacts[:40]:
        el = stations.elevation_deg(c.station, positions[:, c.satellite])
        inside = (grid > c.start_s + 0.01) & (grid < c.end_s - 0.01)
        assert np.all(el[inside] >= stations.mask_deg[c.station])
    # Coverage: every sampled instant above the mask lies in some window.
    for st in range(stations.size):
        el = stations.elevation_deg(st, positions)  # (T, N)
        t_idx, sat_idx = np.nonzero(el > stations.mask_deg[st] + 1e-6)
        windows: dict[int, list[tuple[float, float]]] = {}
        for c in contacts:
            if c.station == st:
                windows.setdefault(c.satellite, []).append((c.start_s, c.end_s))
        for t, sat in zip(grid[t_idx], sat_idx, strict=True):
            assert any(a - 1e-6 <= t <= b + 1e-6 for a, b in windows.get(int(sat), []))


def test_short_grazing_pass_between_samples_is_found(walker_engine: GeometryEngine) -> None:
    # Pick a real pass, set the mask just under its peak: the pass then lasts a few
    # seconds, shorter than the coarse 10 s sampling, and must still be found.
    contacts = find_contacts(walker_engine, 0.0, 3600.0)
    c = next(
        c for c in contacts if not (c.start_clipped or c.end_clipped) and c.max_elevation_deg > 20
    )
    spec = walker_engine.stations.specs[c.station]
    grazing_mask = c.max_elevation_deg - 0.002
    scenario = make_scenario(
        {
            "ground_station": [
                {
                    "name": spec.name,
                    "lat_deg": spec.lat_deg,
                    "lon_deg": spec.lon_deg,
                    "alt_m": spec.alt_m,
                    "min_elevation_deg": grazing_mask,
                }
            ]
        }
    )
    engine = GeometryEngine(scenario)
    found = [g for g in find_contacts(engine, 0.0, 3600.0) if g.satellite == c.satellite]
    near = [g for g in found if abs(g.max_elevation_s - c.max_elevation_s) < 5]
    assert len(near) == 1
    assert 0 < near[0].duration_s < 10
    assert near[0].max_elevation_deg == pytest.approx(c.max_elevation_deg, abs=1e-4)


def test_output_formats(walker_engine: GeometryEngine) -> None:
    contacts = find_contacts(walker_engine, 0.0, 1800.0)
    doc = contacts_json(walker_engine, contacts)
    assert set(doc) >= {"contacts"}
    first = doc["contacts"][0]
    assert set(first) >= {"ground_station", "satellite", "start", "end", "max_elevation_deg"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["start"])
    json.dumps(doc)
    rows = list(csv.DictReader(io.StringIO(contacts_csv(walker_engine, contacts))))
    assert len(rows) == len(contacts)
    assert rows[0]["ground_station"] == first["ground_station"]
    ion = contacts_ion(walker_engine, contacts, 0.0)
    lines = [line for line in ion.splitlines() if not line.startswith("#")]
    assert len(lines) == 3 * len(contacts)
    pattern = re.compile(r"a (contact \+\d+ \+\d+ \d+ \d+ 125000000|range \+\d+ \+\d+ \d+ \d+ 1)")
    assert all(pattern.fullmatch(line) for line in lines)
    c = contacts[0]
    start = int(c.start_s)
    assert lines[0].startswith(f"a contact +{start} ")
    # Contact times print as real instants of the scenario.
    assert first["start"].startswith(
        (walker_engine.start + timedelta(seconds=c.start_s)).strftime("%Y-%m-%dT%H:%M")
    )
