"""From a geometry tick to what the data path needs of it.

Every receiver gets the tick's usable laser links (with their delays); a gateway host
also gets the ground links of its own stations. Routes are not computed here: the data
path searches them where and when a request needs them (links/routes.py), so a tick's
publication grows with the links of the constellation and the stations a host serves,
not with the square of the compute satellites.
"""

from __future__ import annotations

import numpy as np

from orbitmesh.constants import C_KM_PER_S
from orbitmesh.links.linkstate import StationLinks, TickLinks, Topology
from orbitmesh.orchestrator.geometry import GeometryEngine, Tick

__all__ = ["tick_links", "topology"]


def topology(engine: GeometryEngine) -> Topology:
    """The run's fixed node numbering and link rates."""
    links = engine.scenario.links
    return Topology(
        satellite_ids=tuple(engine.catalog.ids),
        station_names=tuple(engine.stations.names),
        compute_index=np.asarray(engine.catalog.compute_indices, dtype=np.intp),
        isl_rate_mbps=links.isl_bandwidth_mbps,
        gsl_rate_mbps=links.gsl_bandwidth_mbps,
        route_horizon_ms=links.route_horizon_ms,
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
    return TickLinks(
        tick=tick_index,
        offset_s=tick.offset_s,
        step_s=engine.scenario.time.step_s,
        isl_a=np.ascontiguousarray(isl.a, dtype=np.int32),
        isl_b=np.ascontiguousarray(isl.b, dtype=np.int32),
        isl_delay_ms=np.ascontiguousarray(isl.distance_km / C_KM_PER_S * 1e3),
        ground=ground,
    )
