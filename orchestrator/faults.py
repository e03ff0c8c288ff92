"""Faults by design: the scenario's ``[[fault]]`` entries and their schedule (pure).

A fault entry names a kind, its targets and when it strikes: at one simulated time
(``at_s``) or at random (``rate_per_hour``, a Poisson process per target). Kinds:

========================  =====================================================  =========
kind                      what happens                                           targets
========================  =====================================================  =========
``reboot``                the satellite is down for ``duration_s``; ``reset``   satellites
                          says what survives (``warm``: battery, heat, weights
                          with their upsets; ``cold``: upset weights reloaded)
``fail``                  the satellite is down for good                        satellites
``isl-down``              laser links are down for ``duration_s``: one link     links, planes
                          (``["a", "b"]``) or every link with an end in a
                          plane (``"shell1-3"``)
``station-down``          the ground station is down for ``duration_s``         stations
``weather``               the station's links carry ``rate_factor`` of their     stations
                          rate and lose ``loss_rate`` of packets
========================  =====================================================  =========

:func:`parse_faults` reads the entries (problems with their field paths, like every
scenario table); :func:`check_targets` checks what only the catalog can tell (ids, the
run's length); :func:`schedule` expands the entries into :class:`FaultEvent` s sorted by
start, the same for the same seed; :func:`faults_at` says what is down at one instant.
Nothing here imports Ray or gRPC: the running emulation applies the events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias, get_args

import numpy as np
from numpy.typing import NDArray

from orbitmesh.checking import Checker, describe, exact_number, id_text

__all__ = [
    "FAULT_KINDS",
    "MAX_RANDOM_EVENTS",
    "RESET_KINDS",
    "Duration",
    "ExponentialDuration",
    "FaultError",
    "FaultEvent",
    "FaultKind",
    "FaultSpec",
    "FaultState",
    "FixedDuration",
    "ResetKind",
    "UniformDuration",
    "Weather",
    "check_targets",
    "faults_at",
    "parse_faults",
    "schedule",
]

FaultKind: TypeAlias = Literal["reboot", "fail", "isl-down", "station-down", "weather"]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = get_args(FaultKind)
ResetKind: TypeAlias = Literal["warm", "cold"]
RESET_KINDS: Final[tuple[ResetKind, ...]] = get_args(ResetKind)

#: A target: a satellite id, a station name, a plane id, or a laser link (two satellites).
FaultTarget: TypeAlias = str | tuple[str, str]

#: Random faults drawn over one run, at most: a rate typed an order of magnitude too high
#: over ten thousand targets should be a problem line, not a memory error.
MAX_RANDOM_EVENTS: Final = 1_000_000

SECONDS_PER_HOUR: Final = 3600.0

_KIND_OF: Final[Mapping[str, FaultKind]] = {k: k for k in FAULT_KINDS}
_RESET_OF: Final[Mapping[str, ResetKind]] = {k: k for k in RESET_KINDS}
_SATELLITE_KINDS: Final = ("reboot", "fail")
_STATION_KINDS: Final = ("station-down", "weather")
_COMMON_KEYS: Final = ("kind", "targets", "at_s", "rate_per_hour")
_KIND_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "reboot": (*_COMMON_KEYS, "duration_s", "reset"),
    "fail": _COMMON_KEYS,
    "isl-down": (*_COMMON_KEYS, "duration_s"),
    "station-down": (*_COMMON_KEYS, "duration_s"),
    "weather": (*_COMMON_KEYS, "duration_s", "rate_factor", "loss_rate"),
}
_ALL_KEYS: Final = (*_COMMON_KEYS, "duration_s", "reset", "rate_factor", "loss_rate")


class FaultError(ValueError):
    """Fault entries that cannot be scheduled; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[type[FaultError], tuple[list[str]]]:
        # Pickled as its problems (`orbitmesh fault` gets it through Ray), not its message.
        return type(self), (self.problems,)


# --------------------------------------------------------------------------- durations


@dataclass(frozen=True, slots=True)
class FixedDuration:
    """Every fault lasts ``seconds`` (``duration_s = 120``)."""

    seconds: float

    def draw(self, rng: np.random.Generator, count: int) -> NDArray[np.float64]:
        return np.full(count, self.seconds)


@dataclass(frozen=True, slots=True)
class UniformDuration:
    """Durations uniform in [min_s, max_s] (``duration_s = { min_s = 60, max_s = 600 }``)."""

    min_s: float
    max_s: float

    def draw(self, rng: np.random.Generator, count: int) -> NDArray[np.float64]:
        return rng.uniform(self.min_s, self.max_s, count)


