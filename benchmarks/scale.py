"""Dense emulation: every satellite of Starlink shell 1 computing on one machine.

    python benchmarks/scale.py [--load-s 60] [--rates 100,200,300,400] [--quick]

Everything runs as a user runs it, through the command line, in processes of its own:

1. ``orbitmesh up starlink-shell1`` (1,584 compute satellites, 100 stations): seconds
   until the endpoints file is written (every endpoint serving), resident memory of all
   its processes (the ``up`` process and every descendant: Ray's own processes, the
   orchestrator and the hosts; RSS summed, and PSS, which counts shared pages once), and
   the CPU they use while idle (30 s after a 10 s settle).
2. ``orbitmesh load`` through all 100 stations, 200 rps open loop for ``--load-s``: the
   emulation error against the floor the load test measures in the same run (its
   summary's ``fidelity``), and the failures by cause. Then short runs at ``--rates`` for
   the highest rate that is still faithful.
3. Start-up time and memory of the same shell with 99 and 396 compute satellites
   (``[compute] satellites = { every = 16 }`` and ``{ every = 4 }``), a least-squares
   line over the three sizes, and from it a projection for 10,000 and 100,000 compute
   satellites on a Ray cluster (assumptions printed with it).
4. 100 satellites with one per host process (``--satellites-per-host 1``) against 100
   empty Ray actors started with the same options, in the same run: the layout before
   hosts, and the floor under it.

The machine's own floor is printed beside the figures: CPU steal over the whole run, and
an empty gRPC round trip between two plain processes back to back and after a 50 ms
pause. The last line is one JSON object with every figure (keys carry units).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds a node.py of its own: keep it off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.append(str(Path(__file__).resolve().parents[1]))  # for benchmarks.machine

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.machine import CpuSteal, bare_ray_actors, grpc_floor  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ORBITMESH = [sys.executable, "-m", "orbitmesh.orchestrator.cli"]
#: Causes a request may fail with in a faithful run: what orbits do, not the machine.
ORBITAL_CAUSES = frozenset({"no-contact", "link-lost", "power", "thermal"})
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- processes


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (Ray's processes and workers included)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / _CLOCK_TICKS


def memory_mib(pids: list[int]) -> tuple[float, float]:
    """(RSS summed, PSS summed) in MiB."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss / 1024, pss / 1024


@dataclass(frozen=True)
class Up:
    process: subprocess.Popen[str]
    endpoints: Path
    start_s: float  # launch to endpoints file written
    serving_s: float | None  # as `up` itself reports it (orchestrator launch to serving)


