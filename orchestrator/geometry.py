"""The geometry engine: everything about one instant of a scenario, computed at once.

A :class:`Tick` holds satellite positions, sunlight, ground and inter-satellite links
and the shortest routes from every ground station. :class:`GeometryEngine` builds the
static parts of a scenario once (satellite catalog, station frames, +grid layout) and
then produces ticks; batches of instants share one SGP4 call and one ephemeris lookup.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from orbitmesh.constants import C_KM_PER_S
from orbitmesh.geodesy import itrs_to_geodetic
from orbitmesh.links.linkstate import LinkRates
from orbitmesh.node.ephemeris import Ephemeris
from orbitmesh.orchestrator.catalog import SatelliteCatalog, build_catalog
from orbitmesh.orchestrator.isl import (
    ClusterLinks,
    IslLinks,
    PlusGrid,
    merged_links,
    nearest_links,
    usable_links,
)
from orbitmesh.orchestrator.orbits import Propagator, times_at
from orbitmesh.orchestrator.routing import LinkGraph, RouteTable
from orbitmesh.orchestrator.scenario import Scenario
from orbitmesh.orchestrator.sunlight import sun_itrs_km, sunlit
from orbitmesh.orchestrator.terminals import TerminalTracks
from orbitmesh.orchestrator.visibility import GroundLinks, StationSet

__all__ = ["GeometryEngine", "Tick"]

#: Upper bound on satellite positions held per batch of ticks (x 24 bytes).
_BATCH_POSITIONS = 2_000_000
#: Sampling of per-satellite ephemerides (interpolation error well under a millimetre).
_EPHEMERIS_STEP_S = 10.0
#: Bisection rounds for sunlight transitions: 10 s / 2**24, under a microsecond.
_BISECTION_ROUNDS = 24


@dataclass(frozen=True)
class Tick:
    """The state of the constellation at one instant (arrays indexed like the catalog)."""

    time: datetime
    offset_s: float  # seconds since the scenario start
    itrs_km: NDArray[np.float64]  # (N, 3)
    valid: NDArray[np.bool_]  # False where SGP4 failed (decayed or bad elements)
    sunlit: NDArray[np.bool_]
    ground: GroundLinks
    isl: IslLinks
    #: Shortest paths from every ground station (None when routes were not asked for).
    routes: RouteTable | None
    n_sats: int
    #: Per terminal (station order, after the fixed stations): whether its highest
    #: satellite changed since the tick before because it moved (None: nothing moves).
    handover_by_motion: NDArray[np.bool_] | None = None
    _geodetic: list[tuple[NDArray[np.float64], ...]] = field(
        default_factory=list, repr=False, compare=False
    )

    def geodetic(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """WGS84 latitude (deg), longitude (deg) and altitude (km), computed on demand."""
        if not self._geodetic:
            self._geodetic.append(itrs_to_geodetic(self.itrs_km))
        lat, lon, alt = self._geodetic[0]
        return lat, lon, alt


class GeometryEngine:
    """Positions, sunlight, links and routes for a scenario, tick by tick."""

    def __init__(self, scenario: Scenario, catalog: SatelliteCatalog | None = None) -> None:
        self.scenario = scenario
        self.catalog = catalog if catalog is not None else build_catalog(scenario)
        self.stations = StationSet(
            scenario.ground_stations,
            TerminalTracks(scenario.terminals) if scenario.terminals else None,
        )
        self.propagator = Propagator(self.catalog)
        links = scenario.links
        self._grid = PlusGrid(self.catalog) if links.isl == "plus-grid" else None
        self._clusters = ClusterLinks(self.catalog) if self.catalog.clusters else None
        self._pairs = (
            None
            if self._grid is None
            else self._grid.pairs
            if self._clusters is None
            else np.concatenate([self._grid.pairs, self._clusters.pairs])
        )
        self.graph = LinkGraph(
            self.catalog.size, self.stations.size, rates=self.rates, static_pairs=self._pairs
        )
        self._station_nodes = np.arange(self.stations.size) + self.catalog.size
        #: Seconds spent per phase since the last clear(), for benchmarks and profiling.
        self.phase_s: dict[str, float] = {}
        #: The last tick's offset and each terminal's highest satellite then (-1: none).
        self._last_best: tuple[float, NDArray[np.int32]] | None = None

    @cached_property
    def rates(self) -> LinkRates:
        """Every link's rate: the scenario's two, clusters' and terminals' own."""
        links, catalog, terminals = self.scenario.links, self.catalog, self.stations.terminals
        station_mbps: tuple[float, ...] = ()
        if terminals is not None:  # stations at the scenario's rate, terminals at theirs
            fixed = (links.gsl_bandwidth_mbps,) * self.stations.n_fixed
            station_mbps = fixed + tuple(terminals.rate_mbps.tolist())
        return LinkRates(
            isl_mbps=links.isl_bandwidth_mbps,
            gsl_mbps=links.gsl_bandwidth_mbps,
            cluster_of=catalog.cluster_index,
            cluster_mbps=tuple(c.link_mbps for c in catalog.clusters),
            station_mbps=station_mbps,
        )

    def _lap(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.phase_s[phase] = self.phase_s.get(phase, 0.0) + now - since
        return now

    # ------------------------------------------------------------------ time helpers

    @property
    def start(self) -> datetime:
        return self.scenario.time.start

    def offsets(
        self, duration_s: float | None = None, step_s: float | None = None
    ) -> NDArray[np.float64]:
        """Tick offsets (s) over the scenario's duration at its step, end included."""
        spec = self.scenario.time
        duration = spec.duration_s if duration_s is None else duration_s
        step = spec.step_s if step_s is None else step_s
        count = int(np.floor(duration / step + 1e-9)) + 1
        return np.arange(count, dtype=np.float64) * step

    def offset_of(self, when: datetime) -> float:
        return (when - self.start).total_seconds()

    # ------------------------------------------------------------------ raw geometry

    def positions(
        self, offsets_s: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """ITRS positions (T, N, 3) in km and validity (T, N) at offsets from the start."""
        return self.propagator.itrs_km(times_at(self.start, offsets_s))

    # ------------------------------------------------------------------ ticks

    def tick(self, when: datetime | float, *, routes: bool = True) -> Tick:
        """The full state at one instant (a datetime, or seconds since the start)."""
        offset = self.offset_of(when) if isinstance(when, datetime) else float(when)
        return next(self.ticks(np.array([offset]), routes=routes))

    def ticks(
        self,
        offsets_s: Sequence[float] | NDArray[np.float64],
        *,
        routes: bool = True,
        batch: int = 16,
    ) -> Iterator[Tick]:
        """Ticks at the given offsets; SGP4 and the ephemeris run once per batch."""
        offsets = np.asarray(offsets_s, dtype=np.float64)
        # Keep a batch's positions to a few tens of MB whatever the constellation size.
        batch = max(1, min(batch, _BATCH_POSITIONS // max(1, self.catalog.size)))
        for lo in range(0, len(offsets), batch):
            chunk = offsets[lo : lo + batch]
            mark = time.perf_counter()
            t = times_at(self.start, chunk)
            positions, valid = self.propagator.itrs_km(t)
            mark = self._lap("positions", mark)
            sun = sun_itrs_km(t)
            self._lap("sun", mark)
            for k, off in enumerate(chunk):
                yield self._tick_from(float(off), positions[k], valid[k], sun[k], routes)

    def _tick_from(
        self,
        offset: float,
        pos: NDArray[np.float64],
        valid: NDArray[np.bool_],
        sun_km: NDArray[np.float64],
        routes: bool,
    ) -> Tick:
        links = self.scenario.links
        mark = time.perf_counter()
        lit = sunlit(pos, sun_km) & valid
        mark = self._lap("sunlit", mark)
        ground = self.stations.links(pos, valid=valid, at_s=offset)
        by_motion = self._handover_by_motion(offset, pos, ground) if self.stations.moves else None
        mark = self._lap("visibility", mark)
        candidate_ms: NDArray[np.float64] | None = None
        if self._grid is not None and self._pairs is not None:
            candidate_km = self._grid.candidate_distances_km(pos, links.isl_range_km, valid)
            if self._clusters is not None:
                own_km = self._clusters.candidate_distances_km(pos, valid)
                candidate_km = np.concatenate([candidate_km, own_km])
            isl = usable_links(self._pairs, candidate_km)
            candidate_ms = candidate_km / C_KM_PER_S * 1e3
        else:
            if links.isl == "nearest":
                isl = nearest_links(pos, links.isl_neighbours, links.isl_range_km, valid)
            else:
                empty = np.empty(0, dtype=np.int32)
                isl = IslLinks(empty, empty, np.empty(0))
            if self._clusters is not None:
                isl = merged_links(self._clusters.links(pos, valid), isl)
        mark = self._lap("isl", mark)
        table = None
        if routes:
            graph = self.graph.of_tick(isl, ground, candidate_ms)
            mark = self._lap("graph", mark)
            table = self.graph.routes_from(graph, self._station_nodes, links.route_horizon_ms)
            self._lap("routes", mark)
        return Tick(
            time=self.start + timedelta(seconds=offset),
            offset_s=offset,
            itrs_km=pos,
            valid=valid,
            sunlit=lit,
            ground=ground,
            isl=isl,
            routes=table,
            n_sats=self.catalog.size,
            handover_by_motion=by_motion,
        )

    def _handover_by_motion(
        self, offset: float, pos: NDArray[np.float64], ground: GroundLinks
    ) -> NDArray[np.bool_]:
        """Which terminals handed over because they moved: their highest satellite
        changed since the tick before, and from where they stood then, at this instant,
        the satellite they had is still above their mask and above the new one.

        Judged only against the tick just before (within two steps); a handover of a
        terminal that did not move, or of one whose old satellite set, is the sky's."""
        stations = self.stations
        fixed, count = stations.n_fixed, stations.size - stations.n_fixed
        mine = ground.station >= fixed
        node = ground.station[mine] - fixed
        order = np.lexsort((-ground.elevation_deg[mine], node))
        nodes, first = np.unique(node[order], return_index=True)
        best = np.full(count, -1, dtype=np.int32)
        best[nodes] = ground.satellite[mine][order][first]
        flags = np.zeros(count, dtype=bool)
        last, self._last_best = self._last_best, (offset, best)
        step = self.scenario.time.step_s
        if last is None or not 0.0 < offset - last[0] <= 2.0 * step + 1e-9:
            return flags
        moving = stations.terminals.moving if stations.terminals is not None else False
        changed = np.flatnonzero((best != last[1]) & (best >= 0) & (last[1] >= 0) & moving)
        if len(changed) == 0:
            return flags
        rows = (changed + fixed).astype(np.intp)
        origin, up = stations.frames_at(rows, np.full(len(rows), last[0]))

        def sin_elevation(sats: NDArray[np.int32]) -> NDArray[np.float64]:
            rel = pos[sats] - origin
            out = np.einsum("ij,ij->i", rel, up) / np.linalg.norm(rel, axis=1)
            return np.asarray(out, dtype=np.float64)

        kept, new = sin_elevation(last[1][changed]), sin_elevation(best[changed])
        sin_mask = np.sin(np.radians(stations.mask_deg[rows]))
        flags[changed] = (kept >= sin_mask) & (kept >= new)
        return flags

    def ephemeris(
        self,
        satellites: Sequence[int],
        start_s: float = 0.0,
        end_s: float | None = None,
        step_s: float = _EPHEMERIS_STEP_S,
    ) -> list[Ephemeris]:
        """Each satellite's sampled track and sunlight transitions over [start, end].

        Transitions are found on the sampling grid and refined by bisection to well under
        a millisecond, so a node's power model sees eclipse entry and exit when they
        happen, not at the next sample.
        """
        end = self.scenario.time.duration_s if end_s is None else end_s
        count = int(np.ceil((end - start_s) / step_s)) + 1
        grid = np.asarray(start_s + np.arange(count) * step_s, dtype=np.float64)
        sats = np.asarray(satellites, dtype=np.intp)
        if len(sats) == 0:
            return []
        pairs_sat = np.tile(sats, count)
        pairs_t = np.repeat(grid, len(sats))
        t = times_at(self.start, pairs_t)
        pos = self.propagator.itrs_km_pairs(pairs_sat, t).reshape(count, len(sats), 3)
        lit = sunlit(pos, sun_itrs_km(times_at(self.start, grid)))  # (K, C)
        change_k, change_c = np.nonzero(lit[1:] != lit[:-1])
        lo, hi = grid[change_k].copy(), grid[change_k + 1].copy()
        first = lit[change_k, change_c]
        for _ in range(_BISECTION_ROUNDS):
            mid = 0.5 * (lo + hi)
            tm = times_at(self.start, mid)
            p = self.propagator.itrs_km_pairs(sats[change_c], tm)
            same = sunlit(p[:, None, :], sun_itrs_km(tm))[:, 0] == first
            lo = np.where(same, mid, lo)
            hi = np.where(same, hi, mid)
        flips = 0.5 * (lo + hi)
        out = []
        for c, sat in enumerate(sats.tolist()):
            mine = np.sort(flips[change_c == c])
            out.append(
                Ephemeris(
                    satellite_id=self.catalog.ids[sat],
                    start_s=float(start_s),
                    step_s=float(step_s),
                    itrs_km=np.ascontiguousarray(pos[:, c, :]),
                    sunlit_at_start=bool(lit[0, c]),
                    transitions_s=tuple(float(x) for x in mine),
                )
            )
        return out

    def satellite_routes(self, tick: Tick, sources: NDArray[np.intp] | None = None) -> RouteTable:
        """Shortest paths between satellites (by default from every compute satellite)."""
        src = self.catalog.compute_indices if sources is None else sources
        graph = self.graph.of_tick(tick.isl, tick.ground)
        return self.graph.routes_from(graph, np.asarray(src), self.scenario.links.route_horizon_ms)
