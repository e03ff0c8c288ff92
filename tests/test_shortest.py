"""The compiled shortest-path searches (links/shortest.py) against networkx.

Both queues (buckets and heap), one thread and several, seeded sources (a station's
view), search limits, zero and widely spread delays, ties, and bad input.
"""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest

from orbitmesh.links.shortest import NO_PREDECESSOR, SEEDED, LinkCsr, search_many

SOURCE = "source"  # the virtual node networkx starts from (a station)


def _random_graph(
    rng: np.random.Generator, n: int, degree: float, low_ms: float, high_ms: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pairs = {
        tuple(sorted(p))
        for p in rng.integers(0, n, size=(int(degree * n), 2)).tolist()
        if p[0] != p[1]
    }
    a = np.array([p[0] for p in pairs], dtype=np.int32)
    b = np.array([p[1] for p in pairs], dtype=np.int32)
    delay = rng.uniform(low_ms, high_ms, len(a))
    delay[rng.random(len(a)) < 0.1] = np.inf  # some links down
    return a, b, delay


def _reference(
    n: int, a: np.ndarray, b: np.ndarray, delay: np.ndarray, seeds: list[tuple[int, float]]
) -> tuple[nx.DiGraph, dict[object, float]]:
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for u, v, d in zip(a.tolist(), b.tolist(), delay.tolist(), strict=True):
        if math.isfinite(d):
            g.add_edge(u, v, weight=d)
            g.add_edge(v, u, weight=d)
    for node, d in seeds:
        if not g.has_edge(SOURCE, node) or g[SOURCE][node]["weight"] > d:
            g.add_edge(SOURCE, node, weight=d)
    ref = nx.single_source_dijkstra_path_length(g, SOURCE) if seeds else {}
    return g, ref


def _check_source(
    g: nx.DiGraph,
    ref: dict[object, float],
    dist: np.ndarray,
    pred: np.ndarray,
    seeds: list[tuple[int, float]],
    limit_ms: float = math.inf,
) -> None:
    seed_ms: dict[int, float] = {}
    for node, d in seeds:
        seed_ms[node] = min(d, seed_ms.get(node, math.inf))
    for v in range(len(dist)):
        want = ref.get(v, math.inf)
        if want > limit_ms:
            want = math.inf
        if math.isinf(want):
            assert math.isinf(dist[v]) and pred[v] == NO_PREDECESSOR, v
            continue
        assert dist[v] == pytest.approx(want, rel=1e-12, abs=1e-12), v
        # The path read back from the predecessors has exactly that delay.
        path = [v]
        while pred[path[-1]] != SEEDED:
            path.append(int(pred[path[-1]]))
            assert len(path) <= len(dist)
        path.reverse()
        total = seed_ms[path[0]] + sum(g[u][w]["weight"] for u, w in itertools.pairwise(path))
        assert total == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("method", ["buckets", "heap"])
@pytest.mark.parametrize("threads", [1, 3])
def test_searches_equal_networkx_on_random_graphs(method: str, threads: int) -> None:
    rng = np.random.default_rng(12)
    for _ in range(15):
        n = int(rng.integers(2, 60))
        a, b, delay = _random_graph(rng, n, 2.5, 0.3, 20.0)
        csr = LinkCsr.of_links(n, a, b)
        sources: list[list[tuple[int, float]]] = []
        for _ in range(int(rng.integers(1, 6))):
            if rng.random() < 0.3:  # a satellite: itself at 0
                sources.append([(int(rng.integers(0, n)), 0.0)])
            else:  # a station: a few satellites in view at ground delays
                k = int(rng.integers(0, 5))
                sources.append(
                    [(int(rng.integers(0, n)), float(rng.uniform(1.5, 9.0))) for _ in range(k)]
                )
        start = np.cumsum([0] + [len(s) for s in sources]).astype(np.int64)
        nodes = np.array([x for s in sources for x, _ in s], dtype=np.int32)
        ms = np.array([d for s in sources for _, d in s])
        dist, pred = search_many(
            csr,
            csr.entry_delays(delay),
            start,
            nodes,
            ms,
            threads=threads,
            method=method,  # type: ignore[arg-type]
        )
        for row, seeds in enumerate(sources):
            g, ref = _reference(n, a, b, delay, seeds)
            _check_source(g, ref, dist[row], pred[row], seeds)


@pytest.mark.parametrize("method", ["buckets", "heap"])
def test_a_limit_keeps_exact_delays_inside_and_nothing_beyond(method: str) -> None:
    rng = np.random.default_rng(3)
    n = 200
    a, b, delay = _random_graph(rng, n, 3.0, 1.0, 10.0)
    csr = LinkCsr.of_links(n, a, b)
    seeds = [(0, 2.0), (17, 4.5)]
    start = np.array([0, 2], dtype=np.int64)
    nodes = np.array([0, 17], dtype=np.int32)
    ms = np.array([2.0, 4.5])
    dist, pred = search_many(
        csr,
        csr.entry_delays(delay),
        start,
        nodes,
        ms,
        limit_ms=25.0,
        method=method,  # type: ignore[arg-type]
    )
    g, ref = _reference(n, a, b, delay, seeds)
    _check_source(g, ref, dist[0], pred[0], seeds, limit_ms=25.0)
    assert 0 < np.isfinite(dist[0]).sum() < sum(math.isfinite(x) for x in ref.values())


def test_zero_and_widely_spread_delays_fall_back_to_the_heap_and_stay_exact() -> None:
    rng = np.random.default_rng(5)
    n = 80
    a, b, delay = _random_graph(rng, n, 3.0, 0.5, 5.0)
    csr = LinkCsr.of_links(n, a, b)
    start = np.array([0, 1], dtype=np.int64)
    nodes = np.array([3], dtype=np.int32)
    ms = np.array([0.0])
    for case in ("zero", "spread"):
        d = delay.copy()
        if case == "zero":
            d[np.flatnonzero(np.isfinite(d))[0]] = 0.0
        else:  # 1e-9 ms next to 5 ms: far more buckets than allowed
            d[np.flatnonzero(np.isfinite(d))[:3]] = 1e-9
        with pytest.raises(ValueError, match="bucket"):
            search_many(csr, csr.entry_delays(d), start, nodes, ms, method="buckets")
        dist, pred = search_many(csr, csr.entry_delays(d), start, nodes, ms)
        g, ref = _reference(n, a, b, d, [(3, 0.0)])
        _check_source(g, ref, dist[0], pred[0], [(3, 0.0)])


def test_ties_on_a_uniform_grid_give_shortest_paths() -> None:
    side = 12
    grid = np.arange(side * side).reshape(side, side)
    a = np.concatenate([grid[:, :-1].ravel(), grid[:-1, :].ravel()])
    b = np.concatenate([grid[:, 1:].ravel(), grid[1:, :].ravel()])
    delay = np.full(len(a), 1.25)
    csr = LinkCsr.of_links(side * side, a, b)
    for method in ("buckets", "heap"):
        dist, pred = search_many(
            csr,
            csr.entry_delays(delay),
            np.array([0, 1], dtype=np.int64),
            np.array([0], dtype=np.int32),
            np.array([0.0]),
            method=method,
        )
        rows, cols = np.divmod(np.arange(side * side), side)
        np.testing.assert_array_equal(dist[0], 1.25 * (rows + cols))  # Manhattan, exactly
        g, ref = _reference(side * side, a, b, delay, [(0, 0.0)])
        _check_source(g, ref, dist[0], pred[0], [(0, 0.0)])


def test_threads_do_not_change_the_answer() -> None:
    rng = np.random.default_rng(9)
    n = 500
    a, b, delay = _random_graph(rng, n, 2.0, 0.2, 8.0)
    csr = LinkCsr.of_links(n, a, b)
    start = np.arange(0, 41, dtype=np.int64)
    nodes = rng.integers(0, n, 40).astype(np.int32)
    ms = rng.uniform(0, 3, 40)
    one = search_many(csr, csr.entry_delays(delay), start, nodes, ms, threads=1)
    many = search_many(csr, csr.entry_delays(delay), start, nodes, ms, threads=4)
    np.testing.assert_array_equal(one[0], many[0])
    np.testing.assert_array_equal(one[1], many[1])


def test_structure_lookups_and_bad_input() -> None:
    csr = LinkCsr.of_links(4, np.array([0, 1, 2]), np.array([1, 2, 3]))
    assert csr.n_links == 3
    assert [csr.link_between(0, 1), csr.link_between(2, 1), csr.link_between(3, 2)] == [0, 1, 2]
    assert csr.link_between(0, 3) == -1
    with pytest.raises(ValueError, match="link ends"):
        LinkCsr.of_links(3, np.array([0]), np.array([3]))
    with pytest.raises(ValueError, match="one delay per link"):
        csr.entry_delays(np.ones(2))
    start = np.array([0, 1], dtype=np.int64)
    with pytest.raises(ValueError, match="negative"):
        search_many(
            csr, csr.entry_delays(np.array([1.0, -1.0, 1.0])), start, np.array([0]), np.zeros(1)
        )
    with pytest.raises(ValueError, match="CSR entry"):
        search_many(csr, np.ones(3), start, np.array([0]), np.zeros(1))
    # No sources, no links: empty answers, not errors.
    dist, pred = search_many(
        LinkCsr.of_links(2, np.array([], dtype=int), np.array([], dtype=int)),
        np.empty(0),
        np.array([0, 1], dtype=np.int64),
        np.array([1], dtype=np.int32),
        np.array([0.5]),
    )
    assert dist.tolist() == [[math.inf, 0.5]] and pred.tolist() == [[NO_PREDECESSOR, SEEDED]]


def test_numba_loads_on_the_first_search_not_on_import() -> None:
    """Processes that import the data path but never search (most satellite hosts
    until they forward) do not pay for numba and the compiled code (about 50 MiB)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import orbitmesh.links.routes, orbitmesh.node.host, orbitmesh.ground.host\n"
        "assert 'numba' not in sys.modules, 'imported early'\n"
        "from orbitmesh.links.shortest import warm_up\n"
        "warm_up()\n"
        "assert 'numba' in sys.modules and 'orbitmesh.links.shortest_kernels' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
