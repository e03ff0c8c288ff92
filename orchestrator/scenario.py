"""Scenario files: the typed, validated description of one emulation.

A scenario is a TOML file (or the name of a built-in one). Loading it checks every
field and reports *all* problems at once, each as ``file: field.path: what is wrong``,
so a user fixes a file in one pass instead of one error per run.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NamedTuple

from orbitmesh.checking import Checker, ParamProblem, describe, exact_number, id_text
from orbitmesh.node.radiation import RadiationParams, parse_radiation
from orbitmesh.orchestrator.faults import FaultSpec, parse_faults
from orbitmesh.orchestrator.formation import ClusterSpec, parse_cluster
from orbitmesh.orchestrator.node_profile import SHELL_PROFILE_KEYS, NodeProfile, parse_node_profile
from orbitmesh.orchestrator.placement import PlacementSpec, parse_placement
from orbitmesh.orchestrator.selection import Selection, parse_selection
from orbitmesh.orchestrator.sunsync import parse_plane
from orbitmesh.orchestrator.terminals import TerminalSpec, parse_terminal

__all__ = [
    "BUILTIN_SCENARIOS",
    "MAX_TICKS_PER_WALL_S",
    "MIN_STEP_S",
    "ClusterSpec",
    "ComputeSpec",
    "EphemerisSpan",
    "GroundStationSpec",
    "LinksSpec",
    "OmmSourceSpec",
    "Scenario",
    "ScenarioError",
    "ShellSpec",
    "TimeSpec",
    "TleSourceSpec",
    "builtin_station_list",
    "ephemeris_span",
    "load_scenario",
    "parse_scenario",
    "parse_time_arg",
    "run_time_problems",
    "span_problem",
]

IslTopology = Literal["plus-grid", "nearest", "none"]
ISL_TOPOLOGIES: tuple[IslTopology, ...] = ("plus-grid", "nearest", "none")

#: Built-in scenarios, loadable by name (files in orchestrator/builtin/).
BUILTIN_SCENARIOS: tuple[str, ...] = (
    "demo",
    "starlink-shell1",
    "kuiper-630",
    "iridium",
    "spacex-odc",
    "suncatcher-81",
    "d2d-kuiper",
)
#: Built-in ground-station lists usable from ``[[ground_station_set]]``.
BUILTIN_STATION_LISTS: tuple[str, ...] = ("metros",)


class ScenarioError(Exception):
    """A scenario that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = [_printable(line) for line in problems]
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[type[ScenarioError], tuple[list[str]]]:
        # Pickled as its problems (Ray carries it between processes), not as its message.
        return type(self), (self.problems,)


def _printable(line: str) -> str:
    """One printable line: a key spelled with a newline or another control character
    (TOML allows any in a quoted key) is shown escaped, as Python would write it."""
    if line.isprintable():
        return line
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in line)


@dataclass(frozen=True)
class TimeSpec:
    start: datetime
    duration_s: float
    step_s: float
    speed: float


@dataclass(frozen=True)
class ShellSpec:
    """A Walker constellation shell i:T/P/F (T = planes * sats_per_plane)."""

    name: str
    altitude_km: float
    inclination_deg: float
    planes: int
    sats_per_plane: int
    phasing: int
    raan_spread_deg: float
    raan_offset_deg: float = 0.0
    #: Inclination set by the J2 nodal rate so that the node turns with the Sun.
    sun_synchronous: bool = False
    #: Local time of the first plane's ascending node at the epoch (hours), or None:
    #: the node is at raan_offset_deg (orchestrator/sunsync.py).
    ltan_h: float | None = None

    @property
    def size(self) -> int:
        return self.planes * self.sats_per_plane


@dataclass(frozen=True)
class TleSourceSpec:
    path: Path
    names: tuple[str, ...] | None  # filter by name or catalog number; None keeps all
    field_path: str  # where in the scenario this came from, for error messages


