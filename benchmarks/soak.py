"""Soak: an emulation under steady load for minutes, every process's memory watched.

    python benchmarks/soak.py [--minutes 10] [--rps 160] [--faults] [--sample-s 30]
    python benchmarks/soak.py --scenario spacex-odc --rps 20 --warmup-s 30   # 10^6 satellites

The scenario is ``demo`` unless ``--scenario`` names another (a built-in name or a file).
The run also reports the orchestrator's ticks: how many were published late (after their
simulated time had begun) and what publishing cost per tick (geometry, handing to Ray,
megabytes).

1. The machine's floor, in the same run (benchmarks/machine.py): an empty gRPC round trip
   between two plain processes before the load, and the CPU time the hypervisor took
   (steal) over the whole run.
2. The ``demo`` scenario on local Ray at speed 1, started as ``orbitmesh up`` starts it
   (orchestrator/local_ray.py). With ``--faults``, a copy of demo.toml with a fault
   schedule appended (:func:`fault_table`: random satellite reboots, a plane's laser
   links down, rain over Tokyo, Frankfurt down); a scenario loader without ``[[fault]]``
   is refused in one line with exit status 2.
3. orbitmesh's load test (open loop through all six stations, digits) at ``--rps`` for
   ``--warmup-s``, then ``--minutes`` measured. The default, 160 rps, is 80% of the
   highest rate benchmarks/load.py sustained through the demo (200 rps, 2026-12-01,
   docs/performance.md).
4. Every ``--sample-s``, and as the measured phase begins and ends, the RSS, PSS and own
   memory (benchmarks/machine.py ``own_mib``: private pages outside Ray's object store) of
   every process of the run, found by walking the process tree below this one: this
   process (the load generator), the load test's observer and floor probe, the
   orchestrator, every host (pids from the endpoints document's ``hosts``), and Ray's
   own (gcs_server, raylet, dashboard, its agents, log monitor, autoscaler monitor, idle
   workers). The samples are taken by a thread of this process; reading /proc costs it
   a few milliseconds every ``--sample-s``.

Per process: RSS while the emulation idled before the load and at the start and end of
the measured phase; its own memory at the start and end, the growth of that per minute (a
least-squares slope over the measured phase's samples) and whether it is flat: grown by no
more than 5% of its start over the measured phase, by that slope. Own memory rather than
RSS: RSS counts the pages of Ray's shared object store a process has touched, which rises
with every tick read or written until the whole store has been touched once (a million
satellites: 32 MB of link state a tick through a 3 GB store), whatever the process keeps.
The emulation's processes (Ray's own, the orchestrator, the hosts) are judged; the load
test's own are reported beside them and not judged: they keep what the load test reports
by design (the generator one record per request, whose growth is also given per 1,000
requests; the observer every poll). Then the accounting:
issued = warm-up + sent, sent = succeeded + failed + cancelled, every finished request
under one station and under one satellite or none, and every failure with a cause the
run explains (what orbits do; with ``--faults``, also ``node-down``, ``link-down``,
``station-down``).

Every sample is written to ``memory.csv`` in ``--out`` (a new temporary folder by
default), beside the load test's files. Exit status 1 when an emulation process is not
flat, the accounting does not reconcile, a failure is unexplained or the emulation died.
The last line is one JSON object with every figure (keys carry units).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This folder holds a node.py of its own: keep it off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.append(str(Path(__file__).resolve().parents[1]))  # for benchmarks.machine

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from importlib import resources  # noqa: E402
from typing import Any, Final  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.machine import CpuSteal, grpc_floor, own_mib  # noqa: E402
from benchmarks.scale import ORBITAL_CAUSES, cpu_s, descendants, memory_mib  # noqa: E402
from orbitmesh.protos.contract import Cause  # noqa: E402

#: The highest rate benchmarks/load.py sustained through the demo (docs/performance.md,
#: "The load generator"), and the share of it a soak runs at.
SUSTAINED_DEMO_RPS: Final = 200.0
SOAK_SHARE: Final = 0.8
#: Flat: grown by no more than this share of its start over the measured phase.
FLAT_SHARE: Final = 0.05
#: Failures a fault schedule explains (docs/faults.md, "In a running emulation").
FAULT_CAUSES: Final = frozenset({Cause.NODE_DOWN, Cause.LINK_DOWN, Cause.STATION_DOWN})
#: The emulation runs this much longer than the soak, so that it never ends first.
RUN_MARGIN_S: Final = 300.0


# --------------------------------------------------------------------------- processes


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


#: Ray's own executables, by the end of their path (a worker's arguments name the
#: raylet's socket, so a path anywhere in a command line would not do).
_RAY_EXECUTABLES: Final = (("/gcs_server", "gcs_server"), ("/raylet", "raylet"))
#: Ray's other processes and the load test's by what their command lines hold.
_RAY_PROCESSES: Final = (
    ("autoscaler/_private/monitor.py", "autoscaler monitor"),
    ("dashboard/dashboard.py", "dashboard"),
    ("log_monitor.py", "log monitor"),
    ("ray::DashboardAgent", "dashboard agent"),
    ("ray::RuntimeEnvAgent", "runtime env agent"),
    ("orbitmesh.ground.load.observer", "load observer"),
    ("orbitmesh.ground.load.floor", "load floor probe"),
)
#: Processes of the load test, not of the emulation: reported, not judged.
DRIVER: Final = "driver (load generator)"
LOAD_TEST_ROLES: Final = frozenset({DRIVER, "load observer", "load floor probe"})


def role(pid: int, cmdline: str, known: Mapping[int, str]) -> str:
    """What a process of the run is: a known pid's name, else what its command line says
    (Ray's idle workers and anything unexpected keep their title)."""
    if pid in known:
        return known[pid]
    executable = cmdline.split(" ", 1)[0]
    for end, name in _RAY_EXECUTABLES:
        if executable.endswith(end):
            return name
    for needle, name in _RAY_PROCESSES:
        if needle in cmdline:
            return name
    if cmdline.startswith("ray::IDLE"):
        return "idle Ray worker"
    # Unknown: its program and first argument, without their folders.
    return " ".join(Path(word).name for word in cmdline.split()[:2]) or "?"


@dataclass(frozen=True)
class Sample:
    t_s: float  # since the sampler started
    tag: str  # "idle", "start", "end" or "" (periodic)
    mib: dict[int, tuple[float, float, float]]  # pid -> (RSS, PSS, own: machine.own_mib)
    cpu_s: dict[int, float]  # pid -> CPU seconds (user + system) used since it started


class Sampler:
    """The memory of every process below ``root``, every ``every_s`` and whenever
    :meth:`mark` asks, in a thread of its own (a mark from the load generator's event
    loop must not read /proc there)."""

    def __init__(self, root: int, every_s: float) -> None:
        self._root = root
        self._every_s = every_s
        self._t0 = time.monotonic()
        self._tags_lock = threading.Lock()  # never held while /proc is read
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._tags: list[str] = []
        self.samples: list[Sample] = []
        #: Every process seen: its command line when first seen.
        self.cmdlines: dict[int, str] = {}
        self._thread = threading.Thread(target=self._loop, name="soak-sampler", daemon=True)

    def take(self, tag: str = "") -> Sample:
        """One sample now (from the sampler's thread, or before it starts)."""
        mib: dict[int, tuple[float, float, float]] = {}
        cpu: dict[int, float] = {}
        for pid in descendants(self._root):
            rss, pss = memory_mib([pid])
            if rss > 0:  # 0: it ended while the tree was walked
                mib[pid] = (rss, pss, own_mib(pid))
                cpu[pid] = cpu_s([pid])
                if pid not in self.cmdlines:
                    self.cmdlines[pid] = command_line(pid)
        sample = Sample(time.monotonic() - self._t0, tag, mib, cpu)
        self.samples.append(sample)
        what = {"idle": "idle, before the load", "start": "measured phase begins", "end": "ends"}
        what_now = what.get(tag, tag)
        print(
            f"  memory at {sample.t_s / 60:5.1f} min: {len(mib)} processes, "
            f"{sum(m[0] for m in mib.values()):,.0f} MiB RSS summed, "
            f"{sum(m[2] for m in mib.values()):,.0f} MiB own"
            + (f" ({what_now})" if what_now else ""),
            flush=True,
        )
        return sample

    def mark(self, tag: str) -> None:
        with self._tags_lock:
            self._tags.append(tag)
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.ident is not None:  # started
            self._thread.join()

    def _loop(self) -> None:
        due = time.monotonic() + self._every_s
        while not self._stop.is_set():
            self._wake.wait(max(0.0, due - time.monotonic()))
            self._wake.clear()
            with self._tags_lock:
                tags, self._tags = self._tags, []
            for tag in tags:  # before stopping too: the last mark is the run's end
                self.take(tag)
            if self._stop.is_set():
                return
            if time.monotonic() >= due:
                self.take()
                due += self._every_s


# --------------------------------------------------------------------------- judging


@dataclass(frozen=True)
class Trend:
    """One process over the measured phase (MiB, minutes)."""

    role: str
    pid: int
    idle_rss: float | None
    start_rss: float
    end_rss: float
    start_pss: float
    end_pss: float
    start_own: float
    end_own: float
    rss_mib_per_min: float | None  # least-squares slope; None with fewer than two samples
    pss_mib_per_min: float | None
    own_mib_per_min: float | None
    span_min: float
    judged: bool
    #: CPU used over the measured phase, as a share of one core (None: one sample).
    cpu_percent: float | None = None

    @property
    def growth_share(self) -> float | None:
        """Growth of the process's own memory (machine.own_mib: private, outside Ray's
        object store) over the measured phase by the slope, as a share of the start."""
        if self.own_mib_per_min is None or self.start_own <= 0:
            return None
        return self.own_mib_per_min * self.span_min / self.start_own

    @property
    def flat(self) -> bool | None:
        share = self.growth_share
        return None if share is None else share <= FLAT_SHARE

    def as_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "idle_rss_mib": self.idle_rss,
            "start_rss_mib": self.start_rss,
            "end_rss_mib": self.end_rss,
            "start_pss_mib": self.start_pss,
            "end_pss_mib": self.end_pss,
            "start_own_mib": self.start_own,
            "end_own_mib": self.end_own,
            "rss_mib_per_min": self.rss_mib_per_min,
            "pss_mib_per_min": self.pss_mib_per_min,
            "own_mib_per_min": self.own_mib_per_min,
            "growth_percent": None if self.growth_share is None else 100 * self.growth_share,
            "flat": self.flat,
            "judged": self.judged,
            "cpu_percent": self.cpu_percent,
        }


