"""What faults do to a tick's links, its routes and the link model (pure): checked
against hand-built graphs, networkx and a hand-run of the loss draws."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from orbitmesh.links.linkstate import Route, StationLinks, TickLinks, Topology
from orbitmesh.links.model import LinkModel, LinkParams
from orbitmesh.links.routes import RouteFinder
from orbitmesh.orchestrator.faults import FaultState, Weather
from orbitmesh.orchestrator.publish import apply_faults
from orbitmesh.orchestrator.trace import TraceReader, TraceWriter

SATS = ("a", "b", "c", "d")
STATIONS = ("gs0", "gs1")
TOPO = Topology(
    satellite_ids=SATS,
    station_names=STATIONS,
    compute_index=np.arange(4, dtype=np.intp),
    isl_rate_mbps=1000.0,
    gsl_rate_mbps=100.0,
)


def ring_tick() -> TickLinks:
    """A ring a-b-c-d-a (delays 1, 2, 3, 4 ms); gs0 sees a (0.5 ms), gs1 sees c (0.7 ms)."""
    i32 = np.int32
    return TickLinks(
        tick=0,
        offset_s=0.0,
        step_s=1.0,
        isl_a=np.array([0, 1, 2, 0], dtype=i32),
        isl_b=np.array([1, 2, 3, 3], dtype=i32),
        isl_delay_ms=np.array([1.0, 2.0, 3.0, 4.0]),
        ground=StationLinks(
            station=np.array([0, 1], dtype=i32),
            satellite=np.array([0, 2], dtype=i32),
            elevation_deg=np.array([60.0, 40.0]),
            azimuth_deg=np.array([0.0, 90.0]),
            range_km=np.array([150.0, 210.0]),
            delay_ms=np.array([0.5, 0.7]),
        ),
    )


def _pairs(tick: TickLinks) -> list[tuple[int, int]]:
    return sorted(zip(tick.isl_a.tolist(), tick.isl_b.tolist(), strict=True))


def _graph(tick: TickLinks) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(4))
    for a, b, d in zip(tick.isl_a, tick.isl_b, tick.isl_delay_ms, strict=True):
        g.add_edge(int(a), int(b), weight=float(d))
    return g


def test_a_cut_link_and_an_isolated_satellite_leave_the_graph_and_are_kept_aside() -> None:
    tick = ring_tick()
    state = FaultState(cut_links=frozenset({frozenset({"b", "a"})}))
    cut = apply_faults(tick, state, TOPO, ("fault[0] isl-down a~b",))
    assert _pairs(cut) == [(0, 3), (1, 2), (2, 3)]
    assert (cut.cut_a.tolist(), cut.cut_b.tolist(), cut.cut_delay_ms.tolist()) == ([0], [1], [1.0])
    assert cut.faults == ("fault[0] isl-down a~b",)
    # Routes on the cut graph are networkx's shortest paths without that edge.
    finder = RouteFinder(TOPO)
    routes = finder.from_station(cut, "gs0")
    g = _graph(cut)
    for sid in ("b", "c", "d"):
        expected = 0.5 + nx.shortest_path_length(g, 0, SATS.index(sid), weight="weight")
        assert routes[sid].delay_ms == pytest.approx(expected)
    # Restored, the graph is the original one again.
    restored = cut.with_cuts_restored()
    assert _pairs(restored) == _pairs(tick)
    # A satellite whose plane is down loses every laser link.
    alone = apply_faults(tick, FaultState(cut_satellites=frozenset({"c"})), TOPO)
    assert 2 not in alone.isl_a.tolist() + alone.isl_b.tolist()
    assert len(alone.cut_a) == 2
    assert "c" not in RouteFinder(TOPO).from_station(alone, "gs0")


def test_a_station_that_is_down_loses_its_ground_links_and_is_listed() -> None:
    tick = apply_faults(ring_tick(), FaultState(down_stations=frozenset({"gs1"})), TOPO)
    assert tick.stations_down == (1,)
    assert tick.ground.station.tolist() == [0]
    assert len(RouteFinder(TOPO).from_station(tick, "gs1")) == 0
    # A gateway host of gs0 alone is not told about gs1.
    assert tick.for_stations([0]).stations_down == ()
    assert tick.for_stations([1]).stations_down == (1,)


def test_weather_slows_and_loses_on_the_ground_link_only() -> None:
    tick = apply_faults(
        ring_tick(),
        FaultState(weather={"gs0": Weather(rate_factor=0.25, loss_rate=0.1)}),
        TOPO,
    )
    assert tick.weather == ((0, 0.25, 0.1),)
    route = RouteFinder(TOPO).from_station(tick, "gs0")["c"]
    assert route.rates_mbps == (25.0, 1000.0, 1000.0)  # 100 Mbit/s * 0.25 up to a
    assert route.loss_rates == (0.1, 0.0, 0.0)
    assert route.reversed().loss_rates == (0.0, 0.0, 0.1)
    # gs1 is clear.
    clear = RouteFinder(TOPO).from_station(tick, "gs1")["a"]
    assert clear.rates_mbps[0] == 100.0 and clear.loss_rates == ()


def test_link_losses_combine_the_runs_own_with_the_weathers() -> None:
    """Each link draws Binomial(packets, p) with p = 1 - (1 - base)(1 - extra), then its
    lost resends likewise: the same draws by hand from the same seed."""
    base, extra, size = 0.05, 0.3, 15_000  # 10 packets of 1,500 bytes
    route = Route(("gs", "a", "b"), (1.0, 2.0), (100.0, 1000.0), (extra, 0.0))
    model = LinkModel(LinkParams(loss_rate=base, seed=11))
    lost = model.transfer(route, size, 0.0).lost_packets
    rng = np.random.default_rng(11)
    expected = 0
    for p in (1 - (1 - base) * (1 - extra), base):
        pending = int(rng.binomial(10, p))
        expected += pending
        while pending:
            pending = int(rng.binomial(pending, p))
            expected += pending
    assert lost == expected
    # A lossless run with clear weather draws nothing.
    clear = LinkModel(LinkParams(loss_rate=0.0, seed=11))
    assert clear.transfer(Route(("gs", "a"), (1.0,), (100.0,)), size, 0.0).lost_packets == 0


def test_a_trace_keeps_the_faults_of_every_tick(tmp_path: Path) -> None:
    state = FaultState(
        cut_links=frozenset({frozenset({"a", "b"})}),
        down_stations=frozenset({"gs1"}),
        weather={"gs0": Weather(0.5, 0.2)},
    )
    tick = apply_faults(ring_tick(), state, TOPO, ("x", "y"))
    writer = TraceWriter(tmp_path / "t.npz", "s", STATIONS, SATS)
    writer.add(tick)
    writer.satellite_faults = [{"satellite": "a", "edge": "start"}]
    writer.close()
    reader = TraceReader(tmp_path / "t.npz")
    back = reader.tick(0)
    assert back.cut_a.tolist() == [0] and back.cut_b.tolist() == [1]
    assert back.stations_down == (1,) and back.weather == ((0, 0.5, 0.2),)
    assert back.faults == ("x", "y")
    assert reader.satellite_faults == [{"satellite": "a", "edge": "start"}]
