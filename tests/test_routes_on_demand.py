"""Routes searched on demand from a published tick, against networkx; satellite choice
against hand-worked fleets."""

from __future__ import annotations

import itertools
import math
import pickle

import networkx as nx
import numpy as np
import pytest

from orbitmesh.links.choice import Policy, choose_satellite, pinned, policy_named, refusal
from orbitmesh.links.fleet import FleetStatus, SatelliteInfo
from orbitmesh.links.linkstate import Route, TickLinks, Topology
from orbitmesh.links.routes import RouteFinder
from orbitmesh.orchestrator import GeometryEngine
from orbitmesh.orchestrator.publish import tick_links, topology
from orbitmesh.protos.contract import Cause, Refused


def _networkx(tick: TickLinks, topo: Topology) -> nx.DiGraph:
    """The tick's graph built independently: satellites 0..n-1, station j is n + j."""
    n = topo.n_satellites
    g = nx.DiGraph()
    g.add_nodes_from(range(n + len(topo.station_names)))
    for a, b, d in zip(tick.isl_a, tick.isl_b, tick.isl_delay_ms, strict=True):
        g.add_edge(int(a), int(b), weight=float(d))
        g.add_edge(int(b), int(a), weight=float(d))
    for st, sat, d in zip(
        tick.ground.station, tick.ground.satellite, tick.ground.delay_ms, strict=True
    ):
        g.add_edge(n + int(st), int(sat), weight=float(d))
    return g


def _check_route_set_against_networkx(
    routes: object, source: int, topo: Topology, g: nx.DiGraph
) -> int:
    from orbitmesh.links.routes import RouteSet

    assert isinstance(routes, RouteSet)
    ref = nx.single_source_dijkstra_path_length(g, source)
    checked = 0
    for k, sid in enumerate(topo.compute_ids):
        node = int(topo.compute_index[k])
        expected = ref.get(node, math.inf) if node != source else math.inf
        assert routes.delay_ms[k] == pytest.approx(expected, rel=1e-12)
        route = routes.get(sid)
        if math.isinf(expected):
            assert route is None and sid not in routes
            continue
        assert route is not None and sid in routes
        # Each link of the route is a link of the graph with exactly that delay.
        names = {i: s for i, s in enumerate(topo.satellite_ids)}
        names |= {topo.n_satellites + j: s for j, s in enumerate(topo.station_names)}
        number = {v: k for k, v in names.items()}
        for (u, v), d in zip(route.links, route.delays_ms, strict=True):
            assert g[number[u]][number[v]]["weight"] == d
        assert route.delay_ms == pytest.approx(expected, rel=1e-12)
        assert route.source == names[source] and route.target == sid
        checked += 1
    return checked


@pytest.mark.parametrize("offset_s", [0.0, 777.0, 2900.0])
def test_station_routes_equal_networkx_shortest_paths(
    walker_engine: GeometryEngine, offset_s: float
) -> None:
    topo = topology(walker_engine)
    tick = tick_links(walker_engine, walker_engine.tick(offset_s, routes=False), 0)
    g = _networkx(tick, topo)
    finder = RouteFinder(topo)
    checked = 0
    for j, name in enumerate(topo.station_names):
        routes = finder.from_station(tick, name)
        checked += _check_route_set_against_networkx(routes, topo.n_satellites + j, topo, g)
        for route in routes.values():
            # Up over a ground link (GSL rate), on over laser links.
            assert route.rates_mbps[0] == topo.gsl_rate_mbps
            assert all(r == topo.isl_rate_mbps for r in route.rates_mbps[1:])
    assert checked > 0


def test_satellite_routes_equal_networkx_and_never_cross_a_station(
    starlink_tle_engine: GeometryEngine,
) -> None:
    topo = topology(starlink_tle_engine)
    tick = tick_links(starlink_tle_engine, starlink_tle_engine.tick(600.0, routes=False), 3)
    g = _networkx(tick, topo)
    finder = RouteFinder(topo)
    checked = 0
    for sid in topo.compute_ids:
        routes = finder.from_satellite(tick, sid)
        checked += _check_route_set_against_networkx(routes, topo.satellite_number[sid], topo, g)
        for route in routes.values():
            assert not set(route.hops) & set(topo.station_names)
    assert checked > 0


