"""The compiled searches behind :mod:`orbitmesh.links.shortest` (numba, no GIL).

Kept apart so that importing the front module costs nothing: numba and the compiled
code (about 50 MiB a process) load on the first search, or at a host's start where
searches are expected (:func:`orbitmesh.links.shortest.warm_up`).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from orbitmesh.links.shortest import NO_PREDECESSOR, SEEDED

__all__ = ["csr_of_links", "search_range"]


@njit(nogil=True, cache=True)
def csr_of_links(
    n: int, a: NDArray[np.int32], b: NDArray[np.int32]
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.int64]]:
    """(indptr, indices, edge_link) of undirected links a[i]-b[i]: a counting sort by
    row, links in order within a row (the a-ends first, then the b-ends). Two passes
    over the links, against 0.3 s for numpy's stable argsort of 4 million entries."""
    links = a.shape[0]
    indptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(links):
        indptr[a[i] + 1] += 1
        indptr[b[i] + 1] += 1
    for v in range(n):
        indptr[v + 1] += indptr[v]
    fill = indptr[:-1].copy()
    indices = np.empty(2 * links, dtype=np.int32)
    edge_link = np.empty(2 * links, dtype=np.int64)
    for i in range(links):
        k = fill[a[i]]
        indices[k] = b[i]
        edge_link[k] = i
        fill[a[i]] = k + 1
    for i in range(links):
        k = fill[b[i]]
        indices[k] = a[i]
        edge_link[k] = i
        fill[b[i]] = k + 1
    return indptr, indices, edge_link


@njit(nogil=True, cache=True)
def _buckets(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    entry_ms: NDArray[np.float64],
    seed_node: NDArray[np.int32],
    seed_ms: NDArray[np.float64],
    limit_ms: float,
    per_ms: float,
    dist: NDArray[np.float64],
    pred: NDArray[np.int32],
    head: NDArray[np.int32],
    queued_node: NDArray[np.int32],
    queued_next: NDArray[np.int32],
    settled: NDArray[np.bool_],
) -> None:
    """One search from seeds into ``dist``/``pred`` with a circular bucket queue.

    Each bucket is a singly linked list of queue entries (``queued_node``,
    ``queued_next``; ``head`` per bucket). A node whose delay improves is queued again
    rather than moved: its newer entry sits in the same or an earlier bucket, so the
    older one is met after the node is settled and skipped. Everything is in one
    function: numba does not inline calls between compiled functions that take arrays,
    and such calls cost more than the queue operations themselves.
    """
    # A power of two: the bucket of a delay is a multiply and a mask, no division.
    mask = head.shape[0] - 1
    for v in range(dist.shape[0]):
        dist[v] = np.inf
        pred[v] = NO_PREDECESSOR
        settled[v] = False
    for i in range(head.shape[0]):
        head[i] = -1
    count = 0
    current = np.int64(np.iinfo(np.int64).max)
    for s in range(seed_node.shape[0]):
        v = seed_node[s]
        d = seed_ms[s]
        if d > limit_ms or not d < dist[v]:
            continue
        dist[v] = d
        pred[v] = SEEDED
        b = np.int64(d * per_ms)
        current = min(current, b)
        where = b & mask
        queued_node[count] = v
        queued_next[count] = head[where]
        head[where] = count
        count += 1
    waiting = count
    while waiting > 0:
        where = current & mask
        e = head[where]
        if e < 0:
            current += 1
            continue
        head[where] = queued_next[e]
        waiting -= 1
        u = queued_node[e]
        if settled[u]:
            continue
        settled[u] = True
        du = dist[u]
        for k in range(indptr[u], indptr[u + 1]):
            v = indices[k]
            nd = du + entry_ms[k]
            # A settled node cannot improve: every link is at least a bucket wide.
            if nd < dist[v] and nd <= limit_ms:
                dist[v] = nd
                pred[v] = u
                where = max(np.int64(nd * per_ms), current + 1) & mask
                queued_node[count] = v
                queued_next[count] = head[where]
                head[where] = count
                count += 1
                waiting += 1


