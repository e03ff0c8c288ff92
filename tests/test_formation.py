"""Formation clusters: the [[cluster]] table, members' orbits and the cluster's own links.

Reference values are independent of orbitmesh's propagation: each member's positions
come from skyfield's ``EarthSatellite`` built from the member's own SGP4 record, the
layout's promises from hand formulas, routes from networkx.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import numpy as np
import pytest
from conftest import REPO
from skyfield.api import EarthSatellite, load

from orbitmesh.checking import Checker
from orbitmesh.constants import C_KM_PER_S
from orbitmesh.orchestrator import GeometryEngine, ScenarioError, parse_scenario
from orbitmesh.orchestrator.formation import (
    ClusterSpec,
    closest_approach_m,
    member_offsets_m,
    parse_cluster,
)
from orbitmesh.orchestrator.sunsync import sun_synchronous_inclination_deg

TS = load.timescale(builtin=True)
START = "2026-03-20T18:00:00Z"


def cluster_table(**over: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "name": "sc",
        "altitude_km": 650,
        "sun_synchronous": True,
        "ltan": "18:00",
        "members": 81,
        "layout": "lattice-2d",
        "spacing_m": 200,
        "link_range_m": 1000,
        "link_gbps": 800,
    }
    table.update(over)
    return {k: v for k, v in table.items() if v is not None}


def cluster_scenario(*clusters: dict[str, Any], **extra: Any) -> Any:
    data: dict[str, Any] = {
        "name": "clusters",
        "time": {"start": START, "duration_s": 3600, "step_s": 1.0},
        "cluster": list(clusters),
        "ground_station": [
            {"name": "madrid", "lat_deg": 40.4, "lon_deg": -3.7, "min_elevation_deg": 10},
        ],
        **extra,
    }
    return parse_scenario(data, "clusters.toml", REPO)


@pytest.fixture(scope="module")
def suncatcher() -> GeometryEngine:
    return GeometryEngine(cluster_scenario(cluster_table()))


def member_positions_m(engine: GeometryEngine, offsets_s: np.ndarray) -> np.ndarray:
    """(T, N, 3) positions in metres from skyfield, one EarthSatellite per member."""
    t = TS.from_datetime(engine.start) + offsets_s / 86_400.0
    out = []
    for i in range(engine.catalog.size):
        sat = EarthSatellite.from_satrec(engine.catalog.satrec(i), TS)
        out.append(sat.at(t).position.km.T * 1e3)
    stacked: np.ndarray = np.stack(out, axis=1)
    return stacked


def period_s(altitude_km: float) -> float:
    a_km = 6378.135 + altitude_km
    return 2 * math.pi * math.sqrt(a_km**3 / 398_600.8)


def pair_distances(pos: np.ndarray) -> np.ndarray:
    """(T, pairs) distances of every member pair."""
    i, j = np.triu_indices(pos.shape[1], 1)
    distances: np.ndarray = np.linalg.norm(pos[:, i] - pos[:, j], axis=-1)
    return distances


def test_members_are_ordinary_satellites_named_name_n(suncatcher: GeometryEngine) -> None:
    catalog = suncatcher.catalog
    assert catalog.ids == tuple(f"sc-{n}" for n in range(81))
    assert catalog.compute.all()
    assert catalog.cluster_index is not None and (catalog.cluster_index == 0).all()
    # Sun-synchronous at 650 km: inclination from the J2 nodal rate (hand value 97.99 deg).
    inc = math.degrees(catalog.satrec(0).inclo)
    assert inc == pytest.approx(sun_synchronous_inclination_deg(650.0), abs=1e-9)
    assert inc == pytest.approx(97.99, abs=0.01)


def test_lattice_2d_keeps_neighbours_between_half_and_sqrt5_over_2_spacing_for_two_orbits(
    suncatcher: GeometryEngine,
) -> None:
    spacing = 200.0
    offsets = np.linspace(0.0, 2 * period_s(650.0), 241)
    pos = member_positions_m(suncatcher, offsets)
    d = pair_distances(pos)
    # Passive safety: never closer than half the lattice spacing (SGP4 effects: a few m).
    assert d.min() >= spacing / 2 - 8.0
    # Every member keeps a neighbour no farther than sqrt(5)/2 of the spacing.
    full = np.linalg.norm(pos[:, :, None] - pos[:, None, :], axis=-1)
    full[:, np.arange(81), np.arange(81)] = np.inf
    assert full.min(axis=2).max() <= spacing * math.sqrt(5) / 2 + 8.0
    # Bounded: the cluster's radius about its mean stays near sqrt(81/pi) lattice steps.
    radius = np.linalg.norm(pos - pos.mean(axis=1, keepdims=True), axis=-1).max()
    assert radius <= math.sqrt(81 / math.pi) * spacing * math.sqrt(5) / 2 * 1.2
    # And it neither spreads nor shrinks from one orbit to the next.
    first, second = d[:121].max(axis=0), d[120:].max(axis=0)
    assert np.abs(first - second).max() < 8.0


def test_relative_motion_follows_the_hand_formulas_in_the_local_frame(
    suncatcher: GeometryEngine,
) -> None:
    """Member (p, q) in lattice units: x = (p sin u + q cos u)/2, y = p cos u - q sin u,
    z = q cos u relative to the member at the lattice's centre (u = n t)."""
    offsets = np.linspace(0.0, period_s(650.0), 25)
    pos = member_positions_m(suncatcher, offsets)
    t = TS.from_datetime(suncatcher.start) + offsets / 86_400.0
    centre = EarthSatellite.from_satrec(suncatcher.catalog.satrec(0), TS).at(t)
    r, v = centre.position.km.T * 1e3, centre.velocity.km_per_s.T * 1e3
    radial = r / np.linalg.norm(r, axis=1, keepdims=True)
    normal = np.cross(r, v)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    along = np.cross(normal, radial)
    rel = pos - pos[:, :1]
    local = np.stack(
        [np.einsum("tnk,tk->tn", rel, e) for e in (radial, along, normal)], axis=-1
    )  # (T, N, 3)
    # Each member's lattice coordinates from its epoch place: y0 = p, z0 = q.
    p, q = local[0, :, 1], local[0, :, 2]
    assert np.allclose(np.round(p / 200.0) * 200.0, p, atol=3.0)
    assert np.allclose(np.round(q / 200.0) * 200.0, q, atol=3.0)
    u = 2 * math.pi * offsets / period_s(650.0)
    s, c = np.sin(u)[:, None], np.cos(u)[:, None]
    expected = np.stack([(p * s + q * c) / 2, p * c - q * s, q * c], axis=-1)
    assert np.abs(local - expected).max() < 10.0  # linear theory and J2: metres


