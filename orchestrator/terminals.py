"""Direct-to-device terminals: the ``[[terminal]]`` scenario tables and where they are.

A table describes one moving terminal (a ``route`` of waypoints) or a seeded group
(``count`` members scattered over a ``region``). :func:`parse_terminal` checks one table
the way the rest of the scenario is checked; :class:`TerminalTracks` holds every
terminal of a scenario in one flat order and gives their positions at any offset.

Motion model. Paths are great circles on a sphere of the mean Earth radius (IUGG R1,
``EARTH_MEAN_RADIUS_KM``); the latitude and longitude found on it are used as WGS84
geodetic ones, at height ``alt_m``.

* A single terminal is at its first waypoint at offset 0 and travels at ``speed_kmh``
  along the great circle to each next waypoint in turn, then stays at the last one (with
  one waypoint, or a speed of 0, it stands).
* A group's members are scattered uniformly over the region's area (uniform in sin(lat)
  and in lon). The first ``round(moving_fraction * count)`` members of a random
  permutation move: each walks from its start along the great circle leaving it at a
  random heading (uniform in 0-360 deg), at ``speed_kmh``, forever, so it may leave the
  region. The others stand. All draws come from ``numpy.random.default_rng(seed)`` in a
  fixed order (sin(lat), lon, permutation, heading), so a seed repeats its positions.
* Before offset 0 every terminal is where it starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, cast

import numpy as np
from numpy.typing import NDArray

from orbitmesh.checking import Checker, describe, exact_number
from orbitmesh.constants import EARTH_MEAN_RADIUS_KM
from orbitmesh.geodesy import geodetic_to_itrs_km

__all__ = [
    "DEFAULT_MIN_ELEVATION_DEG",
    "DEFAULT_RATE_MBPS",
    "KIND_DEFAULTS",
    "TERMINAL_KINDS",
    "KindDefaults",
    "TerminalKind",
    "TerminalSpec",
    "TerminalTracks",
    "parse_terminal",
]

Float = NDArray[np.float64]
TerminalKind = Literal["phone", "ship", "aircraft"]
TERMINAL_KINDS: tuple[TerminalKind, ...] = ("phone", "ship", "aircraft")


class KindDefaults(NamedTuple):
    speed_kmh: float
    alt_m: float
    #: Share of a group's members that move (a phone group: half stand, half walk).
    moving_fraction: float


KIND_DEFAULTS: Mapping[TerminalKind, KindDefaults] = {
    "phone": KindDefaults(speed_kmh=5.0, alt_m=1.5, moving_fraction=0.5),
    "ship": KindDefaults(speed_kmh=30.0, alt_m=0.0, moving_fraction=1.0),
    "aircraft": KindDefaults(speed_kmh=900.0, alt_m=10_000.0, moving_fraction=1.0),
}
DEFAULT_MIN_ELEVATION_DEG = 25.0
DEFAULT_RATE_MBPS = 5.0
MAX_GROUP_SIZE = 1_000_000
MAX_SPEED_KMH = 3000.0  # above any airliner; a typo such as 30000 is caught
_KEYS = (
    "name", "kind", "route", "count", "region", "seed", "moving_fraction",
    "speed_kmh", "alt_m", "min_elevation_deg", "rate_mbps",
)  # fmt: skip
# Consecutive waypoints closer than this to antipodal have no one great circle between
# them (about 6 m from the antipode); the user must say which way by adding a waypoint.
_ANTIPODAL_RAD = 1e-6
_LIMIT_DEG = {"latitude": 90, "longitude": 180}


@dataclass(frozen=True)
class TerminalSpec:
    """One ``[[terminal]]`` table: a single terminal (``route_deg``) or a group (``count``,
    ``region_*``, ``seed``, ``moving_fraction``). Kind defaults are filled in by
    :func:`parse_terminal`; here every value is explicit."""

    name: str
    kind: TerminalKind
    alt_m: float
    speed_kmh: float
    min_elevation_deg: float = DEFAULT_MIN_ELEVATION_DEG
    rate_mbps: float = DEFAULT_RATE_MBPS
    route_deg: tuple[tuple[float, float], ...] | None = None  # (lat, lon) waypoints
    count: int | None = None
    region_lat_deg: tuple[float, float] | None = None
    region_lon_deg: tuple[float, float] | None = None
    seed: int = 0
    moving_fraction: float = 1.0

    def __post_init__(self) -> None:
        given = [x is not None for x in (self.count, self.region_lat_deg, self.region_lon_deg)]
        if all(given) == (self.route_deg is not None) or any(given) != all(given):
            raise ValueError(f"terminal {self.name!r}: give route_deg or count and region")

    @property
    def size(self) -> int:
        return 1 if self.count is None else self.count

    @property
    def ids(self) -> tuple[str, ...]:
        if self.count is None:
            return (self.name,)
        return tuple(f"{self.name}-{n}" for n in range(self.count))


def _pair(
    value: Any, where: str, chk: Checker, what: tuple[str, str]
) -> tuple[float, float] | None:
    """Two numbers, each a latitude or a longitude (``what``) within its range."""
    if not isinstance(value, list) or len(value) != 2:
        chk.problem(where, f"must be an array of two numbers, got {describe(value)}")
        return None
    numbers = [chk.number(x, f"{where}[{k}]") for k, x in enumerate(value)]
    good = [x for x in numbers if x is not None]
    for x, name in zip(numbers, what, strict=True):
        limit = _LIMIT_DEG[name]
        if x is not None and not -limit <= x <= limit:
            chk.problem(where, f"{name} must be within [-{limit}, {limit}], got {exact_number(x)}")
            good.remove(x)
    return (good[0], good[1]) if len(good) == 2 else None


def _unit(lat_deg: Float | float, lon_deg: Float | float) -> Float:
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)


def _route(value: Any, where: str, chk: Checker) -> tuple[tuple[float, float], ...] | None:
    if not isinstance(value, list) or not value:
        chk.problem(
            where, f"must be a non-empty array of [lat_deg, lon_deg], got {describe(value)}"
        )
        return None
    points: list[tuple[float, float]] = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        pair = _pair(item, at, chk, ("latitude", "longitude"))
        if pair is None:
            continue
        if points and len(points) == i:
            a, b = _unit(*points[-1]), _unit(*pair)
            if np.dot(a, b) < 0 and np.linalg.norm(np.cross(a, b)) < _ANTIPODAL_RAD:
                chk.problem(
                    at,
                    f"is antipodal to {where}[{i - 1}]: every great circle joins them, "
                    "add a waypoint between to say which way",
                )
                continue
        points.append(pair)
    return tuple(points) if len(points) == len(value) else None


def _region(value: Any, where: str, chk: Checker) -> tuple[tuple[float, float], ...] | None:
    table = chk.table(value, where)
    if table is None:
        return None
    chk.unknown_keys(table, ("lat_deg", "lon_deg"), where)
    out = []
    for key, what in (("lat_deg", "latitude"), ("lon_deg", "longitude")):
        at = f"{where}.{key}"
        if key not in table:
            chk.problem(at, "is required")
        elif (pair := _pair(table[key], at, chk, (what, what))) is not None:
            if pair[0] < pair[1]:
                out.append(pair)
            else:  # a longitude span across 180 would need lo > hi: not supported
                lo, hi = map(exact_number, pair)
                chk.problem(at, f"must be [low, high] with low < high, got [{lo}, {hi}]")
    return tuple(out) if len(out) == 2 else None


def parse_terminal(table: Mapping[str, Any], path: str, chk: Checker) -> TerminalSpec | None:
    """One ``[[terminal]]`` table, or None after reporting each of its problems."""
    before = len(chk.problems)
    chk.unknown_keys(table, _KEYS, path)
    is_group = "count" in table or "region" in table
    name = chk.get(table, "name", path, chk.string)
    if name is not None and (not name.isprintable() or " " in name):
        chk.problem(f"{path}.name", f"must be printable, without spaces, got {name!r}")
    elif name is not None and is_group and "route" not in table and "-" in name:
        chk.problem(f"{path}.name", f"must not contain '-' (ids are <name>-<n>), got {name!r}")
    kind = chk.get(table, "kind", path, chk.string)
    if kind is not None and kind not in TERMINAL_KINDS:
        chk.problem(f"{path}.kind", f"must be one of {', '.join(TERMINAL_KINDS)}, got {kind!r}")
    # Without a valid kind the other values are still checked, against a phone's defaults.
    defaults = KIND_DEFAULTS.get(cast(TerminalKind, kind), KIND_DEFAULTS["phone"])

    def number(key: str, default: float, low: float, high: float) -> float | None:
        got = chk.get(table, key, path, chk.number, default)
        return chk.within(got, f"{path}.{key}", low, high)

    route = count = region = None
    seed: int | None = 0
    fraction: float | None = 1.0
    if "route" in table and is_group:
        chk.problem(path, "give route (one terminal) or count and region (a group), not both")
    elif "route" in table:
        route = _route(table["route"], f"{path}.route", chk)
        for key in ("seed", "moving_fraction"):
            if key in table:
                chk.problem(f"{path}.{key}", "only a group (count and region) has one")
    elif is_group:
        count = chk.get(table, "count", path, chk.integer)
        if count is not None and not 1 <= count <= MAX_GROUP_SIZE:
            chk.problem(f"{path}.count", f"must be within [1, {MAX_GROUP_SIZE}], got {count}")
        region = chk.get(table, "region", path, lambda v, w: _region(v, w, chk))
        seed = chk.get(table, "seed", path, chk.integer, 0)
        if seed is not None and seed < 0:
            chk.problem(f"{path}.seed", f"must be an integer >= 0, got {seed}")
        fraction = number("moving_fraction", defaults.moving_fraction, 0, 1)
    else:
        chk.problem(path, "needs route (one terminal) or count and region (a group)")
    speed = number("speed_kmh", defaults.speed_kmh, 0, MAX_SPEED_KMH)
    alt = number("alt_m", defaults.alt_m, -500, 20_000)
    mask = number("min_elevation_deg", DEFAULT_MIN_ELEVATION_DEG, 0, 90)
    rate = chk.positive(
        chk.get(table, "rate_mbps", path, chk.number, DEFAULT_RATE_MBPS), f"{path}.rate_mbps"
    )
    if len(chk.problems) > before:
        return None
    return TerminalSpec(
        name=cast(str, name),
        kind=cast(TerminalKind, kind),
        alt_m=cast(float, alt),
        speed_kmh=cast(float, speed),
        min_elevation_deg=cast(float, mask),
        rate_mbps=cast(float, rate),
        route_deg=route,
        count=count,
        region_lat_deg=region[0] if region else None,
        region_lon_deg=region[1] if region else None,
        seed=cast(int, seed),
        moving_fraction=cast(float, fraction),
    )


class _Legs(NamedTuple):
    """Great-circle legs, one a row: from unit vector ``p`` along unit tangent ``t`` at
    ``rate`` (rad/s) from ``start_s`` on, for at most ``angle`` (rad), until ``end_s``."""

    start_s: Float
    end_s: Float
    p: Float
    t: Float
    rate: Float
    angle: Float


def _join(parts: Sequence[_Legs]) -> _Legs:
    empty = _Legs(np.zeros(0), np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)), *[np.zeros(0)] * 2)
    return _Legs(*(np.concatenate([part[k] for part in (empty, *parts)]) for k in range(6)))


def _route_legs(route_deg: Sequence[tuple[float, float]], rad_per_s: float) -> _Legs:
    """A routed terminal's legs in time order; the last is its stop, for ever."""
    points = _unit(*np.array(route_deg).T)
    rows: list[tuple[float, float, Float, Float, float, float]] = []
    start_s, here = 0.0, points[0]
    for there in points[1:] if rad_per_s > 0 else ():
        along = there - np.dot(here, there) * here
        angle = math.atan2(float(np.linalg.norm(along)), float(np.dot(here, there)))
        if angle > 0:  # a repeated waypoint is a leg of no length: nothing to travel
            end_s = start_s + angle / rad_per_s
            rows.append((start_s, end_s, here, along / np.linalg.norm(along), rad_per_s, angle))
            start_s, here = end_s, there
    rows.append((start_s, math.inf, here, np.zeros(3), 0.0, 0.0))
    return _Legs(*(np.array(column, dtype=np.float64) for column in zip(*rows, strict=True)))