@njit(nogil=True, cache=True)
def _heap(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    entry_ms: NDArray[np.float64],
    seed_node: NDArray[np.int32],
    seed_ms: NDArray[np.float64],
    limit_ms: float,
    dist: NDArray[np.float64],
    pred: NDArray[np.int32],
    heap_ms: NDArray[np.float64],
    heap_node: NDArray[np.int32],
    settled: NDArray[np.bool_],
) -> None:
    """One search with a binary heap and lazy deletion (stale entries skipped on pop)."""
    for v in range(dist.shape[0]):
        dist[v] = np.inf
        pred[v] = NO_PREDECESSOR
        settled[v] = False
    size = 0
    for s in range(seed_node.shape[0]):
        v = seed_node[s]
        nd = seed_ms[s]
        if nd > limit_ms or not nd < dist[v]:
            continue
        dist[v] = nd
        pred[v] = SEEDED
        i = size
        size += 1
        while i > 0:
            parent = (i - 1) >> 1
            if heap_ms[parent] <= nd:
                break
            heap_ms[i] = heap_ms[parent]
            heap_node[i] = heap_node[parent]
            i = parent
        heap_ms[i] = nd
        heap_node[i] = v
    while size > 0:
        du = heap_ms[0]
        u = heap_node[0]
        size -= 1
        if size > 0:
            last_ms = heap_ms[size]
            last = heap_node[size]
            i = 0
            while True:
                child = 2 * i + 1
                if child >= size:
                    break
                if child + 1 < size and heap_ms[child + 1] < heap_ms[child]:
                    child += 1
                if heap_ms[child] >= last_ms:
                    break
                heap_ms[i] = heap_ms[child]
                heap_node[i] = heap_node[child]
                i = child
            heap_ms[i] = last_ms
            heap_node[i] = last
        if settled[u]:
            continue
        settled[u] = True
        for k in range(indptr[u], indptr[u + 1]):
            v = indices[k]
            nd = du + entry_ms[k]
            if nd < dist[v] and nd <= limit_ms:
                dist[v] = nd
                pred[v] = u
                i = size
                size += 1
                while i > 0:
                    parent = (i - 1) >> 1
                    if heap_ms[parent] <= nd:
                        break
                    heap_ms[i] = heap_ms[parent]
                    heap_node[i] = heap_node[parent]
                    i = parent
                heap_ms[i] = nd
                heap_node[i] = v


@njit(nogil=True, cache=True)
def search_range(
    indptr: NDArray[np.int64],
    indices: NDArray[np.int32],
    entry_ms: NDArray[np.float64],
    seed_start: NDArray[np.int64],
    seed_node: NDArray[np.int32],
    seed_ms: NDArray[np.float64],
    limit_ms: float,
    per_ms: float,
    n_buckets: int,
    first: int,
    last: int,
    dist: NDArray[np.float64],
    pred: NDArray[np.int32],
) -> None:
    """Sources ``first..last-1``: buckets when ``n_buckets`` > 0, else the heap."""
    n = dist.shape[1]
    seeds = 0
    for s in range(first, last):
        seeds = max(seeds, seed_start[s + 1] - seed_start[s])
    # Every queue entry is a seed or follows a strict improvement along a CSR entry.
    capacity = indices.shape[0] + seeds + 1
    node = np.empty(capacity, dtype=np.int32)
    settled = np.empty(n, dtype=np.bool_)
    if n_buckets > 0:
        head = np.empty(n_buckets, dtype=np.int32)
        after = np.empty(capacity, dtype=np.int32)
        for s in range(first, last):
            lo, hi = seed_start[s], seed_start[s + 1]
            _buckets(
                indptr,
                indices,
                entry_ms,
                seed_node[lo:hi],
                seed_ms[lo:hi],
                limit_ms,
                per_ms,
                dist[s],
                pred[s],
                head,
                node,
                after,
                settled,
            )
        return
    heap_ms = np.empty(capacity, dtype=np.float64)
    for s in range(first, last):
        lo, hi = seed_start[s], seed_start[s + 1]
        _heap(
            indptr,
            indices,
            entry_ms,
            seed_node[lo:hi],
            seed_ms[lo:hi],
            limit_ms,
            dist[s],
            pred[s],
            heap_ms,
            node,
            settled,
        )