#: An ``[[omm]]`` entry holds the same facts as a ``[[tle]]`` one: a file and a filter.
OmmSourceSpec = TleSourceSpec


@dataclass(frozen=True)
class GroundStationSpec:
    name: str
    lat_deg: float
    lon_deg: float
    alt_m: float
    min_elevation_deg: float


@dataclass(frozen=True)
class LinksSpec:
    isl: IslTopology = "plus-grid"
    isl_range_km: float = 5000.0
    isl_neighbours: int = 4  # k for the "nearest" topology
    isl_bandwidth_mbps: float = 10_000.0
    gsl_bandwidth_mbps: float = 1_000.0
    #: Routes longer than this are not computed each tick (None: all routes). Bounds the
    #: search for very large constellations; see docs/scenarios.md.
    route_horizon_ms: float | None = None
    #: Probability that a packet is lost crossing one link (retransmissions add delay).
    loss_rate: float = 0.0
    #: Seed of the loss draws, for repeatable runs (None: a fresh seed each run).
    loss_seed: int | None = None


#: Which satellites run compute actors (``[compute] satellites``).
ComputeSpec = Selection


@dataclass(frozen=True)
class Scenario:
    name: str
    source: str  # file name used in messages ("demo.toml", "my/scenario.toml")
    base_dir: Path
    time: TimeSpec
    shells: tuple[ShellSpec, ...]
    tles: tuple[TleSourceSpec, ...]
    #: OMM files (docs/scenarios.md); their satellites follow the TLE files'.
    omm: tuple[OmmSourceSpec, ...]
    ground_stations: tuple[GroundStationSpec, ...]
    links: LinksSpec = field(default_factory=LinksSpec)
    compute: ComputeSpec = field(default_factory=ComputeSpec)
    #: What compute satellites are made of: power, heat, queue, models.
    nodes: NodeProfile = field(default_factory=NodeProfile)
    #: How satellites and stations are packed into host processes.
    placement: PlacementSpec = field(default_factory=PlacementSpec)
    #: ``[[fault]]`` entries (docs/faults.md) and the seed of their random draws.
    faults: tuple[FaultSpec, ...] = ()
    fault_seed: int = 0
    #: ``[radiation]``: upsets, latch-ups and dose (disabled unless the table says so).
    radiation: RadiationParams = field(default_factory=RadiationParams)
    #: ``[[cluster]]`` formations (orchestrator/formation.py); their members follow the
    #: TLE and OMM satellites.
    clusters: tuple[ClusterSpec, ...] = ()
    #: ``[[terminal]]`` direct-to-device terminals (orchestrator/terminals.py): ground
    #: nodes like stations, after them in every station order, that may move.
    terminals: tuple[TerminalSpec, ...] = ()


def _parse_time(value: Any, path: str, chk: Checker) -> datetime | None:
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            chk.problem(
                path, f"must be an ISO 8601 time such as 2026-03-20T12:00:00Z, got {value!r}"
            )
            return None
    else:
        chk.problem(path, f"must be an ISO 8601 time, got {describe(value)}")
        return None
    if stamp.tzinfo is None:
        chk.problem(path, "must carry a time zone (append Z for UTC)")
        return None
    try:
        return stamp.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        chk.problem(path, f"is outside the years 1 to 9999 in UTC, got {stamp.isoformat()}")
        return None


def parse_time_arg(text: str) -> datetime:
    """Parse a command-line ISO 8601 time; naive times are taken as UTC. Raises
    ValueError for anything else (a time that leaves the years 1 to 9999 in UTC too)."""
    stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    try:
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is outside the years 1 to 9999 in UTC") from None


# --------------------------------------------------------------------------- run time

