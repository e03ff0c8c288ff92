"""From a geometry tick to what each ground station and satellite needs of it.

A gateway needs its routes to every compute satellite (hops with per-link delay and
rate), what it sees overhead, and the latest status of the compute satellites; a compute
satellite needs its routes to the other compute satellites. Nothing else of the tick
leaves the orchestrator.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray

from ground.linkstate import LinkState, Route, VisibleSatellite

from .constants import C_KM_PER_S
from .geometry import GeometryEngine, Tick
from .routing import RouteTable

__all__ = ["satellite_link_states", "station_link_states"]


class _Paths:
    """Turns node paths of a route table into :class:`Route` s with per-link figures."""

    def __init__(self, engine: GeometryEngine, tick: Tick) -> None:
        self.ids = engine.catalog.ids
        self.names = engine.stations.names
        self.n_sats = engine.catalog.size
        self.pos = tick.itrs_km
        links = engine.scenario.links
        self.gsl_mbps = links.gsl_bandwidth_mbps
        self.isl_mbps = links.isl_bandwidth_mbps
        g = tick.ground
        self.gsl_ms = {
            (int(s), int(v)): float(d)
            for s, v, d in zip(g.station, g.satellite, g.delay_ms, strict=True)
        }

    def name(self, node: int) -> str:
        return self.ids[node] if node < self.n_sats else self.names[node - self.n_sats]

    def route(self, nodes: list[int]) -> Route:
        delays: list[float] = []
        rates: list[float] = []
        for a, b in itertools.pairwise(nodes):
            if a >= self.n_sats:  # station -> satellite
                delays.append(self.gsl_ms[(a - self.n_sats, b)])
                rates.append(self.gsl_mbps)
            else:
                dist_km = float(np.linalg.norm(self.pos[a] - self.pos[b]))
                delays.append(dist_km / C_KM_PER_S * 1e3)
                rates.append(self.isl_mbps)
        return Route(tuple(self.name(n) for n in nodes), tuple(delays), tuple(rates))


def _routes(
    table: RouteTable, row: int, targets: NDArray[np.intp], paths: _Paths
) -> dict[str, Route]:
    out: dict[str, Route] = {}
    source = int(table.sources[row])
    for target in targets.tolist():
        if target == source or not np.isfinite(table.delay_ms[row, target]):
            continue
        out[paths.ids[target]] = paths.route(table.path(row, target))
    return out


def station_link_states(
    engine: GeometryEngine,
    tick: Tick,
    tick_index: int,
) -> dict[str, LinkState]:
    """One :class:`LinkState` per ground station for this tick."""
    assert tick.routes is not None, "ticks for publication need routes"
    paths = _Paths(engine, tick)
    compute = engine.catalog.compute_indices
    step = engine.scenario.time.step_s
    g = tick.ground
    out: dict[str, LinkState] = {}
    for j, name in enumerate(engine.stations.names):
        sel = np.flatnonzero(g.station == j)
        visible = tuple(
            VisibleSatellite(
                satellite_id=engine.catalog.ids[int(g.satellite[k])],
                elevation_deg=float(g.elevation_deg[k]),
                azimuth_deg=float(g.azimuth_deg[k]),
                range_km=float(g.range_km[k]),
                delay_ms=float(g.delay_ms[k]),
            )
            for k in sel[np.argsort(-g.elevation_deg[sel])]
        )
        out[name] = LinkState(
            tick=tick_index,
            offset_s=tick.offset_s,
            step_s=step,
            routes=_routes(tick.routes, j, compute, paths),
            visible=visible,
        )
    return out


def satellite_link_states(
    engine: GeometryEngine,
    tick: Tick,
    tick_index: int,
) -> dict[str, LinkState]:
    """One :class:`LinkState` per compute satellite: its routes to the other ones."""
    compute = engine.catalog.compute_indices
    if len(compute) == 0:
        return {}
    table = engine.satellite_routes(tick, compute)
    paths = _Paths(engine, tick)
    step = engine.scenario.time.step_s
    return {
        engine.catalog.ids[int(c)]: LinkState(
            tick=tick_index,
            offset_s=tick.offset_s,
            step_s=step,
            routes=_routes(table, row, compute, paths),
        )
        for row, c in enumerate(compute)
    }
