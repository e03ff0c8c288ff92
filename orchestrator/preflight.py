"""Pre-flight: what a scenario file's own checks cannot tell, found before anything starts.

``load_scenario`` checks the file; this module opens what it names, as ``orbitmesh up``
would, and reports what would fail there as the same ``file: field.path: problem``
lines:

- every ``[[model]]`` file is opened by ONNX Runtime exactly as a satellite opens it
  (``node/runtime.py``), and its tensors must be ones the protocol carries;
- the ``[app]`` entry is imported and must name a class with the members of
  :class:`~orbitmesh.node.app.SatelliteApp` and a constructor taking ``(context,
  config)``; nothing in it is called or instantiated (``os:system`` is a function, not
  an app, and stays uncalled);
- the memory the command would need is estimated from the scenario's sizes, before any
  satellite is expanded, and compared with what this machine has available;
- then the satellite catalog is built (TLE files, ids, per-satellite overrides).

:func:`preflight` is the front door: ``orbitmesh validate``, ``geometry`` and ``contacts``
call it through :func:`checked_catalog`, and ``up`` calls it before Ray starts.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from orbitmesh.checking import Checker, describe
from orbitmesh.node.app import APP_MEMBERS, AppSpec
from orbitmesh.orchestrator.placement import Placement
from orbitmesh.orchestrator.scenario import Scenario, ScenarioError, run_time_problems
from orbitmesh.orchestrator.selection import Selection

if TYPE_CHECKING:  # the catalog needs SGP4 and skyfield: the emulator extra
    from orbitmesh.orchestrator.catalog import SatelliteCatalog

__all__ = [
    "Command",
    "MemoryNeed",
    "available_memory_bytes",
    "checked_catalog",
    "memory_need",
    "preflight",
]

#: What is about to run: an emulation (``up``, and ``validate``, which answers for it),
#: one geometry tick (``geometry``) or a contact search (``contacts``).
Command = Literal["up", "geometry", "contacts"]

MIB = 2**20
GIB = 2**30

# Memory, measured. The emulation's processes: the hosts' fit in docs/performance.md
# ("Hosts and scale": PSS of every process of `up starlink-shell1` at 99, 396 and 1,584
# compute satellites, six hosts on two CPUs) is 970 MiB + 0.106 MiB per compute
# satellite; of the fixed part, each of the six hosts is about 60 MiB before its members.
# Since every host loads the compiled route searches at start (links/shortest.py,
# warm_up), 2026-12-06: 1.37 GiB PSS at 1,584 against 1.11 GiB, about 45 MiB a host more.
_FIT_FIXED_BYTES = 1_230 * MIB
_FIT_HOSTS = 6
HOST_BYTES = 105 * MIB
#: Per compute satellite in its host (state, server, an hour's track), from the same fit.
COMPUTE_SATELLITE_BYTES = int(0.106 * MIB)
# The orchestrator's own geometry, peak RSS over the imports, one process per size
# (2026-12-07, Walker shells of 10^3 to 3 x 10^5 satellites, 10 and 100 stations, compute
# "none"): catalog and engine, then what each command does with them. Per satellite and
# per station-satellite pair, rounded up from the largest of the fits.
#: ``up``: a batch of 50 ticks without routes and their published links (2.1-2.8 KiB a
#: satellite, 28-32 B a pair).
UP_GEOMETRY_SATELLITE_BYTES = 2_900
UP_GEOMETRY_PAIR_BYTES = 32
#: ``geometry``: one tick with routes from every station (0.38-0.43 KiB, 17 B a pair).
TICK_SATELLITE_BYTES = 512
TICK_PAIR_BYTES = 17
#: ``contacts``: elevations of every pair over a chunk of coarse samples (64 samples and
#: the two carried over; 72-76 B a pair and sample).
CONTACT_PAIR_SAMPLE_BYTES = 76
#: ``up``: every compute satellite's track, sampled every 10 s over the run and 60 s past
#: its end, computed at once in the orchestrator (300-322 B per satellite and sample).
TRACK_SAMPLE_BYTES = 320
#: How far past the run's end ``node_configs`` (orchestrator/launch.py) samples tracks.
_TRACK_PAST_END_S = 60.0
#: Ray's object store of a local ``up`` carries the published link state: 32 B per
#: satellite and tick for a +grid (two links of 16 B) and the ground links beside, for the
#: batch on its way and the ticks hosts keep (links/linkstate.py KEEP_S). 48 B per
#: satellite and tick, 64 ticks; never less than local_ray.py's default.
LINK_STATE_SATELLITE_TICK_BYTES = 48
LINK_STATE_TICKS = 64
#: The object store the fit above was measured with (local_ray.py's default).
OBJECT_STORE_BYTES_IN_FIT = 200 * MIB
#: A process that has imported the geometry (numpy, scipy, skyfield, SGP4, the Sun
#: ephemeris): 85 MiB peak RSS here.
PROCESS_BYTES = 90 * MIB


@dataclass(frozen=True)
class MemoryNeed:
    """The memory a command would need, by part: (what, bytes)."""

    parts: tuple[tuple[str, int], ...]

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.parts)

    def describe(self) -> str:
        return "; ".join(f"{what} {_size(size)}" for what, size in self.parts if size > 0)


def _size(n_bytes: float) -> str:
    if n_bytes >= GIB:
        return f"{n_bytes / GIB:,.1f} GiB"
    return f"{math.ceil(n_bytes / MIB):,d} MiB"


def available_memory_bytes() -> float:
    """Memory this machine can give a new workload now: Linux's ``MemAvailable`` (free
    memory plus the caches it can drop), else all physical memory, else infinity (cannot
    tell, so nothing is refused)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except (OSError, ValueError, IndexError):
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return math.inf