def test_searches_happen_once_per_source_and_tick(walker_engine: GeometryEngine) -> None:
    topo = topology(walker_engine)
    finder = RouteFinder(topo)
    ticks = [
        tick_links(walker_engine, walker_engine.tick(float(t), routes=False), t) for t in range(6)
    ]
    for tick in ticks:
        for _ in range(3):
            finder.from_station(tick, "munich")
    # Old ticks are forgotten (bounded memory); a tick searched again is searched anew.
    assert finder.searches == 6
    finder.from_station(ticks[0], "munich")
    assert finder.searches == 7


def test_a_station_with_nothing_in_view_has_no_routes(walker_engine: GeometryEngine) -> None:
    topo = topology(walker_engine)
    tick = tick_links(walker_engine, walker_engine.tick(0.0, routes=False), 0)
    routes = RouteFinder(topo).from_station(tick.for_stations([0]), "sydney")
    assert len(routes) == 0 and not routes.reachable().any() and routes.get("s1-0-0") is None


def test_horizon_keeps_exact_routes_inside_it(walker_engine: GeometryEngine) -> None:
    full = topology(walker_engine)
    near = Topology(
        full.satellite_ids,
        full.station_names,
        full.compute_index,
        full.isl_rate_mbps,
        full.gsl_rate_mbps,
        route_horizon_ms=50.0,
    )
    tick = tick_links(walker_engine, walker_engine.tick(300.0, routes=False), 0)
    a = RouteFinder(full).from_station(tick, "munich").delay_ms
    b = RouteFinder(near).from_station(tick, "munich").delay_ms
    inside = a <= 50.0
    np.testing.assert_array_equal(a[inside], b[inside])
    assert np.isinf(b[~inside]).all()
    assert inside.any() and (np.isfinite(a) & ~inside).any()


def test_visible_is_sorted_by_elevation_and_matches_the_tick(walker_engine: GeometryEngine) -> None:
    topo = topology(walker_engine)
    raw = walker_engine.tick(100.0, routes=False)
    tick = tick_links(walker_engine, raw, 0)
    finder = RouteFinder(topo)
    for j, name in enumerate(topo.station_names):
        ids, elevations, _azimuths, _ranges, delays = finder.visible_columns(tick, name)
        mine = raw.ground.station == j
        assert sorted(ids) == sorted(topo.satellite_ids[int(s)] for s in raw.ground.satellite[mine])
        assert elevations == sorted(elevations, reverse=True)
        assert finder.in_view(tick, name) == len(ids)
        # Light time over each slant range, as skyfield-free arithmetic: d = r / c.
        expected = raw.ground.range_km[mine] / 299_792.458 * 1e3
        assert sorted(delays) == pytest.approx(sorted(expected.tolist()), rel=1e-12)


def test_a_tick_cut_for_some_stations_keeps_only_theirs_and_survives_pickling(
    walker_engine: GeometryEngine,
) -> None:
    tick = tick_links(walker_engine, walker_engine.tick(100.0, routes=False), 0)
    cut = pickle.loads(pickle.dumps(tick.for_stations([1])))
    assert set(cut.ground.station.tolist()) <= {1}
    assert len(cut.ground) == int((tick.ground.station == 1).sum())
    assert cut.same_as(tick.for_stations([1])) and not cut.same_as(tick)


# ------------------------------------------------------------------ choosing a satellite


def _fleet(*infos: SatelliteInfo) -> FleetStatus:
    return FleetStatus.from_infos(list(infos))


def _sat(sid: str, **kw: object) -> SatelliteInfo:
    return SatelliteInfo(sid, f"addr-{sid}", models=("m",), queue_capacity=4, **kw)  # type: ignore[arg-type]


INF = math.inf


