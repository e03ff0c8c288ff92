"""From a geometry tick to what the data path needs of it.

Every receiver gets the tick's usable laser links (with their delays); a gateway host
also gets the ground links of its own stations. Routes are not computed here: the data
path searches them where and when a request needs them (links/routes.py), so a tick's
publication grows with the links of the constellation and the stations a host serves,
not with the square of the compute satellites.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from orbitmesh.constants import C_KM_PER_S
from orbitmesh.links.linkstate import StationLinks, TerminalPlaces, TickLinks, Topology
from orbitmesh.orchestrator.faults import FaultState
from orbitmesh.orchestrator.geometry import GeometryEngine, Tick

__all__ = ["apply_faults", "tick_links", "topology"]


def topology(engine: GeometryEngine) -> Topology:
    """The run's fixed node numbering and link rates."""
    links, rates = engine.scenario.links, engine.rates
    return Topology(
        satellite_ids=tuple(engine.catalog.ids),
        station_names=tuple(engine.stations.names),
        compute_index=np.asarray(engine.catalog.compute_indices, dtype=np.intp),
        isl_rate_mbps=links.isl_bandwidth_mbps,
        gsl_rate_mbps=links.gsl_bandwidth_mbps,
        route_horizon_ms=links.route_horizon_ms,
        cluster_of=rates.cluster_of,
        cluster_rate_mbps=rates.cluster_mbps,
        station_rate_mbps=rates.station_mbps,
    )


def tick_links(engine: GeometryEngine, tick: Tick, tick_index: int) -> TickLinks:
    """One tick's links, every station's ground links included (cut per host with
    :meth:`TickLinks.for_stations`)."""
    g = tick.ground
    # Ground links come sorted by station; within a station, highest first.
    order = np.lexsort((-g.elevation_deg, g.station))
    ground = StationLinks(
        station=np.ascontiguousarray(g.station[order], dtype=np.int32),
        satellite=np.ascontiguousarray(g.satellite[order], dtype=np.int32),
        elevation_deg=np.ascontiguousarray(g.elevation_deg[order]),
        azimuth_deg=np.ascontiguousarray(g.azimuth_deg[order]),
        range_km=np.ascontiguousarray(g.range_km[order]),
        delay_ms=np.ascontiguousarray(g.range_km[order] / C_KM_PER_S * 1e3),
    )
    isl = tick.isl
    places = TerminalPlaces.empty()
    terminals = engine.stations.terminals
    if terminals is not None and tick.handover_by_motion is not None:
        moving = np.flatnonzero(terminals.moving)
        lat, lon, alt = terminals.geodetic(tick.offset_s)
        places = TerminalPlaces(
            station=(moving + engine.stations.n_fixed).astype(np.int32),
            lat_deg=lat[moving],
            lon_deg=lon[moving],
            alt_m=alt[moving],
            handover_by_motion=tick.handover_by_motion[moving],
        )
    return TickLinks(
        tick=tick_index,
        offset_s=tick.offset_s,
        step_s=engine.scenario.time.step_s,
        isl_a=np.ascontiguousarray(isl.a, dtype=np.int32),
        isl_b=np.ascontiguousarray(isl.b, dtype=np.int32),
        isl_delay_ms=np.ascontiguousarray(isl.distance_km / C_KM_PER_S * 1e3),
        ground=ground,
        places=places,
    )


def apply_faults(
    tick: TickLinks, state: FaultState, topology: Topology, labels: tuple[str, ...] = ()
) -> TickLinks:
    """``tick`` as faults leave it: laser links cut (moved to ``cut_*``), the ground links
    of stations that are down removed (and the stations listed), weather noted per
    station, the active faults' ``labels`` attached."""
    number = topology.satellite_number
    isolated = state.cut_satellites | state.down_satellites
    cut = np.zeros(len(tick.isl_a), dtype=bool)
    if isolated:
        ends = np.array(sorted(number[s] for s in isolated), dtype=np.int32)
        cut |= np.isin(tick.isl_a, ends) | np.isin(tick.isl_b, ends)
    if state.cut_links:
        n = np.int64(topology.n_satellites)
        pairs = [sorted(number[s] for s in link) for link in state.cut_links]
        keys = np.array([a * n + b for a, b in pairs], dtype=np.int64)
        lo = np.minimum(tick.isl_a, tick.isl_b).astype(np.int64)
        hi = np.maximum(tick.isl_a, tick.isl_b).astype(np.int64)
        cut |= np.isin(lo * n + hi, keys)
    stations = topology.station_number
    down = tuple(sorted(stations[name] for name in state.down_stations))
    ground = tick.ground
    if down:
        keep = ~np.isin(ground.station, np.array(down, dtype=np.int32))
        ground = StationLinks(
            ground.station[keep],
            ground.satellite[keep],
            ground.elevation_deg[keep],
            ground.azimuth_deg[keep],
            ground.range_km[keep],
            ground.delay_ms[keep],
        )
    weather = tuple(
        sorted((stations[name], w.rate_factor, w.loss_rate) for name, w in state.weather.items())
    )
    return replace(
        tick,
        isl_a=tick.isl_a[~cut],
        isl_b=tick.isl_b[~cut],
        isl_delay_ms=tick.isl_delay_ms[~cut],
        cut_a=tick.isl_a[cut],
        cut_b=tick.isl_b[cut],
        cut_delay_ms=tick.isl_delay_ms[cut],
        ground=ground,
        stations_down=down,
        weather=weather,
        faults=labels,
    )