def slope_per_min(t_s: Sequence[float], mib: Sequence[float]) -> float | None:
    """Least-squares slope in MiB per minute; None with fewer than two distinct times."""
    if len(set(t_s)) < 2:
        return None
    slope, _ = np.polyfit(np.asarray(t_s) / 60.0, np.asarray(mib), 1)
    return float(slope)


def trends(samples: Sequence[Sample], roles: Mapping[int, str]) -> list[Trend]:
    """Every process present in the measured phase (the samples from the one tagged
    ``start`` to the one tagged ``end``, or the last)."""
    first = next((i for i, s in enumerate(samples) if s.tag == "start"), 0)
    last = next((i for i, s in enumerate(samples) if s.tag == "end"), len(samples) - 1)
    window = samples[first : last + 1]
    idle = next((s for s in samples if s.tag == "idle"), None)
    out = []
    for pid in sorted({pid for s in window for pid in s.mib}):
        points = [(s.t_s, *s.mib[pid]) for s in window if pid in s.mib]
        t = [p[0] for p in points]
        name = roles[pid]
        used = [(s.t_s, s.cpu_s[pid]) for s in window if pid in s.cpu_s]
        span_s = used[-1][0] - used[0][0] if used else 0.0
        cpu_percent = 100.0 * (used[-1][1] - used[0][1]) / span_s if span_s > 0 else None
        out.append(
            Trend(
                role=name,
                pid=pid,
                idle_rss=idle.mib[pid][0] if idle is not None and pid in idle.mib else None,
                start_rss=points[0][1],
                end_rss=points[-1][1],
                start_pss=points[0][2],
                end_pss=points[-1][2],
                start_own=points[0][3],
                end_own=points[-1][3],
                rss_mib_per_min=slope_per_min(t, [p[1] for p in points]),
                pss_mib_per_min=slope_per_min(t, [p[2] for p in points]),
                own_mib_per_min=slope_per_min(t, [p[3] for p in points]),
                span_min=(t[-1] - t[0]) / 60.0,
                judged=name not in LOAD_TEST_ROLES,
                cpu_percent=cpu_percent,
            )
        )
    return out