def test_fastest_weighs_path_against_queue() -> None:
    # a: 2 x 10 ms path + (3 queued + 1) x 5 ms = 40 ms; b: 2 x 15 + 1 x 5 = 35 ms.
    fleet = _fleet(_sat("a", queue_depth=3), _sat("b"))
    choice = choose_satellite(np.array([10.0, 15.0]), fleet, "m", inference_ms=np.array([5.0, 5.0]))
    assert choice.index == 1 and choice.predicted_ms == pytest.approx(35.0)
    # Nearest ignores the queue.
    assert choose_satellite(np.array([10.0, 15.0]), fleet, "m", Policy.NEAREST).index == 0


def test_outstanding_requests_count_as_queued() -> None:
    fleet = _fleet(_sat("a"), _sat("b"))
    delay = np.array([10.0, 11.0])
    assert choose_satellite(delay, fleet, "m").index == 0
    # Three of ours in flight to a: 20 + 4 x 1 = 24 ms against 22 + 1 = 23 ms.
    busy = np.array([3, 0], dtype=np.int64)
    assert choose_satellite(delay, fleet, "m", outstanding=busy).index == 1
    # Four fill its queue of four: it is not a candidate at all, whatever the policy.
    full = np.array([4, 0], dtype=np.int64)
    assert choose_satellite(delay, fleet, "m", Policy.NEAREST, outstanding=full).index == 1


def test_unseen_inference_time_uses_the_default() -> None:
    fleet = _fleet(_sat("a", queue_depth=1), _sat("b"))
    delay = np.array([10.0, 10.5])
    # a: 20 + 2 x 1 = 22; b: 21 + 1 x 1 = 22... b's 0.5 ms more path loses to a's queue
    # only when a's inference time is known to be long.
    seen = np.array([np.nan, np.nan])
    assert choose_satellite(delay, fleet, "m", inference_ms=seen).index == 0
    seen = np.array([3.0, np.nan])
    assert choose_satellite(delay, fleet, "m", inference_ms=seen).index == 1


def test_least_loaded_and_power_aware_orders() -> None:
    fleet = _fleet(
        _sat("a", queue_depth=2, sunlit=False, state_of_charge=0.9),
        _sat("b", queue_depth=1, sunlit=True, state_of_charge=0.5, temperature_c=40.0),
        _sat("c", queue_depth=1, sunlit=True, state_of_charge=0.5, temperature_c=30.0),
    )
    delay = np.array([5.0, 9.0, 7.0])
    # Equal load 1/4 for b and c: the shorter path (c) wins.
    assert choose_satellite(delay, fleet, "m", Policy.LEAST_LOADED).index == 2
    # Sunlit first (b, c), equally charged, then the cooler one (c).
    assert choose_satellite(delay, fleet, "m", Policy.POWER_AWARE).index == 2


def test_reasons_when_nothing_can_be_chosen() -> None:
    delay = np.array([10.0, INF])
    assert choose_satellite(delay, _fleet(_sat("a")), "other").reason == "not-found"
    assert choose_satellite(delay[:1], _fleet(_sat("a", up=False)), "m").reason == "node-down"
    assert choose_satellite(np.array([INF]), _fleet(_sat("a")), "m").reason == "no-contact"
    # Reachable ones refusing for one cause give that cause; mixed causes give "queue".
    hot = _fleet(_sat("a", accepting_thermal=False), _sat("b"))
    assert choose_satellite(delay, hot, "m").reason == "thermal"
    flat = _fleet(_sat("a", accepting_power=False), _sat("b"))
    assert choose_satellite(delay, flat, "m").reason == "power"
    both = _fleet(_sat("a", accepting_power=False), _sat("b", queue_depth=4))
    assert choose_satellite(np.array([1.0, 2.0]), both, "m").reason == "queue"
    # A down satellite is skipped when another one carries the model.
    one_down = _fleet(_sat("a", up=False), _sat("b"))
    assert choose_satellite(np.array([1.0, 2.0]), one_down, "m").index == 1


