"""Routes computed where and when they are needed, from a tick's link graph (pure).

A gateway needs the routes from its station, and a satellite forwarding a pipeline
stage the routes from itself, only for the ticks in which it has traffic. Each is one
exact Dijkstra search (:mod:`orbitmesh.links.shortest`) over that tick's graph, about
0.1 ms for Starlink shell 1 (1,584 satellites), done on first use and kept while the
tick is recent.

Nodes are the satellites in catalog order; a station's search starts from the
satellites it sees at their ground-link delays (ground links go up only, so a path
never passes through a station). Delays are one-way milliseconds.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping

import numpy as np
from numpy.typing import NDArray

from orbitmesh.links.linkstate import Route, TickLinks, Topology
from orbitmesh.links.shortest import (
    NO_PREDECESSOR,
    SEEDED,
    EntryDelays,
    LinkCsr,
    search_many,
)

__all__ = ["RouteFinder", "RouteSet"]

#: Ticks whose graphs and searches are kept: the current one, the next (a reply leaving
#: after a tick boundary) and a little slack for late lookups.
_KEEP_TICKS = 4


class _TickGraph:
    """One tick's laser-link graph, built once for every search of the tick.

    ``previous``: the graph of an earlier tick; when this tick has the same links (a
    +grid keeps them unless a fault cuts one or one leaves sight), its structure is
    shared, so a tick costs one array of delays (32 MB at a million satellites) rather
    than a new structure (56 MB more and 80 ms).
    """

    def __init__(
        self, topology: Topology, tick: TickLinks, previous: _TickGraph | None = None
    ) -> None:
        self.n = topology.n_satellites
        self.tick = tick
        same = (
            previous is not None
            and np.array_equal(previous.tick.isl_a, tick.isl_a)
            and np.array_equal(previous.tick.isl_b, tick.isl_b)
        )
        self.csr: LinkCsr = (
            previous.csr
            if same and previous is not None
            else LinkCsr.of_links(self.n, tick.isl_a, tick.isl_b)
        )
        #: Checked once here for every search of the tick.
        self.entry_ms = EntryDelays.of(self.csr.entry_delays(tick.isl_delay_ms))

    def isl_delay_ms(self, a: int, b: int) -> float:
        return float(self.tick.isl_delay_ms[self.csr.link_between(a, b)])

    def search(
        self, seed_node: NDArray[np.int32], seed_ms: NDArray[np.float64], limit_ms: float
    ) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
        """One search (on this thread: a data path answers many small questions)."""
        start = np.array([0, len(seed_node)], dtype=np.int64)
        dist, pred = search_many(
            self.csr, self.entry_ms, start, seed_node, seed_ms, limit_ms=limit_ms, threads=1
        )
        return dist[0], pred[0]


class RouteSet(Mapping[str, Route]):
    """The routes from one source (a station or a satellite) to every compute satellite
    at one tick: a mapping from satellite id to :class:`Route` for those reachable.

    ``delay_ms`` holds the one-way path delay to every compute satellite in the
    topology's compute order (inf where unreachable, and for the source itself), so that
    choosing among thousands of satellites is array arithmetic; a :class:`Route` is
    built only for the satellites asked for.
    """

    def __init__(
        self,
        topology: Topology,
        graph: _TickGraph,
        source: str,
        distance_ms: NDArray[np.float64],
        predecessors: NDArray[np.int32],
        ground: tuple[NDArray[np.int32], NDArray[np.float64]] | None,
        *,
        within_ms: float | None = None,
    ) -> None:
        self.topology = topology
        self.source = source
        #: Searched only up to this one-way delay (None: every route): a satellite beyond
        #: it shows as unreachable here though it may not be.
        self.within_ms = within_ms
        self._graph = graph
        self._pred = predecessors
        #: Ground links of a station source (satellite, delay), for the first hop.
        self._ground = ground
        delay = distance_ms[topology.compute_index].copy()
        own = topology.compute_number.get(source)
        if own is not None:
            delay[own] = np.inf  # a satellite has no route to itself
        self.delay_ms: NDArray[np.float64] = delay
        self._built: dict[str, Route | None] = {}

    @property
    def tick(self) -> int:
        return self._graph.tick.tick

    def reachable(self) -> NDArray[np.bool_]:
        return np.isfinite(self.delay_ms)

    def get(self, satellite_id: str, default: Route | None = None) -> Route | None:  # type: ignore[override]
        if satellite_id in self._built:
            built = self._built[satellite_id]
            return default if built is None else built
        index = self.topology.compute_number.get(satellite_id)
        route = None
        if index is not None and np.isfinite(self.delay_ms[index]):
            route = self._route_to(int(self.topology.compute_index[index]))
        self._built[satellite_id] = route
        return default if route is None else route

    def _route_to(self, target: int) -> Route:
        topo, pred = self.topology, self._pred
        nodes = [target]
        node = target
        while (before := int(pred[node])) != SEEDED:
            if before == NO_PREDECESSOR:  # cannot happen for a finite delay
                raise RuntimeError(f"broken predecessor chain to {topo.satellite_ids[target]}")
            nodes.append(before)
            node = before
        nodes.reverse()  # first satellite (a satellite source: itself) .. target
        hops: list[str] = [self.source]
        delays: list[float] = []
        rates: list[float] = []
        ground_loss = 0.0
        if self._ground is not None:  # station -> first satellite
            sats, ground_ms = self._ground
            k = int(np.flatnonzero(sats == nodes[0])[0])
            hops.append(topo.satellite_ids[nodes[0]])
            delays.append(float(ground_ms[k]))
            station = topo.station_number[self.source]
            rate_factor, ground_loss = self._graph.tick.weather_of(station)
            rates.append(topo.rates.gsl(station) * rate_factor)
        for i in range(1, len(nodes)):
            a, b = nodes[i - 1], nodes[i]
            hops.append(topo.satellite_ids[b])
            delays.append(self._graph.isl_delay_ms(a, b))
            rates.append(topo.rates.isl(a, b))
        # Weather adds loss on the ground link only.
        losses = (ground_loss,) + (0.0,) * (len(delays) - 1) if ground_loss else ()
        return Route(tuple(hops), tuple(delays), tuple(rates), losses)

    def __getitem__(self, satellite_id: str) -> Route:
        route = self.get(satellite_id)
        if route is None:
            raise KeyError(satellite_id)
        return route

    def __contains__(self, satellite_id: object) -> bool:
        index = self.topology.compute_number.get(satellite_id)  # type: ignore[call-overload]
        return index is not None and bool(np.isfinite(self.delay_ms[index]))

    def __iter__(self) -> Iterator[str]:
        ids = self.topology.compute_ids
        return (ids[i] for i in np.flatnonzero(np.isfinite(self.delay_ms)).tolist())

    def __len__(self) -> int:
        return int(np.isfinite(self.delay_ms).sum())


class RouteFinder:
    """Routes and visibility read from received ticks, searched on first use per tick.

    Thread-safe: a host may search ahead in a worker thread (:meth:`prepare`) while its
    event loop reads; a search asked for while another thread runs it waits for that
    one instead of running twice.
    """

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self._graphs: OrderedDict[int, _TickGraph] = OrderedDict()
        #: Finished searches by (tick, source), then by their limit (None: every route).
        self._searches: dict[tuple[int, str], dict[float | None, RouteSet]] = {}
        self._running: dict[tuple[int, str, float | None], threading.Event] = {}
        self._lock = threading.Lock()
        #: Searches run since start (for tests and figures).
        self.searches = 0

    def _graph(self, tick: TickLinks) -> _TickGraph:
        with self._lock:
            graph = self._graphs.get(tick.tick)
            if graph is not None and graph.tick is tick:
                return graph
            latest = next(reversed(self._graphs.values()), None) if self._graphs else None
        # Built outside the lock: at a million satellites a graph takes 30-50 ms, and a
        # request reading the current tick's routes must not wait while a worker builds
        # the next one (that wait held up a gateway's event loop once a tick).
        built = _TickGraph(self.topology, tick, latest)
        with self._lock:
            graph = self._graphs.get(tick.tick)
            if graph is not None and graph.tick is tick:  # another thread was first
                return graph
            graph = self._graphs[tick.tick] = built
            self._searches = {k: v for k, v in self._searches.items() if k[0] != tick.tick}
            while len(self._graphs) > _KEEP_TICKS:
                old = min(self._graphs)  # the earliest tick, whatever order they came in
                del self._graphs[old]
                self._searches = {k: v for k, v in self._searches.items() if k[0] != old}
            return graph

    def _limit(self, within_ms: float | None = None) -> float:
        horizon = self.topology.route_horizon_ms
        limits = [x for x in (horizon, within_ms) if x is not None]
        return min(limits) if limits else np.inf

    def _cached(self, key: tuple[int, str, float | None]) -> RouteSet | None:
        """A finished search for ``key`` (waiting for one that another thread runs), or
        None after marking ``key`` as run by the caller."""
        while True:
            with self._lock:
                found = self._answering(key)
                if found is not None:
                    return found
                running = self._running.get(key)
                if running is None:
                    self._running[key] = threading.Event()
                    return None
            running.wait()

    def _answering(self, key: tuple[int, str, float | None]) -> RouteSet | None:
        """A finished search that answers ``key``: its own, or one that reached farther
        (the routes within a smaller limit are the same). Under the lock."""
        tick, source, within = key
        done = self._searches.get((tick, source))
        if not done:
            return None
        if within in done:
            return done[within]
        if None in done:
            return done[None]
        farther = [w for w in done if w is not None and within is not None and w > within]
        return done[max(farther)] if farther else None

    def finished(
        self, tick: TickLinks, source: str, within_ms: float | None = None
    ) -> RouteSet | None:
        """The routes from ``source`` at ``tick`` if a finished search answers them, else
        None; never searches nor waits (an event loop asks before handing a search to a
        thread)."""
        with self._lock:
            graph = self._graphs.get(tick.tick)
            if graph is None or graph.tick is not tick:
                return None
            return self._answering((tick.tick, source, within_ms))

    def _done(self, key: tuple[int, str, float | None], found: RouteSet | None) -> None:
        with self._lock:
            if found is not None:
                self.searches += 1
                if key[0] in self._graphs:  # not a tick forgotten meanwhile
                    self._searches.setdefault(key[:2], {})[key[2]] = found
            event = self._running.pop(key, None)
        if event is not None:
            event.set()

    def from_station(
        self, tick: TickLinks, station: str, *, within_ms: float | None = None
    ) -> RouteSet:
        """Routes from ``station`` at ``tick``; with ``within_ms`` only those up to that
        one-way delay (a search four times cheaper on Starlink shell 1: see
        :func:`~orbitmesh.links.choice.choose_satellite` for when that is enough)."""
        graph = self._graph(tick)
        key = (tick.tick, station, within_ms)
        found = self._cached(key)
        if found is not None:
            return found
        try:
            number = self.topology.station_number[station]
            span = tick.ground.span(number)
            sats = tick.ground.satellite[span]
            ground_ms = tick.ground.delay_ms[span]
            if len(sats) == 0:
                distance = np.full(graph.n, np.inf)
                pred = np.full(graph.n, NO_PREDECESSOR, dtype=np.int32)
            else:
                distance, pred = graph.search(sats, ground_ms, self._limit(within_ms))
            found = RouteSet(
                self.topology,
                graph,
                station,
                distance,
                pred,
                (sats, ground_ms),
                within_ms=within_ms,
            )
        finally:
            self._done(key, found)
        return found

    def from_satellite(self, tick: TickLinks, satellite_id: str) -> RouteSet:
        graph = self._graph(tick)
        key = (tick.tick, satellite_id, None)
        found = self._cached(key)
        if found is not None:
            return found
        try:
            node = self.topology.satellite_number[satellite_id]
            distance, pred = graph.search(
                np.array([node], dtype=np.int32), np.zeros(1), self._limit()
            )
            found = RouteSet(self.topology, graph, satellite_id, distance, pred, None)
        finally:
            self._done(key, found)
        return found

    def prepare(self, ticks: Iterable[TickLinks], stations: Mapping[str, float | None]) -> None:
        """Search ahead: the routes from each station (up to its one-way delay limit,
        None: every route) at each tick, so that requests meet them finished (for a
        worker thread: searches release the GIL)."""
        for tick in ticks:
            for station, within_ms in stations.items():
                self.from_station(tick, station, within_ms=within_ms)

    def visible_columns(
        self, tick: TickLinks, station: str, limit: int | None = None
    ) -> tuple[list[str], list[float], list[float], list[float], list[float]]:
        """What a station sees at a tick, highest first, as lists: satellite ids,
        elevations (deg), azimuths (deg), ranges (km), one-way delays (ms); with
        ``limit``, only the highest."""
        g = tick.ground
        span = g.span(self.topology.station_number[station])
        if limit is not None and span.stop - span.start > limit:
            span = slice(span.start, span.start + limit)
        ids = self.topology.satellite_ids
        return (
            [ids[s] for s in g.satellite[span].tolist()],
            g.elevation_deg[span].tolist(),
            g.azimuth_deg[span].tolist(),
            g.range_km[span].tolist(),
            g.delay_ms[span].tolist(),
        )

    def in_view(self, tick: TickLinks, station: str) -> int:
        span = tick.ground.span(self.topology.station_number[station])
        return int(span.stop - span.start)
