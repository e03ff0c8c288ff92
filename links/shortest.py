"""Exact shortest paths over a link graph: Dijkstra compiled by numba, on every core.

One search per source over a graph in CSR form whose delays are given per *link*: an
undirected link appears twice in the CSR (once from each end) and ``edge_link[k]`` says
which link the k-th entry is, so a tick whose topology is fixed (the +grid) supplies one
delay per link and the CSR structure is built once for the whole run. A link with an
infinite delay is down. Sources are *seeded*: a ground station is not a node of the
graph, its search starts from the satellites it sees at their ground-link delays, so
station rows never have to be spliced into the CSR either.

The queue is a circular array of buckets, each just narrower than the shortest link of
the tick (Dial's algorithm generalised to real weights): a node reached from the bucket
being settled lands at least one bucket later, so every node of the lowest bucket is
final when it is reached, in any order, and the distances are the same float sums a
heap-ordered Dijkstra computes. Queue operations are O(1) instead of a heap's O(log n):
2.5-3x faster than the heap on Starlink shell 1 and on a million satellites
(benchmarks/routing.py). Where links are so short against the longest that the buckets
would not fit (or a link has zero delay) a binary heap takes over.

Searches are compiled without the GIL and :func:`search_many` splits the sources across
threads, so a tick's searches use every core of the machine. Relaxation is ``<`` as in
scipy's ``dijkstra``; on exact ties of float sums an equally short path may be chosen.
benchmarks/routing.py measures the alternatives (scipy, rustworkx, igraph, networkit)
on the same ticks: each needs its own graph built from the arrays every tick, and none
both releases the GIL and searches from seeds.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "NO_PREDECESSOR",
    "SEEDED",
    "EntryDelays",
    "LinkCsr",
    "Method",
    "search_many",
    "search_threads",
    "warm_up",
]

#: Predecessor of an unreached node (scipy's marker, so that both read the same).
NO_PREDECESSOR = -9999
#: Predecessor of a node reached straight from a seed (the source outside the graph).
SEEDED = -1
#: Most buckets a search may use (4 MiB of bucket heads); beyond, the heap.
_MAX_BUCKETS = 1 << 20
#: Bucket width as a fraction of the shortest link: a hair under it, so that rounding
#: can never put a node reached from a bucket back into that bucket.
_WIDTH_MARGIN = 1.0 - 1e-9

Method = Literal["buckets", "heap"]


@dataclass(frozen=True)
class LinkCsr:
    """A link graph's structure: both directions of every link, grouped by row.

    ``indptr``/``indices`` are the CSR of the directed graph over ``n`` nodes and
    ``edge_link[k]`` the undirected link (index into a per-link array) of entry ``k``.
    Build once per topology with :meth:`of_links`.
    """

    n: int
    n_links: int
    indptr: NDArray[np.int64]
    indices: NDArray[np.int32]
    edge_link: NDArray[np.int64]

    @classmethod
    def of_links(cls, n: int, a: NDArray[np.integer], b: NDArray[np.integer]) -> LinkCsr:
        """The structure of undirected links ``a[i]-b[i]`` (link ``i``) over ``n`` nodes."""
        a = np.asarray(a, dtype=np.int64)
        b = np.asarray(b, dtype=np.int64)
        if len(a) != len(b):
            raise ValueError("one far end per link")
        if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n):
            raise ValueError(f"link ends must lie in 0..{n - 1}")
        indptr, indices, edge_link = _kernels().csr_of_links(
            n, a.astype(np.int32), b.astype(np.int32)
        )
        return cls(n, len(a), indptr, indices, edge_link)

    def entry_delays(self, link_ms: NDArray[np.float64]) -> NDArray[np.float64]:
        """Per-link delays laid out per CSR entry (what the searches read)."""
        link_ms = np.asarray(link_ms, dtype=np.float64)
        if len(link_ms) != self.n_links:
            raise ValueError(f"one delay per link: {self.n_links} links, {len(link_ms)} delays")
        return link_ms[self.edge_link]

    def link_between(self, u: int, v: int) -> int:
        """The link joining ``u`` and ``v`` (-1 if none); rows are a few entries long."""
        lo, hi = int(self.indptr[u]), int(self.indptr[u + 1])
        hits = np.flatnonzero(self.indices[lo:hi] == v)
        return int(self.edge_link[lo + hits[0]]) if len(hits) else -1


@cache
def _kernels() -> Any:
    """The compiled searches, imported (and numba with them) on first use."""
    from orbitmesh.links import shortest_kernels

    return shortest_kernels


def warm_up() -> None:
    """Load numba and the compiled searches now (0.2-0.5 s, about 50 MiB), so that a
    process expecting searches does not pay that on its first request."""
    graph = LinkCsr.of_links(2, np.array([0]), np.array([1]))
    search_many(graph, np.ones(2), np.array([0, 1]), np.array([0]), np.zeros(1), threads=1)


@cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="orbitmesh-routes")


def search_threads() -> int:
    """Threads a batch of searches uses: the cores this process may run on."""
    return max(1, len(os.sched_getaffinity(0)))


@dataclass(frozen=True)
class EntryDelays:
    """One tick's delays per CSR entry (:meth:`LinkCsr.entry_delays`) with their shortest
    and longest usable values, checked once per tick rather than once per search (a
    million satellites: 4 million entries, 10 ms a scan)."""

    ms: NDArray[np.float64]
    shortest_ms: float  # inf: no usable link
    longest_ms: float  # 0: no usable link

    @classmethod
    def of(cls, entry_ms: NDArray[np.float64]) -> EntryDelays:
        ms = np.ascontiguousarray(entry_ms, dtype=np.float64)
        usable = ms[np.isfinite(ms)]
        if len(ms) and np.nanmin(ms) < 0:
            raise ValueError("delays must not be negative")
        if len(usable) == 0:
            return cls(ms, np.inf, 0.0)
        return cls(ms, float(usable.min()), float(usable.max()))


def _bucket_plan(delays: EntryDelays, seed_ms: NDArray[np.float64]) -> tuple[float, int]:
    """(buckets per millisecond, bucket count) for these delays; count 0: use the heap."""
    seeds = seed_ms[np.isfinite(seed_ms)]
    spread = float(seeds.max() - seeds.min()) if len(seeds) else 0.0
    if not np.isfinite(delays.shortest_ms):
        width = max(spread, 1.0)
    else:
        if delays.shortest_ms <= 0.0:
            return 1.0, 0
        width = delays.shortest_ms * _WIDTH_MARGIN
    # Everything queued lies within one longest link (or the seeds' spread) of the
    # bucket being settled; two spare buckets for rounding.
    longest = max(delays.longest_ms, spread)
    count = 1 << (int(longest / width) + 1).bit_length()
    return 1.0 / width, (count if count <= _MAX_BUCKETS else 0)


def search_many(
    graph: LinkCsr,
    entry_ms: EntryDelays | NDArray[np.float64],
    seed_start: NDArray[np.int64],
    seed_node: NDArray[np.int32],
    seed_ms: NDArray[np.float64],
    *,
    limit_ms: float = np.inf,
    threads: int | None = None,
    method: Method | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    """Shortest delays (S, n) and predecessors (S, n) from S seeded sources.

    ``entry_ms`` is :meth:`LinkCsr.entry_delays` of the tick (inf: the link is down),
    best as :class:`EntryDelays` when the tick is searched more than once.
    Source ``s`` starts from nodes ``seed_node[seed_start[s]:seed_start[s + 1]]`` at
    delays ``seed_ms[...]`` (a satellite source: its own node at 0; a station: the
    satellites it sees at their ground delays). A node reached straight from a seed has
    predecessor :data:`SEEDED`; an unreached one :data:`NO_PREDECESSOR` and an infinite
    delay. Paths longer than ``limit_ms`` are not searched (their nodes read as
    unreached). ``method`` forces the queue (default: buckets where they fit).
    """
    sources = len(seed_start) - 1
    delays = entry_ms if isinstance(entry_ms, EntryDelays) else EntryDelays.of(entry_ms)
    seed_ms = np.ascontiguousarray(seed_ms, dtype=np.float64)
    if len(delays.ms) != len(graph.indices):
        raise ValueError(f"one delay per CSR entry: {len(graph.indices)}, got {len(delays.ms)}")
    if len(seed_ms) and np.nanmin(seed_ms) < 0:
        raise ValueError("delays must not be negative")
    per_ms, buckets = _bucket_plan(delays, seed_ms)
    if method == "heap":
        buckets = 0
    elif method == "buckets" and buckets == 0:
        raise ValueError("these delays do not fit the bucket queue")
    dist = np.empty((sources, graph.n), dtype=np.float64)
    pred = np.empty((sources, graph.n), dtype=np.int32)
    args = (
        graph.indptr,
        graph.indices,
        delays.ms,
        np.ascontiguousarray(seed_start, dtype=np.int64),
        np.ascontiguousarray(seed_node, dtype=np.int32),
        seed_ms,
        float(limit_ms),
        per_ms,
        buckets,
    )
    search_range: Callable[..., None] = _kernels().search_range
    workers = min(sources, threads if threads is not None else search_threads())
    if workers <= 1:
        search_range(*args, 0, sources, dist, pred)
        return dist, pred
    bounds = np.linspace(0, sources, workers + 1).round().astype(int).tolist()
    jobs = [
        _pool(workers).submit(search_range, *args, lo, hi, dist, pred)
        for lo, hi in itertools.pairwise(bounds)
    ]
    for job in jobs:
        job.result()
    return dist, pred