def test_choice_matches_a_plain_loop_on_random_fleets() -> None:
    rng = np.random.default_rng(11)
    for _ in range(200):
        n = int(rng.integers(1, 12))
        infos = [
            SatelliteInfo(
                f"s{i}",
                "x",
                models=("m",) if rng.random() < 0.8 else ("n",),
                up=bool(rng.random() < 0.9),
                queue_depth=int(rng.integers(0, 5)),
                queue_capacity=4,
                state_of_charge=float(rng.choice([0.3, 0.6, 0.9])),
                temperature_c=float(rng.choice([20.0, 40.0])),
                accepting_power=bool(rng.random() < 0.8),
                accepting_thermal=bool(rng.random() < 0.9),
                sunlit=bool(rng.random() < 0.5),
            )
            for i in range(n)
        ]
        delay = np.where(rng.random(n) < 0.7, rng.uniform(2, 30, n), np.inf)
        inference = rng.uniform(0.5, 5, n)
        for policy in Policy:
            got = choose_satellite(
                delay, FleetStatus.from_infos(infos), "m", policy, inference_ms=inference
            )
            want = _plain_choice(delay, infos, policy, inference)
            assert got.index == want, (policy, infos, delay)


def _plain_choice(
    delay: np.ndarray, infos: list[SatelliteInfo], policy: Policy, inference: np.ndarray
) -> int | None:
    best: tuple[tuple[float, ...], int] | None = None
    for i, info in enumerate(infos):
        if "m" not in info.models or not info.up or not math.isfinite(delay[i]):
            continue
        if not (info.accepting_power and info.accepting_thermal):
            continue
        if info.queue_depth >= info.queue_capacity:
            continue
        path = 2.0 * delay[i]
        if policy is Policy.NEAREST:
            key: tuple[float, ...] = (path,)
        elif policy is Policy.LEAST_LOADED:
            key = (info.queue_depth / info.queue_capacity, path)
        elif policy is Policy.POWER_AWARE:
            key = (0.0 if info.sunlit else 1.0, -info.state_of_charge, info.temperature_c, path)
        else:
            key = (path + (info.queue_depth + 1) * inference[i],)
        if best is None or (key, i) < (best[0], best[1]):
            best = (key, i)
    return None if best is None else best[1]


def test_fleet_round_trips_one_satellite_view() -> None:
    a = _sat("a", queue_depth=2, sunlit=False, throttled=True)
    fleet = _fleet(a, _sat("b"))
    assert fleet.info("a") == a and fleet.info("zz") is None
    assert list(itertools.compress(fleet.satellite_ids, fleet.carriers("m"))) == ["a", "b"]
    assert not fleet.carriers("nothing").any()


def test_a_limited_search_is_exact_inside_its_limit_and_reused_by_nothing_wider(
    walker_engine: GeometryEngine,
) -> None:
    topo = topology(walker_engine)
    tick = tick_links(walker_engine, walker_engine.tick(300.0, routes=False), 0)
    finder = RouteFinder(topo)
    near = finder.from_station(tick, "munich", within_ms=50.0)
    assert near.within_ms == 50.0
    full = finder.from_station(tick, "munich")
    assert full.within_ms is None and finder.searches == 2
    inside = full.delay_ms <= 50.0
    np.testing.assert_array_equal(near.delay_ms[inside], full.delay_ms[inside])
    assert np.isinf(near.delay_ms[~inside]).all()
    # Once every route is known, a limited question is answered from it.
    assert finder.from_station(tick, "munich", within_ms=10.0) is full
    assert finder.searches == 2


def test_a_limited_question_is_answered_by_a_search_that_reached_farther(
    walker_engine: GeometryEngine,
) -> None:
    topo = topology(walker_engine)
    tick = tick_links(walker_engine, walker_engine.tick(300.0, routes=False), 0)
    finder = RouteFinder(topo)
    assert finder.finished(tick, "munich", 40.0) is None  # a look, not a search
    wide = finder.from_station(tick, "munich", within_ms=40.0)
    assert finder.from_station(tick, "munich", within_ms=25.0) is wide
    assert finder.finished(tick, "munich", 25.0) is wide
    assert finder.finished(tick, "munich", 41.0) is None
    assert finder.finished(tick, "munich") is None
    assert finder.searches == 1
    # A farther question is searched anew; then the farthest answers the rest.
    wider = finder.from_station(tick, "munich", within_ms=60.0)
    assert wider is not wide and finder.searches == 2
    assert finder.from_station(tick, "munich", within_ms=50.0) is wider
    # Every route is a question no limited search answers.
    full = finder.from_station(tick, "munich")
    assert full.within_ms is None and finder.searches == 3
    # Searches ahead take each station's own limit.
    finder.prepare([tick], {"munich": 10.0, "sydney": 15.0})
    assert finder.searches == 4  # munich's 10 ms was answered by the full search