@contextmanager
def orbitmesh_up(scenario: str, folder: Path, *args: str) -> Iterator[Up]:
    endpoints = folder / "endpoints.json"
    endpoints.unlink(missing_ok=True)
    log = (folder / "up.log").open("w")
    started = time.monotonic()
    process = subprocess.Popen(
        [*ORBITMESH, "up", scenario, "--quiet", "--endpoints", str(endpoints), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        while not endpoints.exists():
            if process.poll() is not None:
                raise RuntimeError((folder / "up.log").read_text())
            if time.monotonic() - started > 900:
                raise RuntimeError("orbitmesh up did not come up in 15 minutes")
            time.sleep(0.1)
        start_s = time.monotonic() - started
        time.sleep(0.5)
        found = re.search(r"serving after ([0-9.]+) s", (folder / "up.log").read_text())
        yield Up(process, endpoints, start_s, float(found.group(1)) if found else None)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=180)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        time.sleep(3.0)  # let Ray's processes end before the next measurement


def idle_cpu_percent(root: int, settle_s: float, window_s: float) -> float:
    time.sleep(settle_s)
    pids = descendants(root)
    before, started = cpu_s(pids), time.monotonic()
    time.sleep(window_s)
    pids = descendants(root)  # the same processes; a worker that ended takes its CPU
    return 100.0 * (cpu_s(pids) - before) / (time.monotonic() - started)


def load(
    endpoints: Path, folder: Path, rps: float, seconds: float, *, observe: bool = True
) -> dict[str, Any]:
    out = folder / f"load-{rps:g}{'' if observe else '-unobserved'}"
    result = subprocess.run(
        [
            *ORBITMESH,
            "load",
            str(endpoints),
            "--model",
            "digits",
            "--rps",
            f"{rps:g}",
            "--duration",
            f"{seconds:g}",
            "--out",
            str(out),
            *([] if observe else ["--no-observe"]),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=seconds * 4 + 300,
    )
    if not (out / "summary.json").exists():
        raise RuntimeError(f"orbitmesh load failed: {result.stderr[-2000:]}")
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary


def scenario_with_compute(folder: Path, every: int) -> Path:
    """Starlink shell 1 with every ``every``-th satellite computing."""
    from importlib import resources

    text = (
        resources.files("orbitmesh.orchestrator.builtin")
        .joinpath("starlink-shell1.toml")
        .read_text()
    )
    text = text.replace('satellites = "all"', f"satellites = {{ every = {every} }}")
    path = folder / f"shell1-every-{every}.toml"
    path.write_text(text.replace('name = "starlink-shell1"', f'name = "shell1-every-{every}"'))
    return path


# --------------------------------------------------------------------------- the run


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--load-s", type=float, default=60.0, help="seconds of the 200 rps load")
    parser.add_argument("--rates", default="100,200,300,400", help="rates tried for the highest")
    parser.add_argument("--rate-s", type=float, default=20.0, help="seconds of each rate tried")
    parser.add_argument("--quick", action="store_true", help="skip the fits and the 100 actors")
    args = parser.parse_args()
    steal = CpuSteal()
    figures: dict[str, Any] = {}
    folder = Path(tempfile.mkdtemp(prefix="orbitmesh-scale-"))

    figures |= grpc_floor()

    sizes: dict[int, tuple[float, float, float]] = {}  # satellites -> (start s, rss, pss)
    with orbitmesh_up("starlink-shell1", folder) as up:
        doc = json.loads(up.endpoints.read_text())
        n = len(doc["satellites"])
        rss, pss = memory_mib(descendants(up.process.pid))
        sizes[n] = (up.start_s, rss, pss)
        idle = idle_cpu_percent(up.process.pid, settle_s=10.0, window_s=30.0)
        rss_idle, pss_idle = memory_mib(descendants(up.process.pid))
        placement = doc.get("placement", {})
        figures |= {
            "satellites": n,
            "stations": len(doc["ground_stations"]),
            "satellite_hosts": placement.get("satellite_hosts"),
            "station_hosts": placement.get("station_hosts"),
            "up_to_serving_s": up.start_s,
            "up_reports_serving_s": up.serving_s,
            "rss_sum_mib": rss_idle,
            "pss_sum_mib": pss_idle,
            "idle_cpu_percent_of_core": idle,
        }
        print(
            f"starlink-shell1: {n:,} compute satellites and {len(doc['ground_stations'])} "
            f"stations in {placement.get('satellite_hosts')} + {placement.get('station_hosts')} "
            f"hosts, every endpoint serving {up.start_s:.1f} s after `orbitmesh up` started "
            f"(target <= 60 s); memory of all its processes {rss_idle / 1024:.2f} GiB RSS "
            f"summed, {pss_idle / 1024:.2f} GiB PSS (target <= 6 GiB); idle CPU "
            f"{idle:.1f}% of one core (target <= 15%)",
            flush=True,
        )

        summary = load(up.endpoints, folder, 200.0, args.load_s)
        fidelity = summary["orbitmesh"]["fidelity"]
        failures = summary["orbitmesh"]["failures_by_cause"]
        unexpected = {c: k for c, k in failures.items() if c not in ORBITAL_CAUSES}
        error, floor = fidelity["error_ms"], fidelity["floor_ms"]
        figures |= {
            "load_rps": summary["rps"],
            "load_requests": summary["count"],
            "error_ms_p50": error["p50"],
            "error_ms_p99": error["p99"],
            "error_ms_max": error["max"],
            "load_floor_ms_p50": floor["p50"],
            "load_floor_ms_p99": floor["p99"],
            "error_above_floor_ms_p50": _minus(error["p50"], floor["p50"]),
            "error_above_floor_ms_p99": _minus(error["p99"], floor["p99"]),
            "late_tick_lookups": fidelity["late_tick_lookups"],
            "faithful": fidelity["faithful"],
            "failures_by_cause": failures,
            "non_orbital_failures": sum(unexpected.values()),
        }
        print(
            f"200 rps over {len(doc['ground_stations'])} stations for {args.load_s:g} s: "
            f"{summary['count']:,} requests at {summary['rps']:.1f} rps; emulation error p50 "
            f"{error['p50']} ms, p99 {error['p99']} ms, max {error['max']} ms against the "
            f"floor of the same run p50 {floor['p50']} ms, p99 {floor['p99']} ms: above the "
            f"floor by {figures['error_above_floor_ms_p50']} ms p50 (target <= 1), "
            f"{figures['error_above_floor_ms_p99']} ms p99 (target <= 5); late tick lookups "
            f"{fidelity['late_tick_lookups']}; failures {failures or 'none'}"
            + (f" (NOT orbital: {unexpected})" if unexpected else ""),
            flush=True,
        )

        bare = load(up.endpoints, folder, 200.0, args.load_s, observe=False)
        f = bare["orbitmesh"]["fidelity"]
        figures |= {
            "unobserved_error_ms_p50": f["error_ms"]["p50"],
            "unobserved_error_ms_p99": f["error_ms"]["p99"],
            "unobserved_floor_ms_p50": f["floor_ms"]["p50"],
            "unobserved_floor_ms_p99": f["floor_ms"]["p99"],
            "unobserved_error_above_floor_ms_p99": _minus(
                f["error_ms"]["p99"], f["floor_ms"]["p99"]
            ),
            "unobserved_faithful": f["faithful"],
        }
        print(
            f"the same with --no-observe (no observer polling the hosts): error p50 "
            f"{f['error_ms']['p50']} ms, p99 {f['error_ms']['p99']} ms against the floor p50 "
            f"{f['floor_ms']['p50']} ms, p99 {f['floor_ms']['p99']} ms: "
            f"{'faithful' if f['faithful'] else 'not faithful: ' + '; '.join(f['reasons'])}",
            flush=True,
        )

        verdicts = {}
        for rate in [float(r) for r in args.rates.split(",") if r]:
            s = load(up.endpoints, folder, rate, args.rate_s)
            f = s["orbitmesh"]["fidelity"]
            verdicts[rate] = f["faithful"]
            print(
                f"  {rate:g} rps for {args.rate_s:g} s: error p50 {f['error_ms']['p50']} ms, "
                f"p99 {f['error_ms']['p99']} ms (bound {f['bound_ms']['p99']}), "
                f"{'faithful' if f['faithful'] else 'not faithful: ' + '; '.join(f['reasons'])}",
                flush=True,
            )
        faithful = [r for r, ok in verdicts.items() if ok]
        figures["highest_faithful_rps"] = max(faithful) if faithful else None
        figures["rates_faithful"] = {f"{r:g}": ok for r, ok in verdicts.items()}
        print(f"highest rate faithful: {figures['highest_faithful_rps']} rps", flush=True)

    if not args.quick:
        for every in (16, 4):
            path = scenario_with_compute(folder, every)
            with orbitmesh_up(str(path), folder) as up:
                n = len(json.loads(up.endpoints.read_text())["satellites"])
                time.sleep(10.0)
                rss, pss = memory_mib(descendants(up.process.pid))
                sizes[n] = (up.start_s, rss, pss)
            print(
                f"{n:,} compute satellites: serving after {up.start_s:.1f} s, "
                f"{rss / 1024:.2f} GiB RSS, {pss / 1024:.2f} GiB PSS",
                flush=True,
            )
        sizes[figures["satellites"]] = (
            figures["up_to_serving_s"],
            figures["rss_sum_mib"],
            figures["pss_sum_mib"],
        )
        figures |= _fits(sizes)

        path = scenario_with_compute(folder, 16)
        with orbitmesh_up(str(path), folder, "--satellites-per-host", "1") as up:
            n = len(json.loads(up.endpoints.read_text())["satellites"])
            time.sleep(5.0)
            pids = descendants(up.process.pid)
            rss, pss = memory_mib(pids)
            one_per_actor_s = up.start_s
        bare_s, bare_uss = _bare_actors(n)
        figures |= {
            "one_per_actor_satellites": n,
            "one_per_actor_start_s": one_per_actor_s,
            "one_per_actor_pss_mib": pss,
            "bare_actors_start_s": bare_s,
            "bare_actor_uss_mib": bare_uss,
        }
        print(
            f"{n} satellites one per host process: serving after {one_per_actor_s:.1f} s, "
            f"{pss / 1024:.2f} GiB PSS; floor: {n} empty Ray actors answering after "
            f"{bare_s:.1f} s, {bare_uss:.1f} MiB unique each",
            flush=True,
        )
    figures["steal_percent"] = steal.percent()
    print(f"CPU steal during the run: {figures['steal_percent']:.1f}%", flush=True)
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))
    return 0


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def _fits(sizes: dict[int, tuple[float, float, float]]) -> dict[str, Any]:
    """Lines through (satellites, start-up) and (satellites, PSS); projections."""
    n = np.array(sorted(sizes), dtype=float)
    start = np.array([sizes[int(k)][0] for k in n])
    pss = np.array([sizes[int(k)][2] for k in n])
    start_slope, start_base = np.polyfit(n, start, 1)
    mem_slope, mem_base = np.polyfit(n, pss, 1)
    out: dict[str, Any] = {
        "start_s_per_satellite": float(start_slope),
        "start_s_fixed": float(start_base),
        "pss_mib_per_satellite": float(mem_slope),
        "pss_mib_fixed": float(mem_base),
    }
    print(
        f"fit over {', '.join(f'{int(k):,}' for k in n)} satellites: start-up "
        f"{start_base:.1f} s + {start_slope * 1e3:.2f} ms per satellite; memory "
        f"{mem_base:.0f} MiB + {mem_slope:.3f} MiB per satellite",
        flush=True,
    )
    # On a cluster, hosts start in parallel on every node, so the part of the start-up
    # that grows with satellites divides by the nodes, except what the orchestrator does
    # for each satellite on its own (its track and configuration), measured apart; each
    # node also runs Ray's own processes (the fixed memory, which here includes one
    # machine's Ray and the orchestrator).
    serial = _orchestrator_s_per_satellite()
    out["orchestrator_s_per_satellite"] = serial
    print(
        f"of which the orchestrator, satellite by satellite (tracks, configurations): "
        f"{serial * 1e3:.2f} ms per satellite",
        flush=True,
    )
    for satellites, nodes in ((10_000, 8), (100_000, 64)):
        parallel = max(0.0, start_slope - serial)
        start_s = start_base + serial * satellites + parallel * satellites / nodes
        memory_gib = (mem_base * nodes + mem_slope * satellites) / 1024
        out[f"projected_{satellites}_start_s"] = float(start_s)
        out[f"projected_{satellites}_memory_gib"] = float(memory_gib)
        print(
            f"projection: {satellites:,} compute satellites on {nodes} nodes like this one: "
            f"about {start_s:.0f} s to serve, {memory_gib:.0f} GiB in all "
            f"({memory_gib / nodes:.1f} GiB a node); assumes the per-satellite costs "
            "measured here and hosts starting in parallel on every node",
            flush=True,
        )
    return out


def _orchestrator_s_per_satellite() -> float:
    """Seconds the orchestrator spends per compute satellite before any host starts."""
    from orbitmesh.clock import SimClock
    from orbitmesh.orchestrator import GeometryEngine, load_scenario
    from orbitmesh.orchestrator.launch import node_configs

    engine = GeometryEngine(load_scenario("starlink-shell1"))
    clock = SimClock.starting_now(engine.start, 1.0)
    started = time.perf_counter()
    configs = node_configs(engine, clock)
    return (time.perf_counter() - started) / len(configs)


def _bare_actors(count: int) -> tuple[float, float]:
    import ray

    from orbitmesh.orchestrator.local_ray import start_ray

    start_ray()
    try:
        return bare_ray_actors(count)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    raise SystemExit(main())
