"""Shortest routes from every ground station, by candidate engine, on the same ticks.

Each candidate gets the tick's usable laser links and ground links as arrays (what the
geometry engine has) and returns the delay from every station to every satellite; its
time includes whatever graph it has to build from those arrays. Distances are compared
with ours (orbitmesh.links.shortest, kept): a candidate that disagrees is reported, not
timed as a win.

    python benchmarks/routing.py                                   # the issue's three sizes
    python benchmarks/routing.py --satellites 10000 --stations 100 --ticks 5

Candidates: scipy.sparse.csgraph.dijkstra (what orbitmesh used before), ours with a
binary heap and with the bucket queue (one thread and every core), and, when installed
(`pip install -e '.[bench]'`), rustworkx, igraph and networkit. igraph and networkit
are asked for distances only (their predecessors cost a second call); rustworkx's
searches read link delays through a Python callback, its only way to take float weights.
A candidate whose first tick takes longer than --budget-s is not run on more ticks.
Prints readable lines and, last, one JSON line with the figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds a node.py of its own (benchmarks/node.py), and the orchestrator
# imports the node package: keep the folder off the import path, then add it back last.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from orbitmesh.constants import C_KM_PER_S  # noqa: E402
from orbitmesh.links.linkstate import LinkRates  # noqa: E402
from orbitmesh.links.shortest import search_threads  # noqa: E402
from orbitmesh.orchestrator import GeometryEngine  # noqa: E402
from orbitmesh.orchestrator.routing import LinkGraph  # noqa: E402

sys.path.append(str(_HERE.parent))  # for benchmarks.geometry and benchmarks.machine
from benchmarks.geometry import scenario_for  # noqa: E402
from benchmarks.machine import CpuSteal, cpu_probe_ms  # noqa: E402

RUNS: list[tuple[int, int]] = [(1_584, 100), (10_000, 100), (1_000_000, 10)]


@dataclass(frozen=True)
class Case:
    """One tick's links as arrays, and the answer of ours to compare against."""

    n_sats: int
    n_stations: int
    isl_a: NDArray[np.int32]
    isl_b: NDArray[np.int32]
    isl_ms: NDArray[np.float64]
    station: NDArray[np.int32]
    satellite: NDArray[np.int32]
    ground_km: NDArray[np.float64]

    @property
    def ground_ms(self) -> NDArray[np.float64]:
        return self.ground_km / C_KM_PER_S * 1e3

    def directed(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """Both directions of every laser link, then station -> satellite links
        (stations are nodes n_sats + j)."""
        rows = np.concatenate([self.isl_a, self.isl_b, self.station + self.n_sats])
        cols = np.concatenate([self.isl_b, self.isl_a, self.satellite])
        return (
            rows.astype(np.int64),
            cols.astype(np.int64),
            np.concatenate([self.isl_ms, self.isl_ms, self.ground_ms]),
        )

    @property
    def station_nodes(self) -> NDArray[np.int64]:
        return np.arange(self.n_stations, dtype=np.int64) + self.n_sats


Candidate = Callable[[Case, GeometryEngine], NDArray[np.float64]]


def _ours(method: str, threads: int | None) -> Candidate:
    def run(case: Case, engine: GeometryEngine) -> NDArray[np.float64]:
        from orbitmesh.links.shortest import LinkCsr
        from orbitmesh.orchestrator.routing import TickGraph
        from orbitmesh.orchestrator.visibility import GroundLinks

        graph = LinkGraph(
            case.n_sats,
            case.n_stations,
            rates=LinkRates(isl_mbps=1.0, gsl_mbps=1.0),
            method=method,  # type: ignore[arg-type]
            threads=threads,
        )
        # Built from the arrays like the others (the engine itself lays a +grid out once).
        csr = LinkCsr.of_links(case.n_sats, case.isl_a, case.isl_b)
        zeros = np.zeros(len(case.station))
        ground = GroundLinks(case.station, case.satellite, zeros, zeros, case.ground_km)
        tick_graph = TickGraph(csr, csr.entry_delays(case.isl_ms), ground)
        return graph.routes_from(tick_graph, case.station_nodes).delay_ms

    return run


def _scipy(case: Case, engine: GeometryEngine) -> NDArray[np.float64]:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    rows, cols, w = case.directed()
    size = case.n_sats + case.n_stations
    graph = csr_matrix((w, (rows, cols)), shape=(size, size))
    dist = dijkstra(graph, directed=True, indices=case.station_nodes, return_predecessors=True)[0]
    return np.asarray(dist)[:, : case.n_sats]


def _rustworkx(case: Case, engine: GeometryEngine) -> NDArray[np.float64]:
    import rustworkx as rx

    rows, cols, w = case.directed()
    graph = rx.PyDiGraph()
    graph.add_nodes_from(range(case.n_sats + case.n_stations))
    graph.add_edges_from(list(zip(rows.tolist(), cols.tolist(), w.tolist(), strict=True)))
    out = np.full((case.n_stations, case.n_sats), np.inf)
    for j, source in enumerate(case.station_nodes.tolist()):
        lengths = rx.digraph_dijkstra_shortest_path_lengths(graph, source, float)
        for node, d in lengths.items():
            if node < case.n_sats:
                out[j, node] = d
    return out


def _igraph(case: Case, engine: GeometryEngine) -> NDArray[np.float64]:
    import igraph

    rows, cols, w = case.directed()
    graph = igraph.Graph(
        n=case.n_sats + case.n_stations, edges=np.column_stack([rows, cols]), directed=True
    )
    graph.es["weight"] = w
    dist = graph.distances(source=case.station_nodes.tolist(), weights="weight", mode="out")
    return np.asarray(dist, dtype=np.float64)[:, : case.n_sats]


def _networkit(case: Case, engine: GeometryEngine) -> NDArray[np.float64]:
    import networkit as nk

    rows, cols, w = case.directed()
    graph = nk.Graph(case.n_sats + case.n_stations, weighted=True, directed=True)
    graph.addEdges((w, (rows, cols)))
    sources = case.station_nodes.tolist()
    spsp = nk.distance.SPSP(graph, sources)
    spsp.run()
    dist = np.asarray(spsp.getDistances(), dtype=np.float64)[:, : case.n_sats]
    dist[dist >= np.finfo(np.float64).max / 2] = np.inf  # networkit's "unreachable"
    return dist


def candidates() -> dict[str, tuple[Candidate, str | None]]:
    """Name -> (candidate, module it needs when that is not a dependency of ours)."""
    cores = search_threads()
    return {
        "scipy": (_scipy, None),
        "ours-heap-1": (_ours("heap", 1), None),
        f"ours-heap-{cores}": (_ours("heap", None), None),
        "ours-buckets-1": (_ours("buckets", 1), None),
        f"ours-buckets-{cores}": (_ours("buckets", None), None),
        "rustworkx": (_rustworkx, "rustworkx"),
        "igraph": (_igraph, "igraph"),
        "networkit": (_networkit, "networkit"),
    }


def cases(engine: GeometryEngine, ticks: int) -> list[Case]:
    out = []
    for tick in engine.ticks(np.arange(ticks, dtype=np.float64) * 7.0, routes=False):
        g = tick.ground
        out.append(
            Case(
                engine.catalog.size,
                engine.stations.size,
                tick.isl.a.astype(np.int32),
                tick.isl.b.astype(np.int32),
                tick.isl.delay_ms,
                g.station.astype(np.int32),
                g.satellite.astype(np.int32),
                g.range_km,
            )
        )
    return out


def run_one(n_sats: int, n_stations: int, ticks: int, budget_s: float) -> dict[str, Any]:
    engine = GeometryEngine(scenario_for(n_sats, n_stations))
    steal = CpuSteal()
    probe = cpu_probe_ms()
    todo = cases(engine, ticks)
    reference = [_ours("buckets", None)(c, engine) for c in todo]  # also compiles ours
    print(
        f"{n_sats:,} satellites, {n_stations} stations, {len(todo)} ticks "
        f"(cpu probe {probe:.1f} ms):",
        flush=True,
    )
    figures: dict[str, Any] = {}
    for name, (run, module) in candidates().items():
        if module is not None and importlib.util.find_spec(module) is None:
            print(f"  {name:<16} not installed (pip install -e '.[bench]')", flush=True)
            figures[name] = {"installed": False}
            continue
        took_ms: list[float] = []
        worst = 0.0
        mismatched = 0
        for case, ref in zip(todo, reference, strict=True):
            start = time.perf_counter()
            dist = run(case, engine)
            took_ms.append((time.perf_counter() - start) * 1e3)
            same_reach = np.isfinite(dist) == np.isfinite(ref)
            mismatched += int((~same_reach).sum())
            both = np.isfinite(dist) & np.isfinite(ref)
            if both.any():
                worst = max(worst, float(np.max(np.abs(dist[both] - ref[both]))))
            if took_ms[-1] > budget_s * 1e3:
                break
        p50 = float(np.median(took_ms))
        exact = mismatched == 0 and worst <= 1e-9
        verdict = "exact" if exact else f"DIFFERS (max {worst:.3g} ms, {mismatched} reach)"
        print(
            f"  {name:<16} p50 {p50:10.2f} ms per tick over {len(took_ms)} ticks; {verdict}",
            flush=True,
        )
        figures[name] = {
            "installed": True,
            "ms_p50": round(p50, 3),
            "ticks": len(took_ms),
            "max_abs_diff_ms": worst,
            "reachability_mismatches": mismatched,
        }
    return {
        "satellites": n_sats,
        "stations": n_stations,
        "cpu_probe_ms": round(probe, 3),
        "steal_percent": round(steal.percent(), 2),
        "candidates": figures,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--satellites", type=int, help="one size (default: the issue's three)")
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--ticks", type=int, help="ticks per candidate (default 10, 3 at 10^5+)")
    parser.add_argument(
        "--budget-s", type=float, default=20.0, help="stop a candidate after a tick this slow"
    )
    args = parser.parse_args()
    if args.satellites is not None:
        ticks = args.ticks or (10 if args.satellites < 100_000 else 3)
        print(json.dumps(run_one(args.satellites, args.stations, ticks, args.budget_s)))
        return 0
    results = []
    for n, m in RUNS:  # one process per size, so that sizes do not share caches or heaps
        cmd = [sys.executable, __file__, "--satellites", str(n), "--stations", str(m)]
        cmd += ["--budget-s", str(args.budget_s)]
        if args.ticks:
            cmd += ["--ticks", str(args.ticks)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        lines = out.strip().splitlines()
        print("\n".join(lines[:-1]), flush=True)
        results.append(json.loads(lines[-1]))
    print(json.dumps({"runs": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