#: The orchestrator computes and publishes at most about this many ticks per wall
#: second: 140 for the demo's 144 satellites on an idle 2-core machine (docs/emulation.md,
#: 2026-12-02), 192 while it fills its first window (issue 11: 10,000 ticks of the demo in
#: 52 s). A run that asks for more (``speed / step_s``) falls further behind its clock
#: every second, so every tick after the first few is late.
MAX_TICKS_PER_WALL_S = 140.0
#: Before the clock starts, the orchestrator publishes the first 10 simulated seconds of
#: ticks (its look-ahead, ``EmulationOptions.ahead_s``) whatever the speed, and ``up``
#: waits for them: 100 ticks at this step, under a second at the rate above. At 0.001 s
#: it was 10,000 ticks and 52 s (issue 11), at 0.000001 s ten million. A LEO satellite
#: moves 750 m in 0.1 s, and a link's delay by at most 2.5 microseconds.
MIN_STEP_S = 0.1
#: The run must stay this far inside the Sun ephemeris: the Sun is sampled every 600 s
#: around each instant (orchestrator/sunlight.py), satellites' tracks run 60 s past the
#: end (orchestrator/launch.py), and the ephemeris counts TDB, about a minute off UTC.
_EPHEMERIS_MARGIN = timedelta(days=1)
#: Julian date of 2000-01-01T12:00 (J2000), for reading the ephemeris's span as dates.
_J2000_JD = 2451545.0
_J2000 = datetime(2000, 1, 1, 12, tzinfo=UTC)


class EphemerisSpan(NamedTuple):
    """Where the geometry can be computed: whole UTC days inside the Sun ephemeris."""

    first: datetime
    last: datetime
    file: str  # the ephemeris file's name, for messages

    def describe(self) -> str:
        return (
            f"{_stamp(self.first)} .. {_stamp(self.last)} (the Sun ephemeris {self.file} "
            "that skyfield-data ships, a day inside each end)"
        )


