"""Inter-satellite links and shortest routes, against hand geometry and networkx."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest
from conftest import make_scenario

from orbitmesh.constants import C_KM_PER_S, EARTH_EQUATORIAL_RADIUS_KM, ISL_ATMOSPHERE_KM
from orbitmesh.links.linkstate import LinkRates
from orbitmesh.orchestrator import GeometryEngine, IslLinks
from orbitmesh.orchestrator.isl import clears_earth, nearest_links, plus_grid_pairs
from orbitmesh.orchestrator.routing import LinkGraph
from orbitmesh.orchestrator.visibility import GroundLinks


def _shell(
    planes: int, per_plane: int, phasing: int = 1, spread: float = 360.0
) -> dict[str, object]:
    return {
        "name": "w",
        "altitude_km": 550,
        "inclination_deg": 53,
        "planes": planes,
        "sats_per_plane": per_plane,
        "phasing": phasing,
        "raan_spread_deg": spread,
    }


def test_plus_grid_delta_gives_every_satellite_four_neighbours() -> None:
    engine = GeometryEngine(make_scenario({"shell": [_shell(5, 7, phasing=2)]}))
    pairs = plus_grid_pairs(engine.catalog)
    assert len(pairs) == 2 * 5 * 7
    degree = np.bincount(pairs.ravel(), minlength=35)
    assert np.all(degree == 4)
    index = engine.catalog.index
    as_set = {tuple(p) for p in pairs.tolist()}
    # In-plane ring closes, cross-plane same slot, seam shifted by the phasing factor.
    assert (index["w-0-0"], index["w-0-6"]) in as_set
    assert (index["w-2-3"], index["w-3-3"]) in as_set
    assert (index["w-0-2"], index["w-4-0"]) in as_set  # plane 4 slot 0 <-> plane 0 slot 0+2


def test_plus_grid_star_has_no_links_across_the_seam() -> None:
    engine = GeometryEngine(make_scenario({"shell": [_shell(6, 11, phasing=0, spread=180.0)]}))
    pairs = plus_grid_pairs(engine.catalog)
    degree = np.bincount(pairs.ravel(), minlength=66)
    plane = engine.catalog.plane
    assert np.all(degree[(plane == 0) | (plane == 5)] == 3)
    assert np.all(degree[(plane > 0) & (plane < 5)] == 4)


def test_seam_link_joins_satellites_in_the_same_phase() -> None:
    # With phasing F the satellite after plane P-1 slot s is plane 0 slot s+F: the seam
    # link should be about as long as an ordinary cross-plane link.
    engine = GeometryEngine(make_scenario({"shell": [_shell(12, 12, phasing=5)]}))
    tick = engine.tick(0.0, routes=False)
    plane = engine.catalog.plane
    seam = (plane[tick.isl.a] == 0) & (plane[tick.isl.b] == 11)
    cross = (plane[tick.isl.b] - plane[tick.isl.a]) == 1
    assert seam.sum() == 12
    assert tick.isl.distance_km[seam].max() < 1.2 * tick.isl.distance_km[cross].max()


def test_line_of_sight_against_hand_geometry() -> None:
    r = EARTH_EQUATORIAL_RADIUS_KM + ISL_ATMOSPHERE_KM
    # Two points at radius 7000 km separated by angle 2*theta; the chord's closest
    # approach to the centre is 7000 cos(theta).
    theta_limit = math.acos(r / 7000.0)
    for theta, expected in (
        (theta_limit - 1e-4, True),
        (theta_limit + 1e-4, False),
        (0.1, True),
        (1.5, False),
    ):
        a = np.array([[7000 * math.cos(theta), 7000 * math.sin(theta), 0.0]])
        b = np.array([[7000 * math.cos(theta), -7000 * math.sin(theta), 0.0]])
        assert bool(clears_earth(a, b)[0]) is expected
    # A segment that stops short of the Earth is fine even if its line would not be.
    a = np.array([[7000.0, 0.0, 0.0]])
    b = np.array([[7100.0, 10.0, 0.0]])
    assert clears_earth(a, b)[0]


def test_isl_usable_only_in_range_and_sight() -> None:
    engine = GeometryEngine(
        make_scenario({"shell": [_shell(12, 12)], "links": {"isl_range_km": 3600}})
    )
    tick = engine.tick(0.0, routes=False)
    pairs = plus_grid_pairs(engine.catalog)
    pos = tick.itrs_km
    dist = np.linalg.norm(pos[pairs[:, 0]] - pos[pairs[:, 1]], axis=1)
    expected = {tuple(p) for p, d in zip(pairs.tolist(), dist, strict=True) if d <= 3600}
    got = set(zip(tick.isl.a.tolist(), tick.isl.b.tolist(), strict=True))
    assert got == expected
    assert 0 < len(got) < len(pairs)  # the range actually cuts some links
    np.testing.assert_allclose(tick.isl.delay_ms, tick.isl.distance_km / C_KM_PER_S * 1e3)


def test_nearest_topology_against_brute_force(starlink_tle_engine: GeometryEngine) -> None:
    tick = starlink_tle_engine.tick(0.0, routes=False)
    pos = tick.itrs_km
    k, rng = 4, 3000.0
    links = nearest_links(pos, k, rng)
    n = len(pos)
    expected: set[tuple[int, int]] = set()
    for i in range(n):
        d = np.linalg.norm(pos - pos[i], axis=1)
        order = [j for j in np.argsort(d) if j != i and d[j] <= rng]
        sighted = [j for j in order if clears_earth(pos[i][None], pos[j][None])[0]][:k]
        expected |= {(min(i, j), max(i, j)) for j in sighted}
    got = set(zip(links.a.tolist(), links.b.tolist(), strict=True))
    assert got == expected


def _networkx_graph(tick_isl: IslLinks, ground: GroundLinks, n_sats: int) -> nx.DiGraph:
    g = nx.DiGraph()
    g.add_nodes_from(range(n_sats))
    for a, b, d in zip(tick_isl.a, tick_isl.b, tick_isl.delay_ms, strict=True):
        g.add_edge(int(a), int(b), weight=float(d))
        g.add_edge(int(b), int(a), weight=float(d))
    for st, sat, d in zip(ground.station, ground.satellite, ground.delay_ms, strict=True):
        g.add_edge(n_sats + int(st), int(sat), weight=float(d))
    return g


def _path_delay(g: nx.DiGraph, path: list[int]) -> float:
    return float(sum(g[u][v]["weight"] for u, v in itertools.pairwise(path)))


@pytest.mark.parametrize("offset_s", [0.0, 777.0, 2900.0])
def test_routes_equal_networkx_shortest_paths(
    walker_engine: GeometryEngine, offset_s: float
) -> None:
    tick = walker_engine.tick(offset_s)
    assert tick.routes is not None
    n = walker_engine.catalog.size
    g = _networkx_graph(tick.isl, tick.ground, n)
    compute = walker_engine.catalog.compute_indices
    checked = 0
    for j in range(walker_engine.stations.size):
        src = n + j
        ref = nx.single_source_dijkstra_path_length(g, src) if src in g else {}
        for sat in range(n):
            delay = tick.routes.delay_ms[j, sat]
            if sat not in ref:
                assert math.isinf(delay)
                continue
            assert delay == pytest.approx(ref[sat], rel=1e-12)
            path = tick.routes.path(j, sat)
            assert path[0] == src and path[-1] == sat
            assert _path_delay(g, path) == pytest.approx(ref[sat], rel=1e-12)
            checked += 1
    assert checked > 0
    # Routes between compute satellites.
    table = walker_engine.satellite_routes(tick)
    for row, src in enumerate(compute):
        ref = nx.single_source_dijkstra_path_length(g, int(src))
        for dst in compute:
            assert table.delay_ms[row, dst] == pytest.approx(ref.get(int(dst), math.inf), rel=1e-12)
            if math.isfinite(table.delay_ms[row, dst]):
                path = table.path(row, int(dst))
                assert all(v < n for v in path)  # never through a ground station


def test_routes_on_random_graphs_equal_networkx() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        n, m = int(rng.integers(3, 30)), int(rng.integers(1, 5))
        pairs = {
            tuple(sorted(p)) for p in rng.integers(0, n, size=(3 * n, 2)).tolist() if p[0] != p[1]
        }
        a = np.array([p[0] for p in pairs], dtype=np.int32)
        b = np.array([p[1] for p in pairs], dtype=np.int32)
        isl = IslLinks(a, b, rng.uniform(100, 5000, len(a)))
        st = np.sort(rng.integers(0, m, size=2 * m)).astype(np.int32)
        sat = rng.integers(0, n, size=len(st)).astype(np.int32)
        keep = np.unique(np.stack([st, sat], 1), axis=0, return_index=True)[1]
        st, sat = st[np.sort(keep)], sat[np.sort(keep)]
        ground = GroundLinks(
            st, sat, np.zeros(len(st)), np.zeros(len(st)), rng.uniform(500, 2000, len(st))
        )
        graph = LinkGraph(n, m, rates=LinkRates(isl_mbps=1000.0, gsl_mbps=100.0))
        table = graph.routes_from(graph.of_tick(isl, ground), np.arange(n, n + m))
        g = _networkx_graph(isl, ground, n)
        for j in range(m):
            ref = nx.single_source_dijkstra_path_length(g, n + j) if n + j in g else {}
            for v in range(n):
                assert table.delay_ms[j, v] == pytest.approx(ref.get(v, math.inf), rel=1e-12)
                path = table.path(j, v)
                if path:
                    assert _path_delay(g, path) == pytest.approx(ref[v], rel=1e-12)
                    # Bottleneck by hand: the first link is a ground link (100 Mbit/s).
                    assert table.bottleneck_mbps(path) == 100.0
                    hops = table.hop_counts(j, np.array([v]))[0]
                    assert hops == len(path) - 1


def test_static_layout_gives_the_same_routes_as_a_rebuilt_graph(
    walker_engine: GeometryEngine,
) -> None:
    tick = walker_engine.tick(1500.0)
    assert tick.routes is not None
    plain = LinkGraph(
        walker_engine.catalog.size,
        walker_engine.stations.size,
        rates=LinkRates(isl_mbps=1.0, gsl_mbps=1.0),
    )
    table = plain.routes_from(plain.of_tick(tick.isl, tick.ground), tick.routes.sources)
    np.testing.assert_array_equal(table.delay_ms, tick.routes.delay_ms)


def test_bottleneck_is_the_slowest_link(walker_engine: GeometryEngine) -> None:
    tick = walker_engine.tick(0.0)
    assert tick.routes is not None
    links = walker_engine.scenario.links
    for j in range(walker_engine.stations.size):
        for sat in walker_engine.catalog.compute_indices:
            path = tick.routes.path(j, int(sat))
            if len(path) == 2:
                assert tick.routes.bottleneck_mbps(path) == links.gsl_bandwidth_mbps
            elif len(path) > 2:
                assert tick.routes.bottleneck_mbps(path) == min(
                    links.gsl_bandwidth_mbps, links.isl_bandwidth_mbps
                )


def test_route_horizon_keeps_exact_routes_inside_and_drops_the_rest() -> None:
    full = GeometryEngine(make_scenario({"shell": [_shell(12, 12)]}))
    near = GeometryEngine(
        make_scenario({"shell": [_shell(12, 12)], "links": {"route_horizon_ms": 25.0}})
    )
    a, b = full.tick(300.0), near.tick(300.0)
    assert a.routes is not None and b.routes is not None
    inside = a.routes.delay_ms <= 25.0
    np.testing.assert_array_equal(b.routes.delay_ms[inside], a.routes.delay_ms[inside])
    assert np.all(np.isinf(b.routes.delay_ms[~inside]))
    assert inside.sum() > 0 and (~inside & np.isfinite(a.routes.delay_ms)).sum() > 0
    assert b.routes.horizon_ms == 25.0