def test_lattice_3d_discs_stay_apart(suncatcher: GeometryEngine) -> None:
    engine = GeometryEngine(cluster_scenario(cluster_table(layout="lattice-3d", members=64)))
    pos = member_positions_m(engine, np.linspace(0.0, 2 * period_s(650.0), 121))
    assert pair_distances(pos).min() >= 100.0 - 8.0


def test_cluster_links_are_the_pairs_in_range_with_light_delays(
    suncatcher: GeometryEngine,
) -> None:
    tick = suncatcher.tick(600.0)
    pos_km = member_positions_m(suncatcher, np.array([600.0]))[0] / 1e3
    i, j = np.triu_indices(81, 1)
    dist_km = np.linalg.norm(pos_km[i] - pos_km[j], axis=1)
    want = {(int(a), int(b)) for a, b, d in zip(i, j, dist_km, strict=True) if d <= 1.0}
    got = {(int(a), int(b)) for a, b in zip(tick.isl.a, tick.isl.b, strict=True)}
    assert got == want and len(want) > 81
    by_pair = dict(zip(zip(i.tolist(), j.tolist(), strict=True), dist_km, strict=True))
    for a, b, delay in zip(tick.isl.a, tick.isl.b, tick.isl.delay_ms, strict=True):
        assert delay == pytest.approx(by_pair[(int(a), int(b))] / C_KM_PER_S * 1e3, rel=1e-6)
    assert tick.isl.delay_ms.max() < 0.0034  # microseconds: a kilometre is 3.3 us


