"""Shortest paths over the link graph of one instant (links/shortest.py's searches).

Nodes are the N satellites; a ground station is a search's source outside the graph,
seeded with the satellites it sees at their ground-link delays, so a path never passes
*through* a station: stations originate and terminate traffic, satellites relay. Links
are symmetric, so the path from a satellite down to a station is the reverse of the
path up.

The inter-satellite graph's structure is laid out once when the topology is fixed (the
+grid): a tick only supplies one delay per candidate link (inf where unusable).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from orbitmesh.links.linkstate import LinkRates
from orbitmesh.links.shortest import NO_PREDECESSOR, SEEDED, LinkCsr, Method, search_many
from orbitmesh.orchestrator.isl import IslLinks
from orbitmesh.orchestrator.visibility import GroundLinks

__all__ = ["LinkGraph", "RouteTable", "TickGraph"]


@dataclass(frozen=True)
class TickGraph:
    """The link graph of one instant: laser-link structure and delays, ground links."""

    csr: LinkCsr
    entry_ms: NDArray[np.float64]  # per CSR entry (inf: link down)
    ground: GroundLinks


@dataclass(frozen=True)
class RouteTable:
    """Shortest paths from a set of sources, with everything needed to read routes.

    Sources are node numbers: a satellite's catalog index, or ``n_sats + j`` for ground
    station ``j``. ``delay_ms[i, v]`` is the path delay from ``sources[i]`` to satellite
    ``v`` (inf when unreachable); ``predecessors[i, v]`` the satellite before ``v`` on
    that path (``SEEDED`` for the first satellite of the path).
    """

    sources: NDArray[np.int32]
    delay_ms: NDArray[np.float64]
    predecessors: NDArray[np.int32]
    n_sats: int
    rates: LinkRates
    #: Routes longer than this were not searched: inf means "beyond the horizon" too.
    horizon_ms: float | None = None

    def path(self, row: int, target: int) -> list[int]:
        """Node numbers from the source to satellite ``target`` inclusive; [] when
        unreachable."""
        source = int(self.sources[row])
        if target == source:
            return [source]
        if not np.isfinite(self.delay_ms[row, target]):
            return []
        pred = self.predecessors[row]
        out = [target]
        node = target
        while (before := int(pred[node])) != SEEDED:
            if before == NO_PREDECESSOR:  # cannot happen for a finite delay; keep honest
                return []
            out.append(before)
            node = before
        if source >= self.n_sats:  # a station: the ground link before the first satellite
            out.append(source)
        out.reverse()
        return out

    def bottleneck_mbps(self, path: list[int]) -> float:
        """Smallest link rate along a path (inf for an empty or one-node path)."""
        rate = np.inf
        for u, v in itertools.pairwise(path):
            if u >= self.n_sats or v >= self.n_sats:
                rate = min(rate, self.rates.gsl(max(u, v) - self.n_sats))
            else:
                rate = min(rate, self.rates.isl(u, v))
        return float(rate)

    def hop_counts(self, row: int, targets: NDArray[np.intp]) -> NDArray[np.int32]:
        """Number of links on each route (-1 unreachable), vectorised by pointer jumping."""
        pred = self.predecessors[row]
        node = targets.astype(np.int64).copy()
        reached = np.isfinite(self.delay_ms[row, targets])
        # Satellites on the path: one per jump until the seeded one.
        on_path = np.where(reached, 1, 0).astype(np.int32)
        active = reached & (pred[node] != SEEDED)
        while active.any():
            on_path[active] += 1
            node[active] = pred[node[active]]
            active &= pred[node] != SEEDED
        from_station = int(self.sources[row]) >= self.n_sats
        hops = on_path if from_station else on_path - 1
        return np.where(reached, hops, -1).astype(np.int32)


class LinkGraph:
    """Builds the per-tick link graph and runs the shortest-path searches."""

    def __init__(
        self,
        n_sats: int,
        n_stations: int,
        *,
        rates: LinkRates,
        static_pairs: NDArray[np.int32] | None = None,
        method: Method | None = None,
        threads: int | None = None,
    ) -> None:
        self.n_sats = n_sats
        self.n_stations = n_stations
        self.rates = rates
        self.static = (
            LinkCsr.of_links(n_sats, static_pairs[:, 0], static_pairs[:, 1])
            if static_pairs is not None
            else None
        )
        #: The searches' queue (None: buckets where they fit) and threads (None: every
        #: core), for tests and benchmarks.
        self.method = method
        self.threads = threads

    def of_tick(
        self,
        isl: IslLinks,
        ground: GroundLinks,
        candidate_delay_ms: NDArray[np.float64] | None = None,
    ) -> TickGraph:
        """The graph of one instant, delays in milliseconds.

        ``candidate_delay_ms`` (one value per static candidate pair, inf if unusable)
        lets a static layout skip rebuilding the inter-satellite structure.
        """
        if self.static is not None and candidate_delay_ms is not None:
            return TickGraph(self.static, self.static.entry_delays(candidate_delay_ms), ground)
        csr = LinkCsr.of_links(self.n_sats, isl.a, isl.b)
        return TickGraph(csr, csr.entry_delays(isl.delay_ms), ground)

    def _seeds(
        self, graph: TickGraph, sources: NDArray[np.int32]
    ) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
        """Each source's starting satellites and delays (a station: what it sees)."""
        g = graph.ground
        first = np.searchsorted(g.station, np.arange(self.n_stations + 1)).astype(np.int64)
        station = sources >= self.n_sats
        j = np.where(station, sources - self.n_sats, 0)
        lo = np.where(station, first[j], 0)
        count = np.where(station, first[j + 1] - lo, 1)
        start = np.concatenate([[0], np.cumsum(count)]).astype(np.int64)
        # Position of every seed within its source's run, then what it points at.
        within = np.arange(start[-1]) - np.repeat(start[:-1], count)
        from_station = np.repeat(station, count)
        ground_k = np.repeat(lo, count) + within
        ground_k = np.where(from_station, ground_k, 0)
        nodes = np.where(
            from_station,
            g.satellite[ground_k] if len(g) else 0,
            np.repeat(sources, count),
        ).astype(np.int32)
        delays = np.where(from_station, g.delay_ms[ground_k] if len(g) else 0.0, 0.0)
        return start, nodes, delays

    def routes_from(
        self,
        graph: TickGraph,
        sources: NDArray[np.integer[Any]],
        horizon_ms: float | None = None,
    ) -> RouteTable:
        """Shortest paths from each source node to every satellite (within
        ``horizon_ms``)."""
        sources32 = np.asarray(sources, dtype=np.int32).reshape(-1)
        nodes_total = self.n_sats + self.n_stations
        if len(sources32) and (sources32.min() < 0 or sources32.max() >= nodes_total):
            raise ValueError(f"sources must lie in 0..{nodes_total - 1}")
        start, nodes, delays = self._seeds(graph, sources32)
        dist, pred = search_many(
            graph.csr,
            graph.entry_ms,
            start,
            nodes,
            delays,
            limit_ms=np.inf if horizon_ms is None else horizon_ms,
            method=self.method,
            threads=self.threads,
        )
        return RouteTable(
            sources=sources32,
            delay_ms=dist,
            predecessors=pred,
            n_sats=self.n_sats,
            rates=self.rates,
            horizon_ms=horizon_ms,
        )
