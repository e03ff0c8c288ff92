"""Shortest paths over the link graph of one instant (scipy.sparse.csgraph).

Nodes are the N satellites followed by the M ground stations. Ground links are directed
station -> satellite only, so a path never passes *through* a ground station: stations
originate and terminate traffic, satellites relay. Links are symmetric, so the path
from a satellite down to a station is the reverse of the path up.

The inter-satellite part of the graph is laid out once: for a fixed topology such as
``plus-grid`` the sparse structure never changes and a tick only writes link delays into
it (unusable links get an infinite delay). Only the station rows are rebuilt per tick.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from orbitmesh.orchestrator.isl import IslLinks
from orbitmesh.orchestrator.visibility import GroundLinks

__all__ = ["LinkGraph", "RouteTable", "StaticIslLayout"]

NO_PREDECESSOR = -9999  # scipy's marker for "no predecessor"


class StaticIslLayout:
    """CSR layout of a fixed set of candidate inter-satellite links (both directions)."""

    def __init__(self, n_sats: int, pairs: NDArray[np.int32]) -> None:
        self.n_sats = n_sats
        self.pairs = pairs
        rows = np.concatenate([pairs[:, 0], pairs[:, 1]]).astype(np.int64)
        cols = np.concatenate([pairs[:, 1], pairs[:, 0]]).astype(np.int64)
        order = np.lexsort((cols, rows))
        self.indices = cols[order].astype(np.int32)
        self.indptr = np.searchsorted(rows[order], np.arange(n_sats + 1)).astype(np.int32)
        # slot[k] = position in the CSR data of directed entry k (k < E: a->b, else b->a).
        self.slot = np.empty(len(order), dtype=np.int64)
        self.slot[order] = np.arange(len(order))
        self.data = np.full(len(order), np.inf)

    def fill(self, candidate_delay_ms: NDArray[np.float64]) -> NDArray[np.float64]:
        """Write per-candidate delays (inf = unusable) into the CSR data array."""
        self.data[self.slot] = np.concatenate([candidate_delay_ms, candidate_delay_ms])
        return self.data


@dataclass(frozen=True)
class RouteTable:
    """Shortest paths from a set of source nodes, with everything needed to read routes.

    ``delay_ms[i, v]`` is the path delay from ``sources[i]`` to node ``v`` (inf when
    unreachable); ``predecessors`` is scipy's predecessor matrix over the same nodes.
    """

    sources: NDArray[np.int32]
    delay_ms: NDArray[np.float64]
    predecessors: NDArray[np.int32]
    n_sats: int
    gsl_bandwidth_mbps: float
    isl_bandwidth_mbps: float
    #: Routes longer than this were not searched: inf means "beyond the horizon" too.
    horizon_ms: float | None = None

    def path(self, row: int, target: int) -> list[int]:
        """Node indices from the source to ``target`` inclusive; [] when unreachable."""
        source = int(self.sources[row])
        if target == source:
            return [source]
        if not np.isfinite(self.delay_ms[row, target]):
            return []
        pred = self.predecessors[row]
        out = [target]
        node = target
        while node != source:
            node = int(pred[node])
            if node == NO_PREDECESSOR:  # cannot happen for a finite delay; keep honest
                return []
            out.append(node)
        out.reverse()
        return out

    def bottleneck_mbps(self, path: list[int]) -> float:
        """Smallest link rate along a path (inf for an empty or one-node path)."""
        rate = np.inf
        for u, v in itertools.pairwise(path):
            is_ground = u >= self.n_sats or v >= self.n_sats
            rate = min(rate, self.gsl_bandwidth_mbps if is_ground else self.isl_bandwidth_mbps)
        return float(rate)

    def hop_counts(self, row: int, targets: NDArray[np.intp]) -> NDArray[np.int32]:
        """Number of links on each route (-1 unreachable), vectorised by pointer jumping."""
        pred = self.predecessors[row]
        source = int(self.sources[row])
        node = targets.astype(np.int64).copy()
        hops = np.where(np.isfinite(self.delay_ms[row, targets]), 0, -1).astype(np.int32)
        active = (hops == 0) & (node != source)
        while active.any():
            hops[active] += 1
            node[active] = pred[node[active]]
            active &= node != source
        return hops


class LinkGraph:
    """Builds the per-tick sparse graph and runs the shortest-path searches."""

    def __init__(
        self,
        n_sats: int,
        n_stations: int,
        *,
        gsl_bandwidth_mbps: float,
        isl_bandwidth_mbps: float,
        static_pairs: NDArray[np.int32] | None = None,
    ) -> None:
        self.n_sats = n_sats
        self.n_stations = n_stations
        self.n_nodes = n_sats + n_stations
        self.gsl_bandwidth_mbps = gsl_bandwidth_mbps
        self.isl_bandwidth_mbps = isl_bandwidth_mbps
        self.layout = StaticIslLayout(n_sats, static_pairs) if static_pairs is not None else None

    def _isl_part(
        self, isl: IslLinks, candidate_delay_ms: NDArray[np.float64] | None
    ) -> tuple[NDArray[np.float64], NDArray[np.int32], NDArray[np.int32]]:
        if self.layout is not None and candidate_delay_ms is not None:
            return self.layout.fill(candidate_delay_ms), self.layout.indices, self.layout.indptr
        rows = np.concatenate([isl.a, isl.b])
        cols = np.concatenate([isl.b, isl.a])
        delay = np.concatenate([isl.delay_ms, isl.delay_ms])
        order = np.lexsort((cols, rows))
        indptr = np.searchsorted(rows[order], np.arange(self.n_sats + 1)).astype(np.int32)
        return delay[order], cols[order].astype(np.int32), indptr

    def matrix(
        self,
        isl: IslLinks,
        ground: GroundLinks,
        candidate_delay_ms: NDArray[np.float64] | None = None,
    ) -> csr_matrix:
        """The directed graph of one instant, delays in milliseconds.

        ``candidate_delay_ms`` (one value per static candidate pair, inf if unusable)
        lets a static layout skip rebuilding the inter-satellite structure.
        """
        data, indices, indptr = self._isl_part(isl, candidate_delay_ms)
        # Station rows: GroundLinks are sorted by station, so each row is contiguous.
        counts = np.bincount(ground.station, minlength=self.n_stations)
        station_ptr = indptr[-1] + np.concatenate([[0], np.cumsum(counts)])
        all_data = np.concatenate([data, ground.delay_ms])
        all_indices = np.concatenate([indices, ground.satellite.astype(np.int32)])
        all_ptr = np.concatenate([indptr, station_ptr[1:].astype(np.int32)])
        return csr_matrix((all_data, all_indices, all_ptr), shape=(self.n_nodes, self.n_nodes))

    def routes_from(
        self,
        graph: csr_matrix,
        sources: NDArray[np.integer[Any]],
        horizon_ms: float | None = None,
    ) -> RouteTable:
        """Shortest paths from each source node to every node (within ``horizon_ms``)."""
        sources32 = np.asarray(sources, dtype=np.int32)
        if len(sources32) == 0:
            empty = np.empty((0, self.n_nodes))
            return RouteTable(
                sources32,
                empty,
                empty.astype(np.int32),
                self.n_sats,
                self.gsl_bandwidth_mbps,
                self.isl_bandwidth_mbps,
            )
        delay, pred = dijkstra(
            graph,
            directed=True,
            indices=sources32,
            return_predecessors=True,
            limit=np.inf if horizon_ms is None else horizon_ms,
        )
        return RouteTable(
            sources=sources32,
            delay_ms=np.atleast_2d(delay),
            predecessors=np.atleast_2d(pred).astype(np.int32, copy=False),
            n_sats=self.n_sats,
            gsl_bandwidth_mbps=self.gsl_bandwidth_mbps,
            isl_bandwidth_mbps=self.isl_bandwidth_mbps,
            horizon_ms=horizon_ms,
        )