def write_samples(path: Path, samples: Sequence[Sample], roles: Mapping[int, str]) -> None:
    """Every sample, one row per process: the figures behind the table."""
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["t_s", "tag", "pid", "role", "rss_mib", "pss_mib", "own_mib"])
        for s in samples:
            for pid, (rss, pss, own) in sorted(s.mib.items()):
                row = [f"{s.t_s:.1f}", s.tag, pid, roles[pid]]
                out.writerow([*row, f"{rss:.2f}", f"{pss:.2f}", f"{own:.2f}"])


def unique_names(trend_list: Sequence[Trend]) -> list[str]:
    """Each process's role, with its pid where the role is shared (idle workers)."""
    counts: dict[str, int] = {}
    for t in trend_list:
        counts[t.role] = counts.get(t.role, 0) + 1
    return [t.role if counts[t.role] == 1 else f"{t.role} {t.pid}" for t in trend_list]


def accounting_problems(summary: Mapping[str, Any], expected_causes: frozenset[str]) -> list[str]:
    """What does not add up in a load summary, one line each; none when every request
    is accounted for and every failure has a cause the run explains."""
    om = summary["orbitmesh"]
    acc = om["accounting"]
    problems = []
    failed = sum(acc["failed"].values())
    if acc["issued"] != acc["warmup_excluded"] + acc["sent"]:
        problems.append(
            f"issued {acc['issued']} != warm-up {acc['warmup_excluded']} + sent {acc['sent']}"
        )
    if acc["sent"] != acc["succeeded"] + failed + acc["cancelled"]:
        problems.append(
            f"sent {acc['sent']} != succeeded {acc['succeeded']} + failed {failed} + "
            f"cancelled {acc['cancelled']}"
        )
    finished = acc["succeeded"] + failed
    if summary["count"] != finished:
        problems.append(f"summary count {summary['count']} != finished {finished}")
    by_station = sum(s["count"] for s in om["stations"].values())
    if by_station != finished:
        problems.append(f"requests by station {by_station} != finished {finished}")
    by_satellite = sum(s["count"] for s in om["satellites"].values())
    unattributed = om["satellites_unattributed"]["count"]
    if by_satellite + unattributed != finished:
        problems.append(
            f"requests by satellite {by_satellite} + unattributed {unattributed} != "
            f"finished {finished}"
        )
    causes: dict[str, int] = {}
    for figures in [*om["satellites"].values(), om["satellites_unattributed"]]:
        for cause, n in figures["failed"].items():
            causes[cause] = causes.get(cause, 0) + n
    if causes != om["failures_by_cause"]:
        problems.append(
            f"failures by satellite {causes} != failures by cause {om['failures_by_cause']}"
        )
    unexplained = {c: n for c, n in om["failures_by_cause"].items() if c not in expected_causes}
    if unexplained:
        problems.append(f"failures this run does not explain: {unexplained}")
    return problems