def _scatter(spec: TerminalSpec, rad_per_s: float) -> _Legs:
    """A group's members, each on one leg for ever (a stander's rate and angle are 0)."""
    assert spec.region_lat_deg is not None and spec.region_lon_deg is not None
    (lat_lo, lat_hi), (lon_lo, lon_hi), n = spec.region_lat_deg, spec.region_lon_deg, spec.size
    rng = np.random.default_rng(spec.seed)
    # Uniform in sin(lat) is uniform in area: a band's area grows as the sine's span.
    sin_lo, sin_hi = math.sin(math.radians(lat_lo)), math.sin(math.radians(lat_hi))
    lat = np.arcsin(np.clip(sin_lo + rng.random(n) * (sin_hi - sin_lo), -1.0, 1.0))
    lon = np.radians(lon_lo + rng.random(n) * (lon_hi - lon_lo))
    moving = np.zeros(n, dtype=bool)
    moving[rng.permutation(n)[: round(spec.moving_fraction * n)]] = rad_per_s > 0
    heading = np.radians(rng.random(n) * 360.0)
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    east = np.stack([-so, co, np.zeros(n)], -1)
    north = np.stack([-sl * co, -sl * so, cl], -1)
    tangent = np.cos(heading)[:, None] * north + np.sin(heading)[:, None] * east
    p = np.stack([cl * co, cl * so, sl], -1)
    rate, angle = np.where(moving, rad_per_s, 0.0), np.where(moving, math.inf, 0.0)
    return _Legs(np.zeros(n), np.full(n, math.inf), p, tangent, rate, angle)