@dataclass(frozen=True, slots=True)
class ExponentialDuration:
    """Exponential durations of mean ``mean_s`` (``duration_s = { mean_s = 300 }``): the
    memoryless repair time reliability models assume."""

    mean_s: float

    def draw(self, rng: np.random.Generator, count: int) -> NDArray[np.float64]:
        return rng.exponential(self.mean_s, count)


Duration: TypeAlias = FixedDuration | UniformDuration | ExponentialDuration


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class FaultSpec:
    """One ``[[fault]]`` entry, validated (targets are checked against the catalog by
    :func:`check_targets`)."""

    kind: FaultKind
    #: ``"all"`` (every satellite, station or plane the kind applies to) or the targets.
    targets: Literal["all"] | tuple[FaultTarget, ...]
    #: Simulated seconds since the scenario start; None for random faults.
    at_s: float | None = None
    #: Mean faults per hour *per target*; None for a fault at ``at_s``.
    rate_per_hour: float | None = None
    #: How long each fault lasts; None for ``fail`` (permanent).
    duration: Duration | None = None
    reset: ResetKind = "warm"
    rate_factor: float = 1.0
    loss_rate: float = 0.0
    #: Where in the scenario this came from (``fault[2]``), for messages and attribution.
    field_path: str = "fault"


@dataclass(frozen=True)
class FaultEvent:
    """One fault on one target, from ``start_s`` until ``end_s`` (None: for good)."""

    start_s: float
    end_s: float | None
    kind: FaultKind
    #: What the entry named: a satellite id, a station name, a plane id or a link.
    target: FaultTarget
    #: The satellites it takes down (reboot, fail) or whose laser links it cuts
    #: (isl-down: a link's two ends, or every member of a plane); empty for stations.
    satellites: tuple[str, ...]
    spec: FaultSpec = field(repr=False)

    @property
    def station(self) -> str | None:
        return self.target if self.kind in _STATION_KINDS and isinstance(self.target, str) else None

    @property
    def label(self) -> str:
        """``fault[2] reboot shell1-0-0``: how status lines and metrics name the fault."""
        target = "~".join(self.target) if isinstance(self.target, tuple) else self.target
        return f"{self.spec.field_path} {self.kind} {target}"

    def active(self, t_s: float) -> bool:
        return self.start_s <= t_s and (self.end_s is None or t_s < self.end_s)


@dataclass(frozen=True, slots=True)
class Weather:
    """A station's links under weather: the fraction of their rate left, and the packet
    loss added (overlapping fronts combine: rates multiply, survivals multiply)."""

    rate_factor: float = 1.0
    loss_rate: float = 0.0


@dataclass(frozen=True)
class FaultState:
    """What is down at one instant (see :func:`faults_at`)."""

    down_satellites: frozenset[str] = frozenset()
    failed_satellites: frozenset[str] = frozenset()
    down_stations: frozenset[str] = frozenset()
    cut_links: frozenset[frozenset[str]] = frozenset()
    #: Satellites whose every laser link is cut (members of a plane that is down).
    cut_satellites: frozenset[str] = frozenset()
    weather: Mapping[str, Weather] = field(default_factory=dict)

    def link_up(self, a: str, b: str) -> bool:
        """Whether faults leave the laser link between satellites ``a`` and ``b`` up."""
        return not (
            a in self.cut_satellites
            or b in self.cut_satellites
            or frozenset((a, b)) in self.cut_links
            or a in self.down_satellites
            or b in self.down_satellites
        )


# --------------------------------------------------------------------------- parsing


def parse_faults(raw: Any, chk: Checker) -> tuple[FaultSpec, ...]:
    """The scenario's ``[[fault]]`` array (``raw`` is ``data["fault"]``); problems go to
    ``chk`` with their paths, and a bad entry is left out of the result."""
    specs: list[FaultSpec] = []
    for i, table in enumerate(chk.array_of_tables(raw, "fault")):
        before = len(chk.problems)
        spec = _parse_fault(table, f"fault[{i}]", chk)
        if spec is not None and len(chk.problems) == before:
            specs.append(spec)
    return tuple(specs)