def _stamp(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


@cache
def ephemeris_span() -> EphemerisSpan:
    """The span of the Sun ephemeris the geometry uses, read from the file itself.

    Every segment must cover an instant (the Sun, the Earth and the barycentres between
    them), so the span is the one all segments share, a day inside each end and rounded
    inwards to whole days (dates of TDB taken as UTC: the day covers the difference).
    """
    # Deferred: the ephemeris and skyfield are the emulator extra's (docs/architecture.md).
    from orbitmesh.orchestrator.sunlight import _ephemeris

    kernel = _ephemeris()
    first_jd = max(seg.spk_segment.start_jd for seg in kernel.segments)
    last_jd = min(seg.spk_segment.end_jd for seg in kernel.segments)

    def day(jd: float, inwards: int) -> datetime:
        when = _J2000 + timedelta(days=jd - _J2000_JD) + inwards * _EPHEMERIS_MARGIN
        midnight = when.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight + timedelta(days=1) if inwards > 0 and midnight < when else midnight

    return EphemerisSpan(day(first_jd, +1), day(last_jd, -1), str(kernel.filename))


def span_problem(start: datetime, duration_s: float) -> ParamProblem | None:
    """Whether ``[start, start + duration_s]`` lies where the geometry can be computed;
    the problem names ``time.start`` or ``time.duration_s``."""
    span = ephemeris_span()
    if not span.first <= start <= span.last:
        return ParamProblem("time.start", f"must lie within {span.describe()}, got {_stamp(start)}")
    room_s = (span.last - start).total_seconds()
    if duration_s > room_s:
        return ParamProblem(
            "time.duration_s",
            f"must end the run within {span.describe()}: at most "
            f"{exact_number(room_s)} s after time.start, got {exact_number(duration_s)}",
        )
    return None


def run_time_problems(
    start: datetime | None, duration_s: float | None, step_s: float | None, speed: float | None
) -> list[ParamProblem]:
    """What the orchestrator cannot run among values each valid on its own (None: a
    value with a problem of its own, not checked again)."""
    problems: list[ParamProblem] = []
    if step_s is not None and step_s < MIN_STEP_S:
        problems.append(
            ParamProblem(
                "time.step_s",
                f"must be at least {exact_number(MIN_STEP_S)} (the orchestrator publishes "
                f"10 simulated seconds of ticks before the clock starts), got "
                f"{exact_number(step_s)}",
            )
        )
    elif step_s is not None and speed is not None and speed / step_s > MAX_TICKS_PER_WALL_S:
        problems.append(
            ParamProblem(
                "time.speed",
                f"must be at most {exact_number(MAX_TICKS_PER_WALL_S * step_s)} at step_s "
                f"{exact_number(step_s)} (the orchestrator computes and publishes about "
                f"{exact_number(MAX_TICKS_PER_WALL_S)} ticks per wall second, speed / "
                f"step_s), got {exact_number(speed)}",
            )
        )
    if start is not None and duration_s is not None:
        span = span_problem(start, duration_s)
        if span is not None:
            problems.append(span)
    return problems


# --------------------------------------------------------------------------- sections

_TOP_KEYS = (
    "name",
    "time",
    "shell",
    "tle",
    "omm",
    "cluster",
    "ground_station",
    "ground_station_set",
    "terminal",
    "links",
    "compute",
    "power",
    "thermal",
    "node",
    "model",
    "satellite",
    "app",
    "accelerator",
    "placement",
    "fault",
    "faults",
    "radiation",
)
_TIME_KEYS = ("start", "duration_s", "step_s", "speed")
_SHELL_KEYS = (
    "name",
    "altitude_km",
    "inclination_deg",
    "planes",
    "sats_per_plane",
    "phasing",
    "raan_spread_deg",
    "raan_offset_deg",
    "sun_synchronous",
    "ltan",
    *SHELL_PROFILE_KEYS,
)
_TLE_KEYS = ("path", "names")
_OMM_KEYS = ("path", "names")
_STATION_KEYS = ("name", "lat_deg", "lon_deg", "alt_m", "min_elevation_deg")
_STATION_SET_KEYS = ("builtin", "count", "min_elevation_deg", "alt_m")
_LINK_KEYS = (
    "isl",
    "isl_range_km",
    "isl_neighbours",
    "isl_bandwidth_mbps",
    "gsl_bandwidth_mbps",
    "route_horizon_ms",
    "loss_rate",
    "loss_seed",
)
_COMPUTE_KEYS = ("satellites",)

#: SGP4's near-Earth model and our 80 km line-of-sight margin make orbits below this
#: altitude meaningless (they decay within days).
MIN_ALTITUDE_KM = 150.0
MAX_ALTITUDE_KM = 50_000.0


def _parse_time_section(raw: Any, chk: Checker) -> TimeSpec | None:
    table = chk.table(raw, "time")
    if table is None:
        return None
    chk.unknown_keys(table, _TIME_KEYS, "time")
    start = _parse_time(table["start"], "time.start", chk) if "start" in table else None
    if "start" not in table:
        chk.problem("time.start", "is required")
    duration = chk.positive(
        chk.get(table, "duration_s", "time", chk.number, 3600.0), "time.duration_s"
    )
    step = chk.positive(chk.get(table, "step_s", "time", chk.number, 1.0), "time.step_s")
    speed = chk.positive(chk.get(table, "speed", "time", chk.number, 1.0), "time.speed")
    if duration is not None and step is not None and step > duration:
        limit = f"must not exceed time.duration_s ({exact_number(duration)})"
        chk.problem("time.step_s", f"{limit}, got {exact_number(step)}")
        return None
    problems = run_time_problems(start, duration, step, speed)
    for problem in problems:
        chk.problem(problem.path, problem.message)
    if start is None or duration is None or step is None or speed is None or problems:
        return None
    return TimeSpec(start=start, duration_s=duration, step_s=step, speed=speed)


def _parse_shell(table: Mapping[str, Any], path: str, chk: Checker) -> ShellSpec | None:
    chk.unknown_keys(table, _SHELL_KEYS, path)
    name = chk.get(table, "name", path, chk.string)
    if name is not None and ("-" in name or not name.isprintable() or " " in name):
        chk.problem(
            f"{path}.name",
            f"must not contain '-' or spaces (ids are <shell>-<plane>-<slot>), got {name!r}",
        )
        name = None
    altitude = chk.within(
        chk.get(table, "altitude_km", path, chk.number),
        f"{path}.altitude_km",
        MIN_ALTITUDE_KM,
        MAX_ALTITUDE_KM,
    )
    plane = parse_plane(table, path, chk, altitude, node_key="raan_offset_deg")
    sun_synchronous, inclination, ltan_h, ltan_ok = plane
    planes = chk.get(table, "planes", path, chk.integer)
    per_plane = chk.get(table, "sats_per_plane", path, chk.integer)
    phasing = chk.get(table, "phasing", path, chk.integer, 0)
    spread = chk.within(
        chk.get(table, "raan_spread_deg", path, chk.number, 360.0),
        f"{path}.raan_spread_deg",
        0,
        360,
        open_low=True,
    )
    offset = chk.within(
        chk.get(table, "raan_offset_deg", path, chk.number, 0.0),
        f"{path}.raan_offset_deg",
        -360,
        360,
    )
    if planes is not None and planes < 1:
        chk.problem(f"{path}.planes", f"must be at least 1, got {planes}")
        planes = None
    if per_plane is not None and per_plane < 1:
        chk.problem(f"{path}.sats_per_plane", f"must be at least 1, got {per_plane}")
        per_plane = None
    # Walker's phasing factor F takes the values 0 .. P-1; anything else repeats a pattern
    # (F and F+P describe the same constellation) or is meaningless.
    if phasing is not None and planes is not None and not 0 <= phasing < planes:
        chk.problem(
            f"{path}.phasing", f"must be within [0, planes - 1] = [0, {planes - 1}], got {phasing}"
        )
        phasing = None
    if (
        name is None
        or altitude is None
        or inclination is None
        or planes is None
        or per_plane is None
        or phasing is None
        or spread is None
        or offset is None
        or sun_synchronous is None
        or not ltan_ok
    ):
        return None
    return ShellSpec(
        name=name,
        altitude_km=altitude,
        inclination_deg=inclination,
        planes=planes,
        sats_per_plane=per_plane,
        phasing=phasing,
        raan_spread_deg=spread,
        raan_offset_deg=offset,
        sun_synchronous=bool(sun_synchronous),
        ltan_h=ltan_h,
    )


def _parse_tle_source(
    table: Mapping[str, Any],
    path: str,
    base_dir: Path,
    chk: Checker,
    keys: Sequence[str] = _TLE_KEYS,
) -> TleSourceSpec | None:
    chk.unknown_keys(table, keys, path)
    rel = chk.get(table, "path", path, chk.string)
    file: Path | None = None
    if rel is not None:
        file = Path(rel).expanduser()
        if not file.is_absolute():
            file = base_dir / file
        if not file.is_file():
            chk.problem(f"{path}.path", f"no such file: {file}")
            file = None
    names: tuple[str, ...] | None = None
    if "names" in table:
        raw = table["names"]
        if not isinstance(raw, list) or not raw:
            chk.problem(
                f"{path}.names",
                f"must be a non-empty array of names or catalog numbers, got {describe(raw)}",
            )
            return None
        good: list[str] = []
        for i, item in enumerate(raw):
            checked = chk.string(id_text(item), f"{path}.names[{i}]")
            if checked is not None:
                good.append(checked.strip())
        if len(good) != len(raw):
            return None
        names = tuple(good)
    if file is None:
        return None
    return TleSourceSpec(path=file, names=names, field_path=path)


def _parse_omm_source(
    table: Mapping[str, Any], path: str, base_dir: Path, chk: Checker
) -> OmmSourceSpec | None:
    """Read as a ``[[tle]]`` entry; the file's extension picks its format when the catalog
    reads it (orchestrator/omm.py), with the problems of its contents."""
    return _parse_tle_source(table, path, base_dir, chk, _OMM_KEYS)


def _parse_station(table: Mapping[str, Any], path: str, chk: Checker) -> GroundStationSpec | None:
    chk.unknown_keys(table, _STATION_KEYS, path)
    name = chk.get(table, "name", path, chk.string)
    lat = chk.within(chk.get(table, "lat_deg", path, chk.number), f"{path}.lat_deg", -90, 90)
    lon = chk.within(chk.get(table, "lon_deg", path, chk.number), f"{path}.lon_deg", -180, 180)
    alt = chk.within(chk.get(table, "alt_m", path, chk.number, 0.0), f"{path}.alt_m", -500, 9000)
    mask = chk.within(
        chk.get(table, "min_elevation_deg", path, chk.number, 25.0),
        f"{path}.min_elevation_deg",
        0,
        90,
    )
    if name is None or lat is None or lon is None or alt is None or mask is None:
        return None
    return GroundStationSpec(name=name, lat_deg=lat, lon_deg=lon, alt_m=alt, min_elevation_deg=mask)


def builtin_station_list(name: str) -> list[dict[str, Any]]:
    """The entries of a built-in ground-station list, most populous first."""
    if name not in BUILTIN_STATION_LISTS:
        raise KeyError(name)
    text = (
        resources.files("orbitmesh.orchestrator.builtin")
        .joinpath(f"{name}.toml")
        .read_text(encoding="utf-8")
    )
    entries: list[dict[str, Any]] = tomllib.loads(text)["station"]
    return entries


def _parse_station_set(
    table: Mapping[str, Any], path: str, chk: Checker
) -> list[GroundStationSpec]:
    chk.unknown_keys(table, _STATION_SET_KEYS, path)
    builtin = chk.get(table, "builtin", path, chk.string)
    if builtin is not None and builtin not in BUILTIN_STATION_LISTS:
        chk.problem(
            f"{path}.builtin",
            f"unknown list {builtin!r} (known: {', '.join(BUILTIN_STATION_LISTS)})",
        )
        builtin = None
    count = chk.get(table, "count", path, chk.integer, None)
    mask = chk.within(
        chk.get(table, "min_elevation_deg", path, chk.number, 25.0),
        f"{path}.min_elevation_deg",
        0,
        90,
    )
    alt = chk.within(chk.get(table, "alt_m", path, chk.number, 0.0), f"{path}.alt_m", -500, 9000)
    if builtin is None or mask is None or alt is None:
        return []
    entries = builtin_station_list(builtin)
    if count is not None and not 1 <= count <= len(entries):
        chk.problem(f"{path}.count", f"must be within [1, {len(entries)}], got {count}")
        return []
    chosen = entries if count is None else entries[:count]
    return [
        GroundStationSpec(
            name=str(e["name"]),
            lat_deg=float(e["lat_deg"]),
            lon_deg=float(e["lon_deg"]),
            alt_m=float(e.get("alt_m", alt)),
            min_elevation_deg=mask,
        )
        for e in chosen
    ]


def _parse_links(raw: Any, chk: Checker) -> LinksSpec | None:
    table = chk.table(raw, "links")
    if table is None:
        return None
    chk.unknown_keys(table, _LINK_KEYS, "links")
    defaults = LinksSpec()
    isl = chk.get(table, "isl", "links", chk.string, defaults.isl)
    if isl is not None and isl not in ISL_TOPOLOGIES:
        chk.problem("links.isl", f"must be one of {', '.join(ISL_TOPOLOGIES)}, got {isl!r}")
        isl = None
    rng = chk.positive(
        chk.get(table, "isl_range_km", "links", chk.number, defaults.isl_range_km),
        "links.isl_range_km",
    )
    k = chk.get(table, "isl_neighbours", "links", chk.integer, defaults.isl_neighbours)
    if k is not None and not 1 <= k <= 32:
        chk.problem("links.isl_neighbours", f"must be within [1, 32], got {k}")
        k = None
    isl_bw = chk.positive(
        chk.get(table, "isl_bandwidth_mbps", "links", chk.number, defaults.isl_bandwidth_mbps),
        "links.isl_bandwidth_mbps",
    )
    gsl_bw = chk.positive(
        chk.get(table, "gsl_bandwidth_mbps", "links", chk.number, defaults.gsl_bandwidth_mbps),
        "links.gsl_bandwidth_mbps",
    )
    horizon = chk.positive(
        chk.get(table, "route_horizon_ms", "links", chk.number, None), "links.route_horizon_ms"
    )
    bad_horizon = "route_horizon_ms" in table and horizon is None
    loss = chk.get(table, "loss_rate", "links", chk.number, defaults.loss_rate)
    if loss is not None and not 0.0 <= loss < 1.0:
        chk.problem("links.loss_rate", f"must be within [0, 1), got {exact_number(loss)}")
        loss = None
    seed = chk.get(table, "loss_seed", "links", chk.integer, None)
    bad_seed = "loss_seed" in table and seed is None
    if (
        isl is None
        or rng is None
        or k is None
        or isl_bw is None
        or gsl_bw is None
        or bad_horizon
        or loss is None
        or bad_seed
    ):
        return None
    return LinksSpec(
        isl=isl,
        isl_range_km=rng,
        isl_neighbours=k,
        isl_bandwidth_mbps=isl_bw,
        gsl_bandwidth_mbps=gsl_bw,
        route_horizon_ms=horizon,
        loss_rate=loss,
        loss_seed=seed,
    )


def _parse_compute(raw: Any, chk: Checker) -> ComputeSpec | None:
    table = chk.table(raw, "compute")
    if table is None:
        return None
    chk.unknown_keys(table, _COMPUTE_KEYS, "compute")
    return parse_selection(table.get("satellites", "all"), "compute.satellites", chk)


def _parse_faults_table(raw: Any, chk: Checker) -> int | None:
    """``[faults]``: the seed of the ``[[fault]]`` entries' random draws."""
    table = chk.table(raw, "faults")
    if table is None:
        return None
    chk.unknown_keys(table, ("seed",), "faults")
    seed = table.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        chk.problem("faults.seed", f"must be an integer within [0, 2**63), got {describe(seed)}")
        return None
    return seed


def parse_scenario(data: Mapping[str, Any], source: str, base_dir: Path) -> Scenario:
    """Validate already-parsed TOML data. Raises ScenarioError listing every problem."""
    chk = Checker(source)
    chk.unknown_keys(data, _TOP_KEYS, "")
    name = chk.get(data, "name", "", chk.string)
    time = _parse_time_section(data["time"], chk) if "time" in data else None
    if "time" not in data:
        chk.problem("time", "is required ([time] with at least start)")

    shells: list[ShellSpec] = []
    shell_tables: list[tuple[str, Mapping[str, Any], str]] = []
    for i, t in enumerate(chk.array_of_tables(data.get("shell", []), "shell")):
        shell = _parse_shell(t, f"shell[{i}]", chk)
        if shell is not None:
            shells.append(shell)
            shell_tables.append((shell.name, t, f"shell[{i}]"))
    tles = [
        tle_source
        for i, t in enumerate(chk.array_of_tables(data.get("tle", []), "tle"))
        if (tle_source := _parse_tle_source(t, f"tle[{i}]", base_dir, chk)) is not None
    ]
    omm = [
        omm_source
        for i, t in enumerate(chk.array_of_tables(data.get("omm", []), "omm"))
        if (omm_source := _parse_omm_source(t, f"omm[{i}]", base_dir, chk)) is not None
    ]
    clusters = [
        cluster
        for i, t in enumerate(chk.array_of_tables(data.get("cluster", []), "cluster"))
        if (cluster := parse_cluster(t, f"cluster[{i}]", chk)) is not None
    ]
    if not any(key in data for key in ("shell", "tle", "omm", "cluster")):
        chk.problem(
            "", "defines no satellites: add a [[shell]], [[tle]], [[omm]] or [[cluster]] section"
        )

    stations = [
        station
        for i, t in enumerate(chk.array_of_tables(data.get("ground_station", []), "ground_station"))
        if (station := _parse_station(t, f"ground_station[{i}]", chk)) is not None
    ]
    for i, t in enumerate(
        chk.array_of_tables(data.get("ground_station_set", []), "ground_station_set")
    ):
        stations.extend(_parse_station_set(t, f"ground_station_set[{i}]", chk))

    for kind, names in (
        ("shell", [s.name for s in shells]),
        ("ground_station", [g.name for g in stations]),
    ):
        for dup in sorted({n for n in names if names.count(n) > 1}):
            chk.problem(kind, f"name {dup!r} is used more than once")
    terminals = [
        terminal
        for i, t in enumerate(chk.array_of_tables(data.get("terminal", []), "terminal"))
        if (terminal := parse_terminal(t, f"terminal[{i}]", chk)) is not None
    ]
    taken = {g.name for g in stations}
    for terminal in terminals:
        for tid in sorted(set(terminal.ids) & taken):
            chk.problem("terminal", f"id {tid!r} is used more than once (stations and terminals)")
        taken.update(terminal.ids)
    cluster_names = [c.name for c in clusters]
    for dup in sorted({n for n in cluster_names if cluster_names.count(n) > 1}):
        chk.problem("cluster", f"name {dup!r} is used more than once")
    for clash in sorted(set(cluster_names) & {s.name for s in shells}):
        chk.problem("cluster", f"name {clash!r} is also a shell's (ids must tell them apart)")

    links = _parse_links(data["links"], chk) if "links" in data else LinksSpec()
    compute = _parse_compute(data["compute"], chk) if "compute" in data else ComputeSpec()
    nodes = parse_node_profile(data, shell_tables, base_dir, chk)
    placement = parse_placement(data["placement"], chk) if "placement" in data else PlacementSpec()
    faults = parse_faults(data["fault"], chk) if "fault" in data else ()
    fault_seed = _parse_faults_table(data["faults"], chk) if "faults" in data else 0
    radiation = (
        parse_radiation(data["radiation"], chk) if "radiation" in data else RadiationParams()
    )
    if (
        chk.problems
        or name is None
        or time is None
        or links is None
        or compute is None
        or nodes is None
        or placement is None
        or fault_seed is None
        or radiation is None
    ):
        raise ScenarioError(chk.problems)
    return Scenario(
        name=name,
        source=source,
        base_dir=base_dir,
        time=time,
        shells=tuple(shells),
        tles=tuple(tles),
        omm=tuple(omm),
        ground_stations=tuple(stations),
        links=links,
        compute=compute,
        nodes=nodes,
        placement=placement,
        faults=faults,
        fault_seed=fault_seed,
        radiation=radiation,
        clusters=tuple(clusters),
        terminals=tuple(terminals),
    )


def _read_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError([f"{source}: not valid TOML: {exc}"]) from None


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario file, or a built-in scenario by name (see BUILTIN_SCENARIOS)."""
    text_name = str(name_or_path)
    path = Path(text_name).expanduser()
    if text_name in BUILTIN_SCENARIOS and not path.is_file():
        source = f"{text_name}.toml"
        resource = resources.files("orbitmesh.orchestrator.builtin").joinpath(source)
        with resources.as_file(resource) as real:
            return parse_scenario(
                _read_toml(real.read_text(encoding="utf-8"), source), source, real.parent
            )
    if not path.is_file():
        known = ", ".join(BUILTIN_SCENARIOS)
        raise ScenarioError(
            [f"{text_name}: no such scenario file, and not a built-in scenario ({known})"]
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{text_name}: cannot read: {exc}"]) from None
    return parse_scenario(_read_toml(text, text_name), text_name, path.resolve().parent)