# --------------------------------------------------------------------------- the scenario


#: The demo's compute satellites (demo.toml: every 13th, one per plane on a diagonal).
DEMO_COMPUTE: Final = tuple(f"shell1-{k}-{k}" for k in range(12))


def fault_table(warmup_s: float, measured_s: float) -> str:
    """``[[fault]]`` entries for the demo, timed into the load (the emulation's clock
    starts as it serves, a few seconds before the load does). Random reboots of any of
    the 144 satellites at 0.4 an hour each (their laser links go with them), and of the
    12 compute satellites at 5 an hour each, cold (a fresh server, weights reloaded):
    each about one a minute over the run."""

    def at(share: float) -> int:
        return round(warmup_s + share * measured_s)

    return f"""
[faults]
seed = 11

[[fault]]
kind = "reboot"
targets = "all"
rate_per_hour = 0.4
duration_s = {{ min_s = 20, max_s = 90 }}

[[fault]]
kind = "reboot"
targets = {json.dumps(list(DEMO_COMPUTE))}
rate_per_hour = 5
duration_s = {{ min_s = 10, max_s = 40 }}
reset = "cold"

[[fault]]
kind = "isl-down"
targets = ["shell1-5"]
at_s = {at(0.15)}
duration_s = 90

[[fault]]
kind = "weather"
targets = ["tokyo"]
at_s = {at(0.3)}
duration_s = 120
rate_factor = 0.5
loss_rate = 0.02

[[fault]]
kind = "station-down"
targets = ["frankfurt"]
at_s = {at(0.5)}
duration_s = 90
"""


