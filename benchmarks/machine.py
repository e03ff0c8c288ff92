"""What the machine itself allows, measured in the same run as the figures it bounds.

The node and runtime benchmarks compare against fixed targets, but a shared virtual
machine's floor moves from day to day: CPU time taken by the hypervisor (steal), the
cost of a bare gRPC round trip, how late an idle process wakes from a timer, and what
Ray itself needs per actor. Printing those beside our figures says how much of a figure
is ours.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

__all__ = [
    "CpuSteal",
    "bare_grpc_round_trips_ms",
    "bare_ray_actors",
    "cpu_probe_ms",
    "grpc_floor",
    "own_mib",
    "timer_lateness_ms",
    "uss_mib",
]


def uss_mib(pid: int) -> float:
    """Unique set size: memory only this process holds (Private_Clean + Private_Dirty)."""
    total_kib = 0
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total_kib += int(line.split()[1])
    return total_kib / 1024


#: Ray's shared object store as it appears in a process's memory map.
OBJECT_STORE_MAPPING = "/dev/shm/plasma"


def own_mib(pid: int) -> float:
    """Memory only this process holds outside Ray's object store: its private pages
    (Private_Clean + Private_Dirty) in every mapping but the store's. RSS also counts the
    store's shared pages a process has touched, which grows with every object read or
    written until the whole store has been touched once: not the process's own."""
    total_kib = 0
    outside = True
    try:
        with open(f"/proc/{pid}/smaps", encoding="ascii", errors="replace") as f:
            for line in f:
                head = line.split(maxsplit=6)
                if len(head) >= 5 and "-" in head[0] and ":" in head[3]:  # a mapping's line
                    outside = not (len(head) >= 6 and head[5].startswith(OBJECT_STORE_MAPPING))
                elif outside and line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total_kib += int(line.split()[1])
    except OSError:
        return 0.0
    return total_kib / 1024


def _cpu_ticks() -> tuple[int, int]:
    """(all ticks, stolen ticks) of the whole machine so far."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice, inside user/nice]
    return sum(fields[:8]), fields[7]


class CpuSteal:
    """Share of the machine's CPU time the hypervisor gave to other guests."""

    def __init__(self) -> None:
        self._start = _cpu_ticks()

    def percent(self) -> float:
        total, stolen = _cpu_ticks()
        elapsed = total - self._start[0]
        return 100.0 * (stolen - self._start[1]) / elapsed if elapsed else 0.0


def cpu_probe_ms(runs: int = 7) -> float:
    """Median time to sort a million random floats with numpy: the day's speed of one
    core, for compute-bound figures (the geometry and route benchmarks): 7 ms on the
    project's VM on 2026-12-06."""
    import numpy as np

    data = np.random.default_rng(0).random(1_000_000)
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        np.sort(data)
        took.append((time.perf_counter() - start) * 1e3)
    return float(np.median(took))


def bare_ray_actors(count: int) -> tuple[float, float]:
    """Start ``count`` empty async actors as satellites are started (num_cpus=0, SPREAD);
    seconds until all answer, and their mean unique memory. Kills them after."""
    import ray

    class Empty:
        async def pid(self) -> int:
            return os.getpid()

    remote: Any = ray.remote(Empty).options(
        num_cpus=0, scheduling_strategy="SPREAD", max_concurrency=1000
    )
    start = time.perf_counter()
    actors = [remote.remote() for _ in range(count)]
    pids = ray.get([a.pid.remote() for a in actors], timeout=600)
    took_s = time.perf_counter() - start
    time.sleep(1.0)
    mean_uss = sum(uss_mib(p) for p in pids) / len(pids)
    for actor in actors:
        ray.kill(actor)
    return took_s, mean_uss


def bare_grpc_round_trips_ms(runs: int, idle_s: float = 0.0) -> list[float]:
    """Empty calls from a blocking client here to a plain ``grpc.aio`` server in a
    process of its own (no Ray, no orbitmesh; :mod:`orbitmesh.ground.load.floor`): the
    transport's floor.

    ``idle_s``: a pause before each call. Back to back, both processes stay on CPU; after
    a pause as long as an emulated round trip, a virtual machine's idle CPUs must be
    woken for each message, which on the project's VM makes a round trip two to three
    times slower. Requests through a gateway always arrive after such a pause.
    """
    from orbitmesh.ground.load.floor import FloorServer, round_trips_ms

    with FloorServer() as server:
        return round_trips_ms(server.address, runs, idle_s)


def timer_lateness_ms(runs: int, wait_s: float = 0.01) -> list[float]:
    """How late an otherwise idle process returns from the gateways' precise wait."""
    from orbitmesh.links.timing import sleep_until

    async def measure() -> list[float]:
        late = []
        for _ in range(runs):
            target = time.time() + wait_s
            await sleep_until(target)
            late.append((time.time() - target) * 1e3)
        return late

    return asyncio.run(measure())


def grpc_floor() -> dict[str, float]:
    """The empty gRPC round trip back to back and after a 50 ms idle pause (what a
    request to a quiet process pays), printed and returned as figures."""
    import numpy as np

    back = bare_grpc_round_trips_ms(300)
    paused = bare_grpc_round_trips_ms(100, idle_s=0.05)
    figures = {
        "floor_grpc_ms_p50": float(np.percentile(back, 50)),
        "floor_grpc_after_pause_ms_p50": float(np.percentile(paused, 50)),
        "floor_grpc_after_pause_ms_p99": float(np.percentile(paused, 99)),
    }
    print(
        f"floor: empty gRPC round trip p50 {figures['floor_grpc_ms_p50']:.2f} ms back to back, "
        f"{figures['floor_grpc_after_pause_ms_p50']:.2f} ms after 50 ms idle "
        f"(p99 {figures['floor_grpc_after_pause_ms_p99']:.2f})",
        flush=True,
    )
    return figures