def _selected(selection: Selection, satellites: int) -> int:
    """How many satellites a selection keeps, without expanding the catalog."""
    if selection.mode == "all":
        return satellites
    if selection.mode == "every":
        return -(-satellites // selection.every)
    if selection.mode == "list":
        return min(len(selection.ids), satellites)
    return 0


def _tle_count(scenario: Scenario) -> int:
    """TLE and OMM satellites (a file that does not read counts none: the catalog
    reports it)."""
    from orbitmesh.orchestrator.omm import OmmError, read_omm_file
    from orbitmesh.orchestrator.tle import TleError, read_tle_file

    count = 0
    for specs, read in ((scenario.tles, read_tle_file), (scenario.omm, read_omm_file)):
        for spec in specs:
            if spec.names is not None:
                count += len(spec.names)
                continue
            with contextlib.suppress(TleError, OmmError):
                count += len(read(spec.path))
    return count


def object_store_bytes(scenario: Scenario) -> int:
    """Ray's object store for a local emulation of ``scenario`` (see above)."""
    from orbitmesh.orchestrator.local_ray import OBJECT_STORE_BYTES

    satellites = sum(shell.size for shell in scenario.shells) + _tle_count(scenario)
    link_state = LINK_STATE_SATELLITE_TICK_BYTES * LINK_STATE_TICKS * satellites
    return max(OBJECT_STORE_BYTES, link_state)


def memory_need(
    scenario: Scenario,
    command: Command = "up",
    *,
    duration_s: float | None = None,
    satellites_per_host: int | None = None,
    stations_per_host: int | None = None,
    cpus: int | None = None,
) -> MemoryNeed:
    """What ``command`` would need for this scenario, from its sizes alone (the catalog is
    not built: a scenario too big to run is too big to expand). ``cpus`` sizes the hosts
    of ``up`` on local Ray (default: this machine's)."""
    satellites = (
        sum(shell.size for shell in scenario.shells)
        + _tle_count(scenario)
        + sum(cluster.members for cluster in scenario.clusters)
    )
    # Terminals are ground nodes like stations: a pair, a route source, a gateway each.
    stations = len(scenario.ground_stations) + sum(t.size for t in scenario.terminals)
    pairs = satellites * stations
    duration = scenario.time.duration_s if duration_s is None else duration_s
    if command == "geometry":
        return MemoryNeed(
            (
                ("this process", PROCESS_BYTES),
                (
                    f"one tick of {satellites:,} satellites and {stations:,} stations",
                    TICK_SATELLITE_BYTES * satellites + TICK_PAIR_BYTES * pairs,
                ),
            )
        )
    if command == "contacts":
        from orbitmesh.orchestrator.contacts import COARSE_STEP_S, chunk_samples

        samples = min(chunk_samples(satellites, stations), math.ceil(duration / COARSE_STEP_S) + 1)
        return MemoryNeed(
            (
                ("this process", PROCESS_BYTES),
                (
                    f"the search over {satellites:,} satellites and {stations:,} stations",
                    TICK_SATELLITE_BYTES * satellites
                    + CONTACT_PAIR_SAMPLE_BYTES * pairs * (samples + 2),
                ),
            )
        )
    compute = _selected(scenario.compute, satellites)
    placement = Placement.resolve(
        scenario.placement.with_overrides(satellites_per_host, stations_per_host),
        satellites=compute,
        stations=stations,
        cluster_cpus=float(cpus or os.cpu_count() or 1),
        available_cpus=float(cpus or os.cpu_count() or 1),
    )
    hosts = placement.satellite_hosts + placement.station_hosts
    from orbitmesh.orchestrator.geometry import _EPHEMERIS_STEP_S

    track_samples = math.ceil((duration + _TRACK_PAST_END_S) / _EPHEMERIS_STEP_S) + 1
    # Each satellite host opens every user model once; ONNX Runtime holds at least the
    # file's weights per session.
    model_bytes = sum(_file_size(m.path) for m in scenario.nodes.models)
    return MemoryNeed(
        (
            (
                f"Ray, the orchestrator and {hosts:,} host processes",
                _FIT_FIXED_BYTES + HOST_BYTES * (hosts - _FIT_HOSTS),
            ),
            (f"{compute:,} compute satellites", COMPUTE_SATELLITE_BYTES * compute),
            (
                f"the geometry of {satellites:,} satellites and {stations:,} stations",
                UP_GEOMETRY_SATELLITE_BYTES * satellites + UP_GEOMETRY_PAIR_BYTES * pairs,
            ),
            (
                f"their tracks over {duration + _TRACK_PAST_END_S:,.0f} s",
                TRACK_SAMPLE_BYTES * compute * track_samples,
            ),
            (
                f"the models in {placement.satellite_hosts:,} hosts",
                model_bytes * placement.satellite_hosts,
            ),
            (
                "Ray's object store for the link state",
                object_store_bytes(scenario) - OBJECT_STORE_BYTES_IN_FIT,
            ),
        )
    )


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _check_models(scenario: Scenario, chk: Checker) -> None:
    """Open every user model as a satellite does: ONNX Runtime, then the protocol's view
    of its tensors."""
    from orbitmesh.node.runtime import ModelLoadError, ModelRuntime

    for model in scenario.nodes.models:
        try:
            ModelRuntime({model.name: model.path})
        except ModelLoadError as exc:
            chk.problem(f"{model.field_path}.path", f"cannot be served: {_one_line(exc)}")
    if "minilm" in scenario.nodes.node.builtin_models:
        from orbitmesh.node.models.minilm_files import require_minilm_packages
        from orbitmesh.node.models.text_input import MissingPackage

        try:
            require_minilm_packages("minilm")
        except MissingPackage as exc:
            chk.problem("node.builtin_models", _one_line(exc))


#: Each built-in model's file is smaller than this (tests/test_preflight.py checks it):
#: the bound on its weights' bits where the file is not opened. minilm holds 22.7 M
#: float32 weights (87 MiB).
BUILTIN_MODEL_MAX_BYTES: dict[str, int] = {
    "digits": 128 * 2**10,
    "digits-cnn": 128 * 2**10,
    "minilm": 96 * 2**20,
}


def _check_radiation(scenario: Scenario, duration_s: float | None, chk: Checker) -> None:
    """A satellite draws its upsets for the whole run when it starts, at most
    ``MAX_EVENTS`` per track: refuse a ``rate_scale`` that would pass it. The expected
    count over a Walker shell's orbit-average rate, with the weights of the largest model
    (bounded by its file's bits) and a factor of two for a track that lingers in the SAA."""
    from orbitmesh.node.radiation import MAX_EVENTS, orbit_average_rate

    params = scenario.radiation
    if not params.enabled or not scenario.shells:
        return
    sizes = [Path(m.path).stat().st_size for m in scenario.nodes.models if Path(m.path).is_file()]
    builtin = [BUILTIN_MODEL_MAX_BYTES[name] for name in scenario.nodes.node.builtin_models]
    weight_bits = 8 * max([*builtin, *sizes], default=0)
    run_s = scenario.time.duration_s if duration_s is None else duration_s
    worst = 0.0
    for shell in scenario.shells:
        per_bit_day = orbit_average_rate(
            params,
            params.upsets_per_bit_day,
            altitude_km=shell.altitude_km,
            inclination_deg=shell.inclination_deg,
        )
        worst = max(worst, per_bit_day * params.rate_scale * weight_bits * run_s / 86_400.0)
    if math.isfinite(worst) and 2.0 * worst <= MAX_EVENTS:
        return
    chk.problem(
        "radiation.rate_scale",
        f"would draw about {worst:.3g} weight upsets on one satellite over the run (at most "
        f"{MAX_EVENTS // 2:,} expected); lower rate_scale or the run's length",
    )


def _is_tensor_specs(value: Any) -> bool:
    from orbitmesh.protos.tensors import TensorSpec

    return isinstance(value, list | tuple) and all(isinstance(x, TensorSpec) for x in value)


def _declared(cls: type, member: str) -> bool:
    """Whether the class or a base annotates ``member`` (set by the constructor, then)."""
    return any(member in vars(klass).get("__annotations__", {}) for klass in cls.__mro__)


def _check_app_class(cls: type, entry: str, chk: Checker) -> None:
    """The members of SatelliteApp, read without calling anything: ``getattr_static``
    runs no descriptors, and the constructor is only matched against its signature."""
    missing = object()
    for member in APP_MEMBERS:
        value = inspect.getattr_static(cls, member, missing)
        if member == "infer":
            function = value.__func__ if isinstance(value, staticmethod | classmethod) else value
            if value is missing:
                chk.problem("app.entry", f"{entry} has no 'infer' method (see node/app.py)")
            elif not inspect.iscoroutinefunction(function):
                chk.problem("app.entry", f"{entry}.infer must be a coroutine function (async def)")
            continue
        if value is missing:
            if not _declared(cls, member):
                chk.problem("app.entry", f"{entry} has no {member!r} attribute (see node/app.py)")
            continue
        if isinstance(value, property) or hasattr(type(value), "__get__"):
            continue  # computed per instance: known only once it exists
        if member == "name" and (not isinstance(value, str) or not value.strip()):
            chk.problem(
                "app.entry", f"{entry}.name must be a non-empty string, got {describe(value)}"
            )
        elif member in ("inputs", "outputs") and not _is_tensor_specs(value):
            chk.problem(
                "app.entry",
                f"{entry}.{member} must be a list or tuple of TensorSpec, got {describe(value)}",
            )
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return  # no signature to read (a class implemented in C): the host will tell
    try:
        signature.bind(object(), {})
    except TypeError:
        chk.problem(
            "app.entry",
            f"{entry}'s constructor must take (context, config), its signature is {signature}",
        )


def _check_app(app: AppSpec, chk: Checker) -> None:
    """Import the app's module as a satellite host would (with ``app.path`` first on
    ``sys.path``) and check what the entry names. Importing runs the module's top level,
    as it will on every host; nothing the module defines is called."""
    module_name, _, class_name = app.entry.partition(":")
    saved_path = list(sys.path)
    if app.path is not None and app.path not in sys.path:
        sys.path.insert(0, app.path)
    try:
        importlib.invalidate_caches()
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            where = f" (looked in {app.path} and sys.path)" if app.path else ""
            chk.problem("app.entry", f"no module named {missing!r}{where}")
        else:
            chk.problem("app.entry", f"importing {module_name!r} failed: {_one_line(exc)}")
        return
    except (Exception, SystemExit) as exc:  # the module's own code: anything can happen
        chk.problem(
            "app.entry",
            f"importing {module_name!r} failed: {type(exc).__name__}: {_one_line(exc)}",
        )
        return
    finally:
        sys.path[:] = saved_path
    found = inspect.getattr_static(module, class_name, None)
    if found is None and "__getattr__" in vars(module):
        # A module that provides names lazily (PEP 562): looking the name up is how the
        # host's import finds it too.
        try:
            found = getattr(module, class_name, None)
        except Exception as exc:  # the module's own code
            chk.problem(
                "app.entry",
                f"looking up {class_name!r} in {module_name!r} failed: "
                f"{type(exc).__name__}: {_one_line(exc)}",
            )
            return
    if found is None:
        chk.problem("app.entry", f"module {module_name!r} has no attribute {class_name!r}")
    elif not inspect.isclass(found):
        chk.problem(
            "app.entry",
            f"{app.entry} is not a class but {_describe_kind(found)} (an app is a class, "
            "see node/app.py)",
        )
    else:
        _check_app_class(found, app.entry, chk)


def _describe_kind(value: object) -> str:
    """``a function``, ``a module``, ``an int``: what an entry named instead of a class."""
    if inspect.isroutine(value):
        return "a function"
    if inspect.ismodule(value):
        return "a module"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _overridden_time(
    scenario: Scenario, speed: float | None, duration_s: float | None, chk: Checker
) -> bool:
    """The run's time checks again with the command line's speed and duration; whether
    they pass."""
    if speed is None and duration_s is None:
        return True
    t = scenario.time
    options = {"time.speed": "--speed", "time.duration_s": "--duration"}
    problems = run_time_problems(
        t.start, t.duration_s if duration_s is None else duration_s, t.step_s, speed or t.speed
    )
    for problem in problems:
        chk.problem(f"{problem.path} ({options.get(problem.path, 'as given')})", problem.message)
    return not problems


def _preflight(
    scenario: Scenario,
    command: Command,
    speed: float | None,
    duration_s: float | None,
    satellites_per_host: int | None,
    stations_per_host: int | None,
    available_bytes: float | None,
    searched_s: float | None = None,
) -> tuple[list[str], SatelliteCatalog | None]:
    """``duration_s`` is ``up``'s override of the run's length (checked like the file's);
    ``searched_s`` the length ``contacts`` searches, which only sizes its memory."""
    chk = Checker(scenario.source)
    time_ok = _overridden_time(scenario, speed, duration_s, chk)
    _check_models(scenario, chk)
    if time_ok:
        _check_radiation(scenario, duration_s, chk)
    if scenario.nodes.app is not None:
        _check_app(scenario.nodes.app, chk)
    if not time_ok:  # the memory depends on the run's length: known once it is right
        return chk.problems, None
    need = memory_need(
        scenario,
        command,
        duration_s=duration_s if searched_s is None else searched_s,
        satellites_per_host=satellites_per_host,
        stations_per_host=stations_per_host,
    )
    available = available_memory_bytes() if available_bytes is None else available_bytes
    if need.total_bytes > available:
        verb = {"up": "run", "geometry": "compute a tick", "contacts": "search for contacts"}
        chk.problem(
            "",
            f"needs about {_size(need.total_bytes)} of memory to {verb[command]} "
            f"({need.describe()}), more than the {_size(available)} available on this machine",
        )
        return chk.problems, None
    from orbitmesh.orchestrator.catalog import build_catalog

    try:
        catalog = build_catalog(scenario)
    except ScenarioError as exc:
        return [*chk.problems, *exc.problems], None
    if scenario.faults:
        _check_fault_targets(scenario, catalog, duration_s, chk)
    return chk.problems, catalog


def _check_fault_targets(
    scenario: Scenario, catalog: SatelliteCatalog, duration_s: float | None, chk: Checker
) -> None:
    """Fault targets exist in the catalog, and timed faults fall within the run."""
    from orbitmesh.orchestrator.faultplan import planes_of
    from orbitmesh.orchestrator.faults import check_targets

    check_targets(
        scenario.faults,
        chk,
        duration_s=scenario.time.duration_s if duration_s is None else duration_s,
        satellites=catalog.ids,
        planes=planes_of(catalog),
        stations=[g.name for g in scenario.ground_stations]
        + [tid for terminal in scenario.terminals for tid in terminal.ids],
    )


def preflight(
    scenario: Scenario,
    *,
    command: Command = "up",
    speed: float | None = None,
    duration_s: float | None = None,
    satellites_per_host: int | None = None,
    stations_per_host: int | None = None,
    available_bytes: float | None = None,
) -> list[str]:
    """Every problem ``command`` would meet with this (loaded) scenario, one line each;
    empty when it can run.

    ``speed``, ``duration_s`` and the per-host sizes are the command line's overrides of
    the scenario's (None: the scenario's). ``available_bytes`` is the memory the run may
    use (None: what this machine has available now; ``math.inf`` for a Ray cluster,
    whose memory is the cluster's to judge).
    """
    problems, _ = _preflight(
        scenario,
        command,
        speed,
        duration_s,
        satellites_per_host,
        stations_per_host,
        available_bytes,
    )
    return problems


def checked_catalog(
    scenario: Scenario,
    *,
    command: Command = "up",
    duration_s: float | None = None,
    available_bytes: float | None = None,
) -> SatelliteCatalog:
    """:func:`preflight` for ``validate``, ``geometry`` and ``contacts`` (``duration_s``:
    the length a contact search covers), then the catalog it built; raises ScenarioError
    with every problem."""
    problems, catalog = _preflight(
        scenario, command, None, None, None, None, available_bytes, searched_s=duration_s
    )
    if problems or catalog is None:
        raise ScenarioError(problems)
    return catalog