class FaultsUnsupported(Exception):
    """The scenario loader does not take ``[[fault]]`` entries (yet)."""


def faulted_demo(folder: Path, warmup_s: float, measured_s: float) -> Path:
    """A copy of demo.toml with :func:`fault_table` appended, checked by the loader."""
    from orbitmesh.orchestrator import load_scenario
    from orbitmesh.orchestrator.scenario import ScenarioError

    text = resources.files("orbitmesh.orchestrator.builtin").joinpath("demo.toml").read_text()
    path = folder / "demo-faults.toml"
    path.write_text(text + fault_table(warmup_s, measured_s), encoding="utf-8")
    try:
        scenario = load_scenario(path)
    except ScenarioError as exc:
        raise FaultsUnsupported(
            f"the scenario with a fault table does not load: {exc.problems[0]}"
        ) from None
    if not getattr(scenario, "faults", ()):
        raise FaultsUnsupported("the scenario loader drops [[fault]] entries")
    return path


# --------------------------------------------------------------------------- the run


def _positive(name: str, value: float) -> str | None:
    return None if math.isfinite(value) and value > 0 else f"{name} must be positive, got {value:g}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="measured load, minutes")
    parser.add_argument(
        "--rps",
        type=float,
        default=SOAK_SHARE * SUSTAINED_DEMO_RPS,
        help="open-loop rate (default: 80%% of the 200 rps the demo sustained)",
    )
    parser.add_argument("--warmup-s", type=float, default=60.0, help="load before measuring")
    parser.add_argument("--sample-s", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--faults", action="store_true", help="run a fault schedule too")
    parser.add_argument(
        "--scenario", default="demo", help="built-in name or file (default demo; --faults: demo)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for memory.csv (every sample) and the load test's files (load/)",
    )
    args = parser.parse_args()
    for name, value in (
        ("--minutes", args.minutes),
        ("--rps", args.rps),
        ("--sample-s", args.sample_s),
    ):
        problem = _positive(name, value)
        if problem:
            print(f"soak.py: {problem}", file=sys.stderr)
            return 2
    if not (math.isfinite(args.warmup_s) and args.warmup_s >= 0):
        print(f"soak.py: --warmup-s must be 0 or more, got {args.warmup_s:g}", file=sys.stderr)
        return 2
    folder = args.out or Path(tempfile.mkdtemp(prefix="orbitmesh-soak-"))
    folder.mkdir(parents=True, exist_ok=True)
    measured_s = 60.0 * args.minutes
    scenario = args.scenario
    if args.faults and scenario != "demo":
        print("soak.py: --faults runs the demo's fault schedule: drop --scenario", file=sys.stderr)
        return 2
    if args.faults:
        try:
            scenario = str(faulted_demo(folder, args.warmup_s, measured_s))
        except FaultsUnsupported as exc:
            print(f"soak.py: --faults: {exc}", file=sys.stderr)
            return 2

    steal = CpuSteal()
    figures: dict[str, Any] = {}
    figures |= grpc_floor()

    import ray

    from orbitmesh.ground.endpoints import Endpoints
    from orbitmesh.ground.load.loadgen import LoadOptions, Progress
    from orbitmesh.ground.load.loadtest import run_load_test
    from orbitmesh.orchestrator.actor import Orchestrator
    from orbitmesh.orchestrator.emulation import EmulationOptions
    from orbitmesh.orchestrator.local_ray import start_ray
    from orbitmesh.orchestrator.preflight import object_store_bytes
    from orbitmesh.orchestrator.scenario import load_scenario

    start_ray(object_store_bytes=object_store_bytes(load_scenario(scenario)))
    run_s = args.warmup_s + measured_s + RUN_MARGIN_S
    orchestrator = Orchestrator.launch(scenario, EmulationOptions(duration_s=run_s), name=None)
    sampler = Sampler(os.getpid(), args.sample_s)
    try:
        doc = orchestrator.endpoints
        known = {os.getpid(): DRIVER}
        known[int(ray.get(orchestrator.handle.pid.remote()))] = "orchestrator"
        known |= {int(h["pid"]): host for host, h in doc["hosts"].items() if h.get("pid")}
        stations = list(doc["ground_stations"])
        print(
            f"{'demo with faults' if args.faults else args.scenario}: {len(doc['satellites'])} "
            f"compute satellites, {len(stations)} stations, {len(doc['hosts'])} hosts; "
            f"{args.rps:g} rps for {args.warmup_s:g} s of warm-up and {args.minutes:g} min",
            flush=True,
        )
        sampler.take("idle")
        sampler.start()
        phases: set[str] = set()

        def on_progress(p: Progress) -> None:
            if p.phase not in phases:
                phases.add(p.phase)
                if p.phase == "load":
                    sampler.mark("start")
                elif p.phase == "drain":
                    sampler.mark("end")

        options = LoadOptions(
            "digits",
            stations,
            rps=args.rps,
            duration_s=measured_s,
            warmup_s=args.warmup_s,
            timeout_s=10.0,
            seed=0,
        )
        result = run_load_test(
            Endpoints.from_json(doc), options, folder / "load", on_progress=on_progress
        )
        if "drain" not in phases:
            sampler.mark("end")  # the run ended without a drain (it died)
        try:
            status = orchestrator.status()
        except ray.exceptions.RayError as exc:
            print(f"the orchestrator did not answer after the load: {exc}", flush=True)
            status = {}
    finally:
        sampler.stop()
        try:
            orchestrator.stop()
        finally:
            ray.shutdown()

    roles = {pid: role(pid, cmd, known) for pid, cmd in sampler.cmdlines.items()}
    write_samples(folder / "memory.csv", sampler.samples, roles)
    found = trends(sampler.samples, roles)
    names = unique_names(found)
    requests_per_min = 60.0 * args.rps
    print(
        f"{'process':<26} {'idle':>7} {'start':>7} {'end':>7} {'MiB/min':>8} "
        f"{'growth':>7}  own start/end   CPU  flat (RSS, then own memory: private, outside "
        "Ray's object store; MiB; CPU: % of a core; measured phase)"
    )
    for name, t in zip(names, found, strict=True):
        slope = "-" if t.own_mib_per_min is None else f"{t.own_mib_per_min:+.2f}"
        growth = "-" if t.growth_share is None else f"{100 * t.growth_share:+.1f}%"
        verdict = {True: "yes", False: "NO", None: "-"}[t.flat]
        if not t.judged:
            per_k = (
                f", {1e3 * t.own_mib_per_min / requests_per_min:.2f} MiB per 1,000 requests"
                if t.own_mib_per_min is not None and t.role == DRIVER
                else ""
            )
            verdict = f"not judged ({verdict}{per_k})"
        idle = "-" if t.idle_rss is None else f"{t.idle_rss:.1f}"
        cpu = "-" if t.cpu_percent is None else f"{t.cpu_percent:.1f}%"
        print(
            f"{name:<26} {idle:>7} {t.start_rss:>7.1f} {t.end_rss:>7.1f} {slope:>8} "
            f"{growth:>7}  {t.start_own:6.1f}/{t.end_own:6.1f} {cpu:>6}  {verdict}"
        )
    ends = [s for s in sampler.samples if s.tag in ("start", "end")]
    came_or_went = [
        f"{name} (pid {t.pid})"
        for name, t in zip(names, found, strict=True)
        if any(t.pid not in s.mib for s in ends)
    ]
    if came_or_went:
        print(f"processes that started or ended during the measured phase: {came_or_went}")
    not_flat = [n for n, t in zip(names, found, strict=True) if t.judged and t.flat is False]
    emulation = [t for t in found if t.judged]

    summary = result.summary
    expected = ORBITAL_CAUSES | (FAULT_CAUSES if args.faults else frozenset())
    problems = accounting_problems(summary, expected)
    acc = summary["orbitmesh"]["accounting"]
    fidelity = summary["orbitmesh"]["fidelity"]
    causes = f" {acc['failed']}" if acc["failed"] else ""
    print(
        f"load: {acc['issued']:,} issued ({acc['warmup_excluded']:,} in the warm-up), "
        f"{acc['sent']:,} measured: {acc['succeeded']:,} succeeded, "
        f"{sum(acc['failed'].values()):,} failed{causes}, "
        f"{acc['cancelled']:,} cancelled at the end; {summary['rps']:.1f} rps; emulation "
        f"error p50 {fidelity['error_ms']['p50']} ms, p99 {fidelity['error_ms']['p99']} ms "
        f"(floor of the same run p99 {fidelity['floor_ms']['p99']} ms)"
    )
    cost = status.get("publish_cost") or {}
    print(
        f"ticks: {status.get('ticks_published', 0):,} published, "
        f"{status.get('ticks_late', 0):,} late; publishing per tick (last batch): "
        f"geometry {cost.get('compute_ms', 0):.1f} ms, to Ray {cost.get('send_ms', 0):.1f} ms, "
        f"{cost.get('mb', 0):.1f} MB"
    )
    faults = status.get("faults", {})
    if args.faults:
        print(f"faults begun during the run: {faults.get('begun') or 'none'}")
    print("accounting: " + ("every request accounted for" if not problems else "; ".join(problems)))
    figures["steal_percent"] = steal.percent()
    print(f"CPU steal during the run: {figures['steal_percent']:.1f}%")
    died = result.emulation_died
    passed = not not_flat and not problems and not died
    print(
        f"verdict: {'PASS' if passed else 'FAIL'}: "
        f"{len(emulation) - len(not_flat)} of {len(emulation)} emulation processes flat "
        f"within {FLAT_SHARE:.0%}"
        + (f" (not: {', '.join(not_flat)})" if not_flat else "")
        + ("; the emulation died" if died else "")
    )
    gcs = next((t for t in found if t.role == "gcs_server"), None)
    figures |= {
        "scenario": args.scenario,
        "faults": args.faults,
        "minutes": args.minutes,
        "ticks_published": status.get("ticks_published"),
        "ticks_late": status.get("ticks_late"),
        "publish_compute_ms_per_tick": cost.get("compute_ms"),
        "publish_send_ms_per_tick": cost.get("send_ms"),
        "publish_mb_per_tick": cost.get("mb"),
        "target_rps": args.rps,
        "achieved_rps": summary["rps"],
        "requests_issued": acc["issued"],
        "requests_succeeded": acc["succeeded"],
        "failures_by_cause": summary["orbitmesh"]["failures_by_cause"],
        "cancelled": acc["cancelled"],
        "accounting_problems": problems,
        "faults_begun": faults.get("begun"),
        "error_ms_p50": fidelity["error_ms"]["p50"],
        "error_ms_p99": fidelity["error_ms"]["p99"],
        "gcs_server_rss_mib_per_min": gcs.rss_mib_per_min if gcs else None,
        "processes": dict(zip(names, (t.as_json() for t in found), strict=True)),
        "rss_start_sum_mib": sum(t.start_rss for t in found),
        "rss_end_sum_mib": sum(t.end_rss for t in found),
        "not_flat": not_flat,
        "emulation_died": died,
        "passed": passed,
    }
    print(f"every sample: {folder / 'memory.csv'}; the load test's files: {folder / 'load'}")
    print(json.dumps(_rounded(figures)))
    return 0 if passed else 1


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


if __name__ == "__main__":
    raise SystemExit(main())