def test_a_choice_within_a_search_limit_says_when_it_is_sure() -> None:
    fleet = _fleet(_sat("a"), _sat("b", queue_depth=3), _sat("c"))
    # Searched up to 10 ms: c (12 ms away) shows as unreachable.
    near = np.array([4.0, 3.0, INF])
    # Nearest: b, 6 ms round trip, within twice the limit: nothing beyond can be nearer.
    sure = choose_satellite(near, fleet, "m", Policy.NEAREST, within_ms=10.0)
    assert (sure.index, sure.certain) == (1, True)
    # Fastest: a, 8 + 1 = 9 ms predicted, within 20 ms: sure as well.
    assert choose_satellite(near, fleet, "m", within_ms=10.0).certain
    # Least-loaded could prefer an emptier satellite beyond the limit: never sure.
    assert not choose_satellite(near, fleet, "m", Policy.LEAST_LOADED, within_ms=10.0).certain
    # A round trip longer than twice the limit could be beaten from beyond it.
    far = np.array([INF, 9.5, INF])  # b: 19 + 4 = 23 ms predicted > 20
    assert not choose_satellite(far, fleet, "m", within_ms=10.0).certain
    # Nothing reachable inside the limit says nothing about outside it.
    nothing = choose_satellite(np.full(3, INF), fleet, "m", within_ms=10.0)
    assert nothing.reason == "no-contact" and not nothing.certain
    # Reasons that do not depend on routes are sure whatever the limit.
    assert choose_satellite(near, fleet, "other", within_ms=10.0).certain
    # The limit each choice needed: half of what it minimised; none for the policies
    # that only a search of every route makes sure.
    assert choose_satellite(near, fleet, "m", Policy.NEAREST, within_ms=10.0).reach_ms == 3.0
    assert choose_satellite(near, fleet, "m", within_ms=10.0).reach_ms == 4.5  # (8 + 1) / 2
    assert choose_satellite(near, fleet, "m", Policy.LEAST_LOADED).reach_ms is None


def test_a_pinned_satellite_is_refused_by_cause() -> None:
    fleet = _fleet(_sat("a"), _sat("b", up=False))
    route = Route(("station", "a"), (3.0,), (100.0,))
    assert pinned(fleet, "a", route, unreachable="far") == 0
    for satellite, where, cause in [
        ("x", route, Cause.NOT_FOUND),
        ("b", route, Cause.NODE_DOWN),
        ("a", None, Cause.NO_CONTACT),
    ]:
        with pytest.raises(Refused) as refused:
            pinned(fleet, satellite, where, unreachable="far")
        assert refused.value.cause is cause


def test_policies_by_name_and_refusals_by_reason() -> None:
    assert policy_named(None, Policy.NEAREST) is Policy.NEAREST
    assert policy_named("power-aware", Policy.NEAREST) is Policy.POWER_AWARE
    with pytest.raises(Refused) as refused:
        policy_named("closest", Policy.NEAREST)
    assert refused.value.cause is Cause.INVALID and "known: " in str(refused.value)
    none_carry = choose_satellite(np.array([1.0]), _fleet(_sat("a")), "other")
    told = refusal(none_carry, "other", within="in contact with station s")
    assert told.cause is Cause.NOT_FOUND and "carries model 'other'" in str(told)
    unreachable = choose_satellite(np.array([INF]), _fleet(_sat("a")), "m")
    told = refusal(unreachable, "m", within="in contact with station s")
    assert told.cause is Cause.NO_CONTACT and str(told).endswith("in contact with station s")