def _lat_lon_deg(u: Float) -> tuple[Float, Float]:
    """Latitude and longitude (deg, longitude in [-180, 180)) of unit vectors (K, 3)."""
    lat = np.degrees(np.arctan2(u[:, 2], np.hypot(u[:, 0], u[:, 1])))
    lon = np.degrees(np.arctan2(u[:, 1], u[:, 0]))
    return lat, np.where(lon >= 180.0, lon - 360.0, lon)


class TerminalTracks:
    """Every terminal of a scenario, in spec order then member order, and where each is.

    Each terminal is on one great-circle leg at a time, so a position is
    ``cos(a) p + sin(a) t`` for all terminals at once. Group members keep one leg for ever;
    routed terminals' legs are chosen again only when an offset leaves the window in which
    none of them changes leg (state kept between calls: share an instance with one thread).
    """

    def __init__(self, specs: Sequence[TerminalSpec]) -> None:
        self.ids: tuple[str, ...] = tuple(i for spec in specs for i in spec.ids)
        self.names = self.ids
        self.kind: tuple[TerminalKind, ...] = tuple(s.kind for s in specs for _ in range(s.size))
        self.size = len(self.ids)
        sizes = [spec.size for spec in specs]

        def each(key: str) -> Float:
            return np.repeat(np.array([getattr(s, key) for s in specs], dtype=np.float64), sizes)

        self.min_elevation_deg, self.rate_mbps = each("min_elevation_deg"), each("rate_mbps")
        self.alt_m = each("alt_m")
        now: list[_Legs] = []
        tracks: list[_Legs] = []
        rows: list[int] = []
        for spec, row in zip(specs, np.cumsum([0, *sizes]), strict=False):
            rad_per_s = spec.speed_kmh / 3600.0 / EARTH_MEAN_RADIUS_KM
            if spec.route_deg is None:
                now.append(_scatter(spec, rad_per_s))
            else:
                tracks.append(_route_legs(spec.route_deg, rad_per_s))
                rows.append(int(row))
                now.append(_Legs(*(column[:1] for column in tracks[-1])))
        self._now = _join(now)  # each terminal's current leg
        self._legs = _join(tracks)  # every leg of every routed terminal
        self._rows = np.array(rows, dtype=np.intp)
        self._first = np.cumsum([0, *(track.angle.size for track in tracks)])[:-1]
        self.moving: NDArray[np.bool_] = self._now.rate > 0
        self.moving[self._rows] = [bool(track.rate.any()) for track in tracks]
        self._window_s = (math.inf, -math.inf)  # offsets over which _now holds: none yet

    def _choose_legs(self, offset_s: float) -> None:
        started = (self._legs.start_s <= offset_s).astype(np.intp)
        leg = self._first + np.add.reduceat(started, self._first) - 1
        for current, every in zip(self._now, self._legs, strict=True):
            current[self._rows] = every[leg]
        self._window_s = (float(self._legs.start_s[leg].max()), float(self._legs.end_s[leg].min()))

    def unit_vectors(self, offset_s: float) -> Float:
        """Where each terminal is (N, 3) on the unit sphere, ``offset_s`` after the start."""
        offset_s = max(offset_s, 0.0)
        if self._rows.size and not self._window_s[0] <= offset_s < self._window_s[1]:
            self._choose_legs(offset_s)
        legs = self._now
        angle = np.minimum(legs.rate * (offset_s - legs.start_s), legs.angle)
        out: Float = np.cos(angle)[:, None] * legs.p + np.sin(angle)[:, None] * legs.t
        return out

    def geodetic(self, offset_s: float) -> tuple[Float, Float, Float]:
        """Latitude (deg), longitude (deg, in [-180, 180)) and height (m) of each terminal."""
        lat, lon = _lat_lon_deg(self.unit_vectors(offset_s))
        return lat, lon, self.alt_m.copy()

    def itrs_km(self, offset_s: float) -> Float:
        """Earth-fixed (ITRS) positions (N, 3) in km on the WGS84 ellipsoid."""
        return geodetic_to_itrs_km(*self.geodetic(offset_s))

    def unit_vectors_at(self, rows: NDArray[np.intp], offsets_s: Float) -> Float:
        """Where terminals ``rows`` are (K, 3) on the unit sphere, each at its own offset
        (contact refinement asks for many instants at once)."""
        offsets = np.maximum(np.asarray(offsets_s, dtype=np.float64), 0.0)
        rows = np.asarray(rows, dtype=np.intp)
        p, t = self._now.p[rows], self._now.t[rows]
        rate, start, angle = self._now.rate[rows], self._now.start_s[rows], self._now.angle[rows]
        routed = np.isin(rows, self._rows)
        for k in np.flatnonzero(routed):  # few: ships and aircraft, not phones
            r = int(np.searchsorted(self._rows, rows[k]))
            first = int(self._first[r])
            count = int(self._first[r + 1]) if r + 1 < len(self._first) else self._legs.angle.size
            legs = slice(first, count)
            leg = first + int(np.searchsorted(self._legs.start_s[legs], offsets[k], "right")) - 1
            p[k], t[k] = self._legs.p[leg], self._legs.t[leg]
            rate[k], start[k] = self._legs.rate[leg], self._legs.start_s[leg]
            angle[k] = self._legs.angle[leg]
        travelled = np.minimum(rate * (offsets - start), angle)
        out: Float = np.cos(travelled)[:, None] * p + np.sin(travelled)[:, None] * t
        return out

    def itrs_km_at(self, rows: NDArray[np.intp], offsets_s: Float) -> Float:
        """Earth-fixed positions (K, 3) of terminals ``rows``, each at its own offset."""
        lat, lon = _lat_lon_deg(self.unit_vectors_at(rows, offsets_s))
        return geodetic_to_itrs_km(lat, lon, self.alt_m[np.asarray(rows, dtype=np.intp)])
