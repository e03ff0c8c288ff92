"""Terminals in the geometry: moving ground nodes seen against skyfield, their contacts,
their rates on routes, their place in `orbitmesh geometry --json` and the endpoints file.

Elevations come from skyfield's own API: ``wgs84.latlon`` at the terminal's position of
that instant and ``(satellite - place).at(t).altaz()``; positions along a route from the
spherical intermediate-point formula written out here.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from conftest import REPO
from skyfield.api import EarthSatellite, load, wgs84

from orbitmesh.constants import EARTH_MEAN_RADIUS_KM
from orbitmesh.ground.endpoints import Endpoints
from orbitmesh.orchestrator import GeometryEngine, ScenarioError, parse_scenario
from orbitmesh.orchestrator.contacts import find_contacts
from orbitmesh.orchestrator.scenario import load_scenario

TS = load.timescale(builtin=True)
START = "2026-03-20T12:00:00Z"
ROUTE_DEG = ((51.9, 4.1), (40.6, -74.0))
SPEED_KMH = 900.0  # fast, so that it moves far within a test's minutes
SHIP: dict[str, Any] = {
    "name": "ship-1",
    "kind": "ship",
    "route": [list(p) for p in ROUTE_DEG],
    "speed_kmh": SPEED_KMH,
    "min_elevation_deg": 25,
    "rate_mbps": 5.0,
}


def scenario(**extra: Any) -> Any:
    data: dict[str, Any] = {
        "name": "d2d",
        "time": {"start": START, "duration_s": 1800, "step_s": 1.0},
        "shell": [
            {
                "name": "k",
                "altitude_km": 630,
                "inclination_deg": 51.9,
                "planes": 34,
                "sats_per_plane": 34,
                "phasing": 17,
            }
        ],
        "ground_station": [{"name": "madrid", "lat_deg": 40.42, "lon_deg": -3.7}],
        "terminal": [
            SHIP,
            {
                "name": "phones",
                "kind": "phone",
                "count": 20,
                "region": {"lat_deg": [36.5, 43.5], "lon_deg": [-9.0, 3.0]},
                "seed": 3,
                "speed_kmh": 500.0,
                "moving_fraction": 1.0,
            },
        ],
        **extra,
    }
    return parse_scenario(data, "d2d.toml", REPO)


@pytest.fixture(scope="module")
def engine() -> GeometryEngine:
    return GeometryEngine(scenario())


def ship_lat_lon(offset_s: float, speed_kmh: float = SPEED_KMH) -> tuple[float, float]:
    """The intermediate-point formula (spherical Earth of mean radius) along the leg."""
    (lat1, lon1), (lat2, lon2) = ((math.radians(a), math.radians(b)) for a, b in ROUTE_DEG)
    d = 2 * math.asin(
        math.sqrt(
            math.sin((lat2 - lat1) / 2) ** 2
            + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
        )
    )
    f = min(speed_kmh * offset_s / 3600.0 / EARTH_MEAN_RADIUS_KM / d, 1.0)
    a, b = math.sin((1 - f) * d) / math.sin(d), math.sin(f * d) / math.sin(d)
    x = a * math.cos(lat1) * math.cos(lon1) + b * math.cos(lat2) * math.cos(lon2)
    y = a * math.cos(lat1) * math.sin(lon1) + b * math.cos(lat2) * math.sin(lon2)
    z = a * math.sin(lat1) + b * math.sin(lat2)
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


def test_terminals_follow_stations_in_every_station_order(engine: GeometryEngine) -> None:
    names = engine.stations.names
    assert names[:2] == ("madrid", "ship-1")
    assert names[2:] == tuple(f"phones-{n}" for n in range(20))
    assert engine.stations.n_fixed == 1 and engine.stations.moves
    rates = engine.rates
    assert rates.gsl(0) == 1000.0 and rates.gsl(1) == 5.0 and rates.gsl(2) == 5.0


@pytest.mark.parametrize("offset_s", [0.0, 600.0, 1500.0])
def test_a_moving_terminal_sees_what_skyfield_sees_where_it_is(
    engine: GeometryEngine, offset_s: float
) -> None:
    tick = engine.tick(offset_s)
    lat, lon = ship_lat_lon(offset_s)
    place = wgs84.latlon(lat, lon, elevation_m=0.0)
    t = TS.from_datetime(tick.time)
    want: dict[int, float] = {}
    for i in range(engine.catalog.size):
        sat = EarthSatellite.from_satrec(engine.catalog.satrec(i), TS)
        alt, _, _ = (sat - place).at(t).altaz()
        if alt.degrees >= 25.0:
            want[i] = float(alt.degrees)
    ground = tick.ground
    mine = ground.station == 1
    got = dict(zip(ground.satellite[mine].tolist(), ground.elevation_deg[mine], strict=True))
    assert set(got) == set(want) and want
    for i, elevation in want.items():
        assert got[i] == pytest.approx(elevation, abs=1e-3)


def test_terminal_positions_in_the_geometry_document(engine: GeometryEngine) -> None:
    from orbitmesh.orchestrator.render import geometry_sections

    tick = engine.tick(1200.0)
    sections = geometry_sections(engine, tick)
    count, items = sections["terminals"]
    terminals = list(items)
    assert count == 21 and len(terminals) == 21
    ship = terminals[0]
    lat, lon = ship_lat_lon(1200.0)
    assert (ship["name"], ship["kind"], ship["moving"]) == ("ship-1", "ship", True)
    assert ship["lat_deg"] == pytest.approx(lat, abs=1e-5)
    assert ship["lon_deg"] == pytest.approx(lon, abs=1e-5)
    assert ship["rate_mbps"] == 5.0 and ship["min_elevation_deg"] == 25.0
    assert [v["satellite"] for v in ship["visible"]] == [
        engine.catalog.ids[s]
        for s in tick.ground.satellite[tick.ground.station == 1][
            np.argsort(-tick.ground.elevation_deg[tick.ground.station == 1], kind="stable")
        ]
    ]
    stations = list(sections["ground_stations"][1])
    assert [s["name"] for s in stations] == ["madrid"]


def test_a_route_from_a_terminal_is_bounded_by_its_own_rate(engine: GeometryEngine) -> None:
    tick = engine.tick(300.0)
    assert tick.routes is not None
    target = int(engine.catalog.compute_indices[0])
    path = tick.routes.path(1, target)
    assert path and path[0] == engine.catalog.size + 1
    assert tick.routes.bottleneck_mbps(path) == 5.0


def test_contacts_of_a_moving_terminal_open_and_close_at_its_mask(
    engine: GeometryEngine,
) -> None:
    contacts = [c for c in find_contacts(engine, 0.0, 900.0) if c.station == 1]
    assert contacts
    for c in contacts:
        for edge, clipped in ((c.start_s, c.start_clipped), (c.end_s, c.end_clipped)):
            if clipped:
                continue
            lat, lon = ship_lat_lon(edge)
            place = wgs84.latlon(lat, lon, elevation_m=0.0)
            sat = EarthSatellite.from_satrec(engine.catalog.satrec(c.satellite), TS)
            t = TS.from_datetime(engine.start) + edge / 86_400.0
            alt, _, _ = (sat - place).at(t).altaz()
            assert alt.degrees == pytest.approx(25.0, abs=0.01)


def test_terminal_ids_must_not_repeat_station_names() -> None:
    with pytest.raises(ScenarioError) as err:
        scenario(ground_station=[{"name": "ship-1", "lat_deg": 0.0, "lon_deg": 0.0}])
    assert "terminal: id 'ship-1' is used more than once" in "\n".join(err.value.problems)


def test_endpoints_carry_terminals_beside_stations() -> None:
    doc = {
        "ground_stations": {"madrid": "127.0.0.1:5000"},
        "satellites": {},
        "terminals": {"ship-1": "127.0.0.1:5001"},
    }
    endpoints = Endpoints.from_json(doc)
    assert endpoints.terminals == {"ship-1": "127.0.0.1:5001"}
    assert endpoints.gateways == {"madrid": "127.0.0.1:5000", "ship-1": "127.0.0.1:5001"}
    assert endpoints.to_json()["terminals"] == doc["terminals"]
    with pytest.raises(ValueError, match="terminals"):
        Endpoints.from_json({**doc, "terminals": {"x": 5}})


@pytest.mark.parametrize("name", ["suncatcher-81", "d2d-kuiper"])
def test_builtin_scenarios_load_and_give_contacts(name: str) -> None:
    engine = GeometryEngine(load_scenario(name))
    contacts = find_contacts(engine, 0.0, 1800.0)
    stations = {engine.stations.names[c.station] for c in contacts}
    assert "madrid" in stations
    if name == "d2d-kuiper":
        assert engine.stations.size == 2 + 1000 + 4
        assert {"ship-rotterdam", "flight-mad-jfk"} <= stations
    else:
        assert engine.catalog.size == 81 and "svalbard" in stations


def test_geometry_cli_lists_terminals(capsys: Any) -> None:
    from orbitmesh.orchestrator.cli import main

    assert main(["geometry", "d2d-kuiper", "--json", "--sections", "terminals"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["terminals"]) == 1004
    assert doc["terminals"][0]["name"] == "phones-0"
    assert {t["kind"] for t in doc["terminals"]} == {"phone", "ship", "aircraft"}


def test_handovers_by_motion_are_those_a_standing_terminal_would_not_make() -> None:
    """Every flagged handover, checked with skyfield from where the ship stood a tick
    before: its old satellite still above the mask there and above the new one."""
    engine = GeometryEngine(scenario(terminal=[{**SHIP, "speed_kmh": 3000.0}]))
    flagged = 0
    previous_best: int | None = None
    for tick in engine.ticks(np.arange(0.0, 600.0, 1.0)):
        mine = tick.ground.station == 1
        sats, elevation = tick.ground.satellite[mine], tick.ground.elevation_deg[mine]
        best = int(sats[np.argmax(elevation)]) if len(sats) else None
        assert tick.handover_by_motion is not None
        flag = bool(tick.handover_by_motion[0])
        if flag:
            assert previous_best is not None and best != previous_best
            flagged += 1
            lat, lon = ship_lat_lon(tick.offset_s - 1.0, 3000.0)
            place = wgs84.latlon(lat, lon, elevation_m=0.0)
            t = TS.from_datetime(tick.time)

            def altitude(i: int, place: Any = place, t: Any = t) -> float:
                sat = EarthSatellite.from_satrec(engine.catalog.satrec(i), TS)
                return float((sat - place).at(t).altaz()[0].degrees)

            assert best is not None
            kept = altitude(previous_best)
            assert kept >= 25.0 - 1e-6 and kept >= altitude(best) - 1e-6
        previous_best = best
    assert flagged > 0


def test_standing_terminals_never_hand_over_by_motion() -> None:
    engine = GeometryEngine(scenario(terminal=[{**SHIP, "speed_kmh": 0.0}]))
    assert not engine.stations.moves
    for tick in engine.ticks(np.arange(0.0, 120.0, 1.0)):
        assert tick.handover_by_motion is None


def test_published_ticks_carry_where_moving_terminals_are(engine: GeometryEngine) -> None:
    from orbitmesh.orchestrator.publish import tick_links

    ticks = list(engine.ticks(np.array([100.0, 101.0])))
    links = tick_links(engine, ticks[-1], 1)
    places = links.places
    assert places.station.tolist() == list(range(1, 22))  # the ship and 20 walking phones
    lat, lon = ship_lat_lon(101.0)
    found = places.of(1)
    assert found is not None
    assert found[0] == pytest.approx(lat, abs=1e-6) and found[1] == pytest.approx(lon, abs=1e-6)
    assert places.of(0) is None  # Madrid stands
    part = links.station_part([0, 1])
    assert part.places.station.tolist() == [1]
    assert links.with_station_part(part).places.of(1) == found


def test_traces_keep_the_terminals_places(engine: GeometryEngine, tmp_path: Any) -> None:
    from orbitmesh.orchestrator.publish import tick_links
    from orbitmesh.orchestrator.trace import TraceReader, TraceWriter

    ticks = [tick_links(engine, t, k) for k, t in enumerate(engine.ticks(np.array([0.0, 1.0])))]
    writer = TraceWriter(tmp_path / "t.npz", "d2d", engine.stations.names, engine.catalog.ids)
    for tick in ticks:
        writer.add(tick)
    writer.close()
    reader = TraceReader(tmp_path / "t.npz")
    for k, tick in enumerate(ticks):
        back = reader.tick(k).places
        assert np.array_equal(back.station, tick.places.station)
        assert np.array_equal(back.lat_deg, tick.places.lat_deg)
        assert np.array_equal(back.handover_by_motion, tick.places.handover_by_motion)


def test_a_terminals_gateway_says_where_it_is(engine: GeometryEngine) -> None:
    import asyncio

    from orbitmesh.clock import SimClock
    from orbitmesh.ground.gateway import GatewayConfig, GatewayServer
    from orbitmesh.links.linkview import LinkView
    from orbitmesh.links.model import LinkParams
    from orbitmesh.orchestrator.publish import tick_links, topology

    topo = topology(engine)
    ticks = [tick_links(engine, t, k) for k, t in enumerate(engine.ticks(np.array([0.0, 1.0])))]
    view = LinkView(topo)
    view.publish([t.for_stations([1]) for t in ticks], 0.0)
    clock = SimClock.starting_now(engine.start, 1e-9)  # stands still at the start
    config = GatewayConfig("ship-1", 51.9, 4.1, 0.0, 25.0, clock, LinkParams())
    gateway = GatewayServer(config, view=view)
    try:
        reply = gateway.station_service.visible_message()
        lat, lon = ship_lat_lon(0.0)
        assert reply.position.lat_deg == pytest.approx(lat, abs=1e-6)
        assert reply.position.lon_deg == pytest.approx(lon, abs=1e-6)
        assert reply.satellites
        info = asyncio.run(gateway.station_service.Info(None, None))  # type: ignore[arg-type]
        assert info.position.lat_deg == pytest.approx(lat, abs=1e-6)
    finally:
        gateway.searches.shutdown()