def test_routes_inside_the_cluster_match_networkx(suncatcher: GeometryEngine) -> None:
    tick = suncatcher.tick(900.0)
    graph = nx.Graph()
    for a, b, delay in zip(tick.isl.a, tick.isl.b, tick.isl.delay_ms, strict=True):
        graph.add_edge(int(a), int(b), weight=float(delay))
    table = suncatcher.satellite_routes(tick, np.array([0, 40]))
    for row, source in enumerate((0, 40)):
        lengths = nx.single_source_dijkstra_path_length(graph, source)
        for target in range(81):
            assert table.delay_ms[row, target] == pytest.approx(lengths[target], abs=1e-12)
        path = table.path(row, 80)
        assert path[0] == source and path[-1] == 80
        assert table.bottleneck_mbps(path) == 800_000.0
    # A station's route: the ground link is the bottleneck (the scenario's 1 Gbps).
    routes = tick.routes
    assert routes is not None
    path = routes.path(0, 80)
    assert path and routes.bottleneck_mbps(path) == 1000.0


def test_cluster_beside_a_shell_links_members_to_each_other_only() -> None:
    shell = {
        "name": "s1",
        "altitude_km": 550,
        "inclination_deg": 53,
        "planes": 6,
        "sats_per_plane": 6,
        "phasing": 1,
    }
    for isl in ("plus-grid", "nearest", "none"):
        engine = GeometryEngine(
            cluster_scenario(
                cluster_table(members=9, spacing_m=300, link_range_m=500),
                shell=[shell],
                links={"isl": isl},
            )
        )
        members = set(range(36, 45))
        tick = engine.tick(300.0)
        inside = [(a, b) for a, b in zip(tick.isl.a, tick.isl.b, strict=True) if a in members]
        assert inside and all(b in members for _, b in inside)
        pairs = list(zip(tick.isl.a.tolist(), tick.isl.b.tolist(), strict=True))
        assert len(pairs) == len(set(pairs))
        rates = engine.rates
        assert rates.isl(36, 37) == 800_000.0 and rates.isl(0, 1) == 10_000.0


def test_offsets_layout_and_closest_approach_by_hand() -> None:
    def spec(offsets: list[list[float]]) -> ClusterSpec:
        return ClusterSpec(
            name="f",
            altitude_km=650,
            inclination_deg=97.99,
            members=len(offsets),
            layout="offsets",
            offsets_m=tuple((x, y, z) for x, y, z in offsets),
        )

    # Along-track only: a fixed 300 m apart.
    assert closest_approach_m(spec([[0, 0, 0], [0, 300, 0]]))[0] == pytest.approx(300.0)
    # Cross-track only: z = 200 cos u passes through the other member twice an orbit.
    assert closest_approach_m(spec([[0, 0, 0], [0, 0, 200]]))[0] == pytest.approx(0.0, abs=1e-9)
    # Radial 100 m: the 2:1 ellipse x = 100 cos u, y = -200 sin u, closest 100 m at u = 0.
    closest, a, b = closest_approach_m(spec([[0, 0, 0], [100, 0, 0]]))
    assert closest == pytest.approx(100.0) and (a, b) == (0, 1)
    u = np.array([0.0, math.pi / 2])
    assert member_offsets_m(spec([[100, 0, 0]]), u)[:, 0] == pytest.approx(
        np.array([[100.0, 0.0, 0.0], [0.0, -200.0, 0.0]]), abs=1e-9
    )


def test_offsets_members_follow_their_ellipse_under_sgp4() -> None:
    engine = GeometryEngine(
        cluster_scenario(
            {
                "name": "pair",
                "altitude_km": 650,
                "inclination_deg": 60,
                "offsets_m": [[0, 0, 0], [0, 500, 0], [150, 0, 0]],
            }
        )
    )
    offsets = np.linspace(0.0, 2 * period_s(650.0), 97)
    d = pair_distances(member_positions_m(engine, offsets))
    assert np.abs(d[:, 0] - 500.0).max() < 5.0  # along-track: fixed
    u = 2 * math.pi * offsets / period_s(650.0)
    radial = 150.0 * np.hypot(np.cos(u), 2 * np.sin(u))  # |(x0 cos u, -2 x0 sin u)|
    assert np.abs(d[:, 1] - radial).max() < 5.0