def _parse_fault(table: Mapping[str, Any], path: str, chk: Checker) -> FaultSpec | None:
    kind = chk.get(table, "kind", path, chk.string)
    if kind is not None and kind not in FAULT_KINDS:
        chk.problem(f"{path}.kind", f"must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
        kind = None
    chk.unknown_keys(table, _KIND_KEYS[kind] if kind is not None else _ALL_KEYS, path)
    targets = _parse_targets(table, kind, path, chk)
    at_s, rate, timing_ok = _parse_timing(table, path, chk)
    duration: Duration | None = None
    duration_ok = True
    if kind is not None and kind != "fail":
        if "duration_s" in table:
            duration = _parse_duration(table["duration_s"], f"{path}.duration_s", chk)
            duration_ok = duration is not None
        else:
            chk.problem(f"{path}.duration_s", f"is required (how long a {kind} lasts)")
            duration_ok = False
    reset = chk.get(table, "reset", path, chk.string, "warm")
    if reset is not None and reset not in RESET_KINDS:
        chk.problem(f"{path}.reset", f"must be one of {', '.join(RESET_KINDS)}, got {reset!r}")
        reset = None
    rate_factor = chk.within(
        chk.get(table, "rate_factor", path, chk.number, 1.0),
        f"{path}.rate_factor",
        0.0,
        1.0,
        open_low=True,
    )
    loss = chk.get(table, "loss_rate", path, chk.number, 0.0)
    if loss is not None and not 0.0 <= loss < 1.0:
        chk.problem(f"{path}.loss_rate", f"must be within [0, 1), got {exact_number(loss)}")
        loss = None
    if kind == "weather" and rate_factor == 1.0 and loss == 0.0:
        chk.problem(path, "a weather fault needs rate_factor < 1 or loss_rate > 0")
        return None
    if (
        kind is None
        or targets is None
        or not timing_ok
        or not duration_ok
        or reset is None
        or rate_factor is None
        or loss is None
    ):
        return None
    return FaultSpec(
        kind=_KIND_OF[kind],
        targets=targets,
        at_s=at_s,
        rate_per_hour=rate,
        duration=duration,
        reset=_RESET_OF[reset],
        rate_factor=rate_factor,
        loss_rate=loss,
        field_path=path,
    )


def _parse_targets(
    table: Mapping[str, Any], kind: str | None, path: str, chk: Checker
) -> Literal["all"] | tuple[FaultTarget, ...] | None:
    where = f"{path}.targets"
    if "targets" not in table:
        chk.problem(where, 'is required ("all" or a list)')
        return None
    raw = table["targets"]
    if raw == "all":
        return "all"
    if not isinstance(raw, list) or not raw:
        shape = _TARGET_SHAPES.get(kind or "", "satellite ids, station names or links")
        chk.problem(where, f'must be "all" or a non-empty list of {shape}, got {describe(raw)}')
        return None
    out: list[FaultTarget] = []
    for i, item in enumerate(raw):
        target = _parse_target(item, kind, f"{where}[{i}]", chk)
        if target is not None:
            out.append(target)
    if len(out) != len(raw):
        return None
    keys = [frozenset(t) if isinstance(t, tuple) else t for t in out]
    dups = sorted({_show(t) for t, k in zip(out, keys, strict=True) if keys.count(k) > 1})
    if dups:
        chk.problem(where, f"lists {', '.join(dups)} more than once")
        return None
    return tuple(out)


_TARGET_SHAPES: Final[Mapping[str, str]] = {
    "reboot": "satellite ids",
    "fail": "satellite ids",
    "isl-down": 'planes ("shell1-3") or links (["shell1-3-0", "shell1-3-1"])',
    "station-down": "ground station names",
    "weather": "ground station names",
}


def _parse_target(item: Any, kind: str | None, path: str, chk: Checker) -> FaultTarget | None:
    if kind == "isl-down" and isinstance(item, list):
        if len(item) != 2:
            chk.problem(path, f"a link must name two satellites, got {len(item)} items")
            return None
        a = chk.string(id_text(item[0]), f"{path}[0]")
        b = chk.string(id_text(item[1]), f"{path}[1]")
        if a is None or b is None:
            return None
        if a == b:
            chk.problem(path, f"a link joins two different satellites, got {a!r} twice")
            return None
        return (a, b)
    return chk.string(id_text(item), path)


def _show(target: FaultTarget) -> str:
    return "~".join(target) if isinstance(target, tuple) else target


def _parse_timing(
    table: Mapping[str, Any], path: str, chk: Checker
) -> tuple[float | None, float | None, bool]:
    has_at, has_rate = "at_s" in table, "rate_per_hour" in table
    if has_at and has_rate:
        chk.problem(path, "give at_s (one fault) or rate_per_hour (random faults), not both")
        return None, None, False
    if not has_at and not has_rate:
        chk.problem(path, "needs at_s (a fault at a simulated time) or rate_per_hour (random)")
        return None, None, False
    if has_at:
        at = chk.number(table["at_s"], f"{path}.at_s")
        if at is not None and at < 0:
            chk.problem(f"{path}.at_s", f"must be >= 0, got {exact_number(at)}")
            at = None
        return at, None, at is not None
    where = f"{path}.rate_per_hour"
    rate = chk.positive(chk.number(table["rate_per_hour"], where), where)
    return None, rate, rate is not None


def _parse_duration(raw: Any, path: str, chk: Checker) -> Duration | None:
    if not isinstance(raw, Mapping):
        seconds = chk.positive(chk.number(raw, path), path)
        return None if seconds is None else FixedDuration(seconds)
    chk.unknown_keys(raw, ("min_s", "max_s", "mean_s"), path)
    if "mean_s" in raw:
        if "min_s" in raw or "max_s" in raw:
            chk.problem(path, "give mean_s (exponential) or min_s and max_s (uniform), not both")
            return None
        mean = chk.positive(chk.number(raw["mean_s"], f"{path}.mean_s"), f"{path}.mean_s")
        return None if mean is None else ExponentialDuration(mean)
    low = chk.positive(chk.get(raw, "min_s", path, chk.number), f"{path}.min_s")
    high = chk.positive(chk.get(raw, "max_s", path, chk.number), f"{path}.max_s")
    if low is None or high is None:
        return None
    if high < low:
        chk.problem(
            f"{path}.max_s",
            f"must not be less than min_s ({exact_number(low)}), got {exact_number(high)}",
        )
        return None
    return UniformDuration(low, high)


# --------------------------------------------------------------------------- targets


def _universe(
    kind: str,
    satellites: Sequence[str],
    planes: Mapping[str, Sequence[str]],
    stations: Sequence[str],
) -> tuple[str, ...]:
    """What ``targets = "all"`` means for a kind."""
    if kind in _SATELLITE_KINDS:
        return tuple(satellites)
    if kind in _STATION_KINDS:
        return tuple(stations)
    return tuple(planes)


def check_targets(
    faults: Iterable[FaultSpec],
    chk: Checker,
    *,
    duration_s: float,
    satellites: Sequence[str],
    planes: Mapping[str, Sequence[str]],
    stations: Sequence[str],
) -> None:
    """What only the catalog and the run can tell: every target exists, ``at_s`` lies in
    the run, and random faults stay within :data:`MAX_RANDOM_EVENTS`. ``planes`` maps a
    plane id (``shell1-3``) to its satellites."""
    known_sats = set(satellites)
    known_stations = set(stations)
    for spec in faults:
        path = spec.field_path
        if spec.at_s is not None and spec.at_s >= duration_s:
            chk.problem(
                f"{path}.at_s",
                f"must fall within the run (time.duration_s = {exact_number(duration_s)}), "
                f"got {exact_number(spec.at_s)}",
            )
        if spec.targets == "all":
            count = len(_universe(spec.kind, satellites, planes, stations))
            if count == 0:
                chk.problem(
                    f"{path}.targets",
                    f'"all" finds nothing: the scenario has no {_TARGET_SHAPES[spec.kind]}',
                )
        else:
            count = len(spec.targets)
            for i, target in enumerate(spec.targets):
                where = f"{path}.targets[{i}]"
                if isinstance(target, tuple):
                    for j, sid in enumerate(target):
                        if sid not in known_sats:
                            chk.problem(f"{where}[{j}]", f"no satellite with id {sid!r}")
                elif spec.kind in _SATELLITE_KINDS and target not in known_sats:
                    chk.problem(where, f"no satellite with id {target!r}")
                elif spec.kind in _STATION_KINDS and target not in known_stations:
                    chk.problem(where, f"no ground station named {target!r}")
                elif spec.kind == "isl-down" and target not in planes:
                    example = next(iter(planes), "shell1-0")
                    chk.problem(
                        where, f"no plane {target!r} (planes are <shell>-<plane>, e.g. {example})"
                    )
        if spec.rate_per_hour is not None:
            expected = spec.rate_per_hour * count * duration_s / SECONDS_PER_HOUR
            if expected > MAX_RANDOM_EVENTS:
                chk.problem(
                    f"{path}.rate_per_hour",
                    f"would draw about {expected:.3g} faults over the run "
                    f"(at most {MAX_RANDOM_EVENTS})",
                )


# --------------------------------------------------------------------------- schedule


def schedule(
    faults: Sequence[FaultSpec],
    *,
    duration_s: float,
    satellites: Sequence[str],
    planes: Mapping[str, Sequence[str]],
    stations: Sequence[str],
    seed: int,
) -> list[FaultEvent]:
    """Every fault of the run, sorted by start (then by entry and target).

    Each entry draws from its own stream (``seed`` and the entry's index), so an entry
    added at the end leaves the earlier entries' faults where they were. A random entry
    superposes one Poisson process of ``rate_per_hour`` per target: the count over the
    run is Poisson with mean ``rate * targets * duration``, times are uniform over the
    run and each picks a target uniformly (the same law as independent per-target
    processes). Once a satellite has failed for good, later reboots and failures of it
    are dropped.
    Raises :class:`FaultError` listing every problem :func:`check_targets` finds.
    """
    if not (isinstance(seed, int) and 0 <= seed < 2**63):
        raise ValueError(f"seed must be an integer within [0, 2**63), got {seed!r}")
    chk = Checker("fault schedule")
    check_targets(
        faults, chk, duration_s=duration_s, satellites=satellites, planes=planes, stations=stations
    )
    if chk.problems:
        raise FaultError(chk.problems)
    drawn: list[tuple[float, int, str, FaultEvent]] = []
    for index, spec in enumerate(faults):
        rng = np.random.default_rng([seed, index])
        universe: tuple[FaultTarget, ...] = (
            _universe(spec.kind, satellites, planes, stations)
            if spec.targets == "all"
            else spec.targets
        )
        if spec.at_s is not None:
            starts = np.full(len(universe), spec.at_s)
            picks = np.arange(len(universe))
        else:
            assert spec.rate_per_hour is not None  # parse_faults gives one or the other
            mean = spec.rate_per_hour * len(universe) * duration_s / SECONDS_PER_HOUR
            count = int(rng.poisson(mean))
            starts = np.sort(rng.uniform(0.0, duration_s, count))
            picks = rng.integers(0, len(universe), count)
        lengths = spec.duration.draw(rng, len(starts)) if spec.duration is not None else None
        for k, (start, pick) in enumerate(zip(starts.tolist(), picks.tolist(), strict=True)):
            target = universe[pick]
            end = None if lengths is None else start + float(lengths[k])
            event = FaultEvent(
                start_s=start,
                end_s=end,
                kind=spec.kind,
                target=target,
                satellites=_satellites_of(spec.kind, target, planes),
                spec=spec,
            )
            drawn.append((start, index, _show(target), event))
    drawn.sort(key=lambda item: item[:3])
    return _drop_after_failure([event for *_, event in drawn])


def _satellites_of(
    kind: str, target: FaultTarget, planes: Mapping[str, Sequence[str]]
) -> tuple[str, ...]:
    if isinstance(target, tuple):
        return target
    if kind in _SATELLITE_KINDS:
        return (target,)
    if kind == "isl-down":
        return tuple(planes[target])
    return ()


def _drop_after_failure(events: list[FaultEvent]) -> list[FaultEvent]:
    failed_at: dict[str, float] = {}
    kept: list[FaultEvent] = []
    for event in events:
        if event.kind in _SATELLITE_KINDS:
            sid = event.satellites[0]
            if sid in failed_at and event.start_s >= failed_at[sid]:
                continue
            if event.kind == "fail":
                failed_at[sid] = event.start_s
        kept.append(event)
    return kept


def faults_at(events: Iterable[FaultEvent], t_s: float) -> FaultState:
    """What the events leave down at simulated time ``t_s`` (start inclusive, end
    exclusive)."""
    down: set[str] = set()
    failed: set[str] = set()
    stations: set[str] = set()
    links: set[frozenset[str]] = set()
    cut: set[str] = set()
    rate: dict[str, float] = {}
    survive: dict[str, float] = {}
    for event in events:
        if not event.active(t_s):
            continue
        if event.kind in _SATELLITE_KINDS:
            down.update(event.satellites)
            if event.kind == "fail":
                failed.update(event.satellites)
        elif event.kind == "isl-down":
            if isinstance(event.target, tuple):
                links.add(frozenset(event.target))
            else:
                cut.update(event.satellites)
        elif event.kind == "station-down":
            stations.add(str(event.target))
        else:
            name = str(event.target)
            rate[name] = rate.get(name, 1.0) * event.spec.rate_factor
            survive[name] = survive.get(name, 1.0) * (1.0 - event.spec.loss_rate)
    weather = {
        name: Weather(rate_factor=rate[name], loss_rate=1.0 - survive[name]) for name in rate
    }
    return FaultState(
        down_satellites=frozenset(down),
        failed_satellites=frozenset(failed),
        down_stations=frozenset(stations),
        cut_links=frozenset(links),
        cut_satellites=frozenset(cut),
        weather=weather,
    )