def test_validate_warns_where_given_offsets_collide(tmp_path: Any, capsys: Any) -> None:
    from orbitmesh.orchestrator.cli import main

    path = tmp_path / "c.toml"
    path.write_text(
        f'name = "c"\n[time]\nstart = "{START}"\nduration_s = 600\n'
        '[[cluster]]\nname = "f"\naltitude_km = 650\ninclination_deg = 60\n'
        "offsets_m = [[0, 0, 0], [0, 0, 200]]\n",
        encoding="utf-8",
    )
    assert main(["validate", str(path)]) == 0
    err = capsys.readouterr().err
    assert "cluster[0].offsets_m: members 0 and 1 come within 0.0 m of each other" in err


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"name": "s-c"}, "cluster[0].name: must not contain '-' or spaces"),
        ({"members": 0}, "cluster[0].members: must be within [1, 1000], got 0"),
        ({"members": None}, "cluster[0].members: is required"),
        ({"layout": "ring"}, "cluster[0].layout: must be lattice-2d or lattice-3d"),
        ({"spacing_m": -1}, "cluster[0].spacing_m: must be > 0"),
        ({"link_range_m": 0}, "cluster[0].link_range_m: must be > 0"),
        ({"link_gbps": "fast"}, "cluster[0].link_gbps: must be a number"),
        ({"altitude_km": 100}, "cluster[0].altitude_km: must be within [150, 50000]"),
        ({"ltan": "25:00"}, 'cluster[0].ltan: must be a local time "HH:MM"'),
        (
            {"inclination_deg": 60},
            "cluster[0].inclination_deg: a sun-synchronous cluster's inclination follows",
        ),
        (
            {"sun_synchronous": None, "ltan": None, "inclination_deg": 0.2},
            "cluster[0].inclination_deg: must be at least 0.6 deg from the equator's plane",
        ),
        ({"raan_deg": 10}, "cluster[0].raan_deg: ltan places the node"),
        ({"offsets_m": [[0, 0, 0]]}, "cluster[0].layout: offsets_m places the members"),
        (
            {"layout": None, "offsets_m": [[0, 0, 0], [0, 0]]},
            "cluster[0].offsets_m[1]: must be [x, y, z] in metres",
        ),
        (
            {"layout": None, "offsets_m": [[0, 0, 0], [0, 0, 0]]},
            "cluster[0].offsets_m[1]: is the same place as offsets_m[0]",
        ),
        (
            {"layout": None, "members": 3, "offsets_m": [[0, 0, 0], [0, 1, 0]]},
            "cluster[0].members: must equal the number of offsets_m entries (2), got 3",
        ),
        ({"colour": "red"}, "cluster[0].colour: unknown key"),
    ],
)
def test_cluster_table_problems_name_the_field(over: dict[str, Any], message: str) -> None:
    chk = Checker("c.toml")
    table = cluster_table(**over)
    for key, value in over.items():
        if value is None:
            table.pop(key, None)
    parsed = parse_cluster(table, "cluster[0]", chk)
    assert any(message in p for p in chk.problems), chk.problems
    assert parsed is None or "unknown key" in message  # an unknown key: the rest stands


def test_cluster_names_may_not_repeat_or_clash_with_shells() -> None:
    with pytest.raises(ScenarioError) as err:
        cluster_scenario(cluster_table(), cluster_table(), shell=[{**_SHELL, "name": "sc"}])
    text = "\n".join(err.value.problems)
    assert "cluster: name 'sc' is used more than once" in text
    assert "cluster: name 'sc' is also a shell's" in text


_SHELL = {
    "name": "s1",
    "altitude_km": 550,
    "inclination_deg": 53,
    "planes": 3,
    "sats_per_plane": 3,
    "phasing": 1,
}


def test_a_cluster_alone_is_a_scenario() -> None:
    scenario = cluster_scenario(cluster_table(members=4))
    assert not scenario.shells and len(scenario.clusters) == 1
    assert scenario.clusters[0].link_mbps == 800_000.0
