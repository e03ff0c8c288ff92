"""Formation clusters: a ``[[cluster]]`` table and its members' orbits.

A cluster is a few dozen satellites flying within a kilometre of each other, like the
81-satellite formation of Google's Project Suncatcher. Its centre flies a circular
reference orbit; each member flies its own orbit, described by mean elements close to the
centre's, so that every member is an ordinary satellite propagated by SGP4.

Relative motion (x radial, y along-track, z cross-track, metres; u the centre's argument
of latitude) follows the linearised near-circular solution in relative orbital elements
(D'Amico, "Autonomous formation flying in low Earth orbit", TU Delft 2010, eq. 2.21):
``x = -a (dex cos u + dey sin u)``, ``y = a (dl + 2 dex sin u - 2 dey cos u)``,
``z = a (dix sin u - diy cos u)``, with equal semi-major axes so nothing drifts along
the track (the Clohessy-Wiltshire no-drift condition).

- ``lattice-2d``: the square-lattice points (p, q) nearest the centre, ``spacing_m``
  apart; member (p, q) moves as ``x = (p sin u + q cos u) / 2``,
  ``y = p cos u - q sin u``, ``z = q cos u``. In the orbit plane the lattice turns
  rigidly on a 2:1 ellipse; cross-track it tilts and untilts twice an orbit. Two members
  at lattice distance d are never closer than d/2 (their radial/cross-track e- and
  i-vectors are parallel: passively safe) nor farther than sqrt(5)/2 d: Suncatcher's
  100-200 m neighbours for a 200 m spacing. No member differs in inclination, so
  Earth's oblateness (J2) turns every member's node alike.
- ``lattice-3d``: such discs stacked along the track, a disc's diameter plus the spacing
  apart, so members of different discs stay at least the spacing apart.
- ``offsets_m``: the members' positions at the epoch, given; each moves on the 2:1
  relative ellipse through its radial offset (``x = x0 cos u``,
  ``y = y0 - 2 x0 sin u``) and oscillates cross-track (``z = z0 cos u``). Members can pass
  close to each other: :func:`closest_approach_m` says how close.

What is left unmodelled is station-keeping: J2 turns the members' e-vectors (3 deg a
day at 650 km) against their i-vectors, so a lattice-2d formation at 200 m spacing
deforms by about 6 m in two orbits and 45 m in a day (SGP4 of each member, tested).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
from numpy.typing import NDArray

from orbitmesh.checking import Checker, describe, exact_number
from orbitmesh.constants import WGS72_RADIUS_KM
from orbitmesh.orchestrator.sunsync import parse_plane

if TYPE_CHECKING:
    from sgp4.api import Satrec

__all__ = [
    "CLOSE_APPROACH_M",
    "CLUSTER_KEYS",
    "CLUSTER_LAYOUTS",
    "SUNCATCHER_LINK_GBPS",
    "ClusterLayout",
    "ClusterSpec",
    "closest_approach_m",
    "member_elements",
    "member_offsets_m",
    "parse_cluster",
]

#: validate warns where given offsets bring two members closer than this each orbit.
CLOSE_APPROACH_M = 10.0

ClusterLayout = Literal["lattice-2d", "lattice-3d", "offsets"]
CLUSTER_LAYOUTS: tuple[ClusterLayout, ...] = ("lattice-2d", "lattice-3d", "offsets")

#: Suncatcher's bench demonstrator carried 800 Gbps each way (1.6 Tbps in all) over one
#: transceiver pair (Google Research, "Exploring a space-based, scalable AI
#: infrastructure system design", 2025-11-04).
SUNCATCHER_LINK_GBPS = 800.0
#: Suncatcher's satellites are 100-200 m apart within a 1 km radius (same source).
_DEFAULT_SPACING_M = 200.0
_DEFAULT_LINK_RANGE_M = 1000.0
#: Members per cluster: every pair within range is a link, so links grow as its square.
MAX_MEMBERS = 1_000
#: The common eccentricity added to every member (see member_elements).
_ECC_BASE = 1e-5
#: An orbit plane this close to the equator has no node to offset cross-track motion by.
_MIN_SIN_INCLINATION = 0.01

CLUSTER_KEYS = (
    "name",
    "altitude_km",
    "inclination_deg",
    "sun_synchronous",
    "ltan",
    "raan_deg",
    "members",
    "layout",
    "spacing_m",
    "offsets_m",
    "link_range_m",
    "link_gbps",
)


@dataclass(frozen=True)
class ClusterSpec:
    """One ``[[cluster]]``: members ``<name>-<n>`` around a circular reference orbit."""

    name: str
    altitude_km: float
    inclination_deg: float
    members: int
    layout: ClusterLayout = "lattice-2d"
    spacing_m: float = _DEFAULT_SPACING_M
    #: The members' epoch positions for the ``offsets`` layout (x radial, y along, z cross).
    offsets_m: tuple[tuple[float, float, float], ...] = ()
    #: Optical links join every pair of members within this range.
    link_range_m: float = _DEFAULT_LINK_RANGE_M
    link_gbps: float = SUNCATCHER_LINK_GBPS
    #: The reference orbit's node (deg), unless ``ltan_h`` places it by the Sun.
    raan_deg: float = 0.0
    sun_synchronous: bool = False
    ltan_h: float | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(f"{self.name}-{n}" for n in range(self.members))

    @property
    def link_mbps(self) -> float:
        return self.link_gbps * 1e3


def parse_cluster(table: Mapping[str, Any], path: str, chk: Checker) -> ClusterSpec | None:
    """One ``[[cluster]]`` table, every problem reported with its field path."""
    chk.unknown_keys(table, CLUSTER_KEYS, path)
    name = chk.get(table, "name", path, chk.string)
    if name is not None and ("-" in name or not name.isprintable() or " " in name):
        chk.problem(
            f"{path}.name", f"must not contain '-' or spaces (ids are <name>-<n>), got {name!r}"
        )
        name = None
    altitude = chk.within(
        chk.get(table, "altitude_km", path, chk.number), f"{path}.altitude_km", 150, 50_000
    )
    plane = parse_plane(table, path, chk, altitude, node_key="raan_deg", what="cluster")
    inclination = plane.inclination_deg
    if inclination is not None and abs(math.sin(math.radians(inclination))) < _MIN_SIN_INCLINATION:
        chk.problem(
            f"{path}.inclination_deg",
            "must be at least 0.6 deg from the equator's plane (cross-track motion is set "
            f"by the node), got {exact_number(inclination)}",
        )
        inclination = None
    raan = chk.within(
        chk.get(table, "raan_deg", path, chk.number, 0.0), f"{path}.raan_deg", -360, 360
    )
    spacing = chk.positive(
        chk.get(table, "spacing_m", path, chk.number, _DEFAULT_SPACING_M), f"{path}.spacing_m"
    )
    link_range = chk.positive(
        chk.get(table, "link_range_m", path, chk.number, _DEFAULT_LINK_RANGE_M),
        f"{path}.link_range_m",
    )
    link_gbps = chk.positive(
        chk.get(table, "link_gbps", path, chk.number, SUNCATCHER_LINK_GBPS), f"{path}.link_gbps"
    )
    offsets = _parse_offsets(table, path, chk) if "offsets_m" in table else None
    layout: str | None = "offsets" if offsets is not None else "lattice-2d"
    if "layout" in table:
        layout = chk.string(table["layout"], f"{path}.layout")
        if "offsets_m" in table:
            chk.problem(f"{path}.layout", "offsets_m places the members: give one, not both")
            layout = None
        elif layout is not None and (layout not in CLUSTER_LAYOUTS or layout == "offsets"):
            chk.problem(
                f"{path}.layout", f"must be lattice-2d or lattice-3d, got {describe(layout)}"
            )
            layout = None
    members: int | None
    if offsets is not None:
        members = chk.get(table, "members", path, chk.integer, len(offsets))
        if members is not None and members != len(offsets):
            chk.problem(
                f"{path}.members",
                f"must equal the number of offsets_m entries ({len(offsets)}), got {members}",
            )
            members = None
    else:
        members = chk.get(table, "members", path, chk.integer)
        if members is not None and not 1 <= members <= MAX_MEMBERS:
            chk.problem(f"{path}.members", f"must be within [1, {MAX_MEMBERS}], got {members}")
            members = None
    if (
        name is None
        or altitude is None
        or inclination is None
        or plane.sun_synchronous is None
        or not plane.ltan_ok
        or raan is None
        or spacing is None
        or link_range is None
        or link_gbps is None
        or layout is None
        or members is None
        or ("offsets_m" in table and offsets is None)
    ):
        return None
    return ClusterSpec(
        name=name,
        altitude_km=altitude,
        inclination_deg=inclination,
        members=members,
        layout=cast(ClusterLayout, layout),
        spacing_m=spacing,
        offsets_m=offsets or (),
        link_range_m=link_range,
        link_gbps=link_gbps,
        raan_deg=raan,
        sun_synchronous=plane.sun_synchronous,
        ltan_h=plane.ltan_h,
    )


def _parse_offsets(
    table: Mapping[str, Any], path: str, chk: Checker
) -> tuple[tuple[float, float, float], ...] | None:
    raw = table["offsets_m"]
    where = f"{path}.offsets_m"
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_MEMBERS:
        chk.problem(
            where, f"must be an array of 1 to {MAX_MEMBERS} [x, y, z] triples, got {describe(raw)}"
        )
        return None
    out: list[tuple[float, float, float]] = []
    for i, item in enumerate(raw):
        if not isinstance(item, list) or len(item) != 3:
            chk.problem(f"{where}[{i}]", f"must be [x, y, z] in metres, got {describe(item)}")
            continue
        got = [chk.number(v, f"{where}[{i}][{k}]") for k, v in enumerate(item)]
        x, y, z = (float("nan") if v is None else v for v in got)
        if None not in got:
            out.append((x, y, z))
    if len(out) != len(raw):
        return None
    seen: dict[tuple[float, float, float], int] = {}
    for i, place in enumerate(out):
        if place in seen:
            chk.problem(f"{where}[{i}]", f"is the same place as offsets_m[{seen[place]}]")
            return None
        seen[place] = i
    return tuple(out)


# --------------------------------------------------------------------------- layouts


def _disc(count: int, spacing_m: float) -> NDArray[np.float64]:
    """The ``count`` square-lattice points nearest the centre (p, q), metres: a disc,
    ties broken by angle so the choice is the same on every machine."""
    half = math.ceil(math.sqrt(count / math.pi)) + 2
    grid_p, grid_q = np.meshgrid(
        np.arange(-half, half + 1), np.arange(-half, half + 1), indexing="ij"
    )
    p, q = grid_p.ravel(), grid_q.ravel()
    order = np.lexsort((np.round(np.arctan2(q, p), 12), p * p + q * q))[:count]
    return np.stack([p[order], q[order]], axis=1).astype(np.float64) * spacing_m


def _disc_layers(spec: ClusterSpec) -> list[int]:
    """Members per disc of a ``lattice-3d`` cluster."""
    layers = max(1, round(spec.members ** (1.0 / 3.0)))
    base, extra = divmod(spec.members, layers)
    return [base + (1 if k < extra else 0) for k in range(layers)]


def _roe(spec: ClusterSpec) -> NDArray[np.float64]:
    """Relative orbital elements of every member, metres (a times each):
    columns dl, dex, dey, diy (no member differs in inclination: dix = 0)."""
    n = spec.members
    out = np.zeros((n, 4))
    if spec.layout == "offsets":
        x0, y0, z0 = np.asarray(spec.offsets_m, dtype=np.float64).T
        out[:, 0], out[:, 1], out[:, 3] = y0, -x0, -z0
        return out
    if spec.layout == "lattice-2d":
        layers, pitch = [n], 0.0
    else:
        layers = _disc_layers(spec)
        widest = _disc(layers[0], spec.spacing_m)
        diameter = 2.0 * float(np.max(np.hypot(widest[:, 0], widest[:, 1]), initial=0.0))
        pitch = diameter + spec.spacing_m
    row = 0
    for k, size in enumerate(layers):
        pq = _disc(size, spec.spacing_m)
        p, q = pq[:, 0], pq[:, 1]
        rows = slice(row, row + size)
        out[rows, 0] = (k - (len(layers) - 1) / 2.0) * pitch
        out[rows, 1], out[rows, 2] = -q / 2.0, -p / 2.0
        out[rows, 3] = -q
        row += size
    return out


def member_offsets_m(spec: ClusterSpec, u_rad: NDArray[np.float64]) -> NDArray[np.float64]:
    """Members' positions relative to the centre (T, N, 3: radial, along-track,
    cross-track metres) at the centre's arguments of latitude ``u_rad`` (T,), by the
    linear model above: what the layout promises, for checks and ``validate``."""
    dl, dex, dey, diy = _roe(spec).T
    c, s = np.cos(u_rad)[:, None], np.sin(u_rad)[:, None]
    x = -(dex * c + dey * s)
    y = dl + 2.0 * dex * s - 2.0 * dey * c
    z = -diy * c
    return np.stack([x, y, z], axis=-1)


def closest_approach_m(spec: ClusterSpec, samples: int = 720) -> tuple[float, int, int]:
    """The closest two members come over an orbit (linear model) and which two."""
    if spec.members < 2:
        return math.inf, 0, 0
    u = np.linspace(0.0, 2.0 * math.pi, samples, endpoint=False)
    rel = member_offsets_m(spec, u)  # (T, N, 3)
    best, pair = math.inf, (0, 0)
    for i in range(spec.members - 1):
        d = np.linalg.norm(rel[:, i + 1 :, :] - rel[:, i : i + 1, :], axis=-1)
        k = int(np.argmin(d.min(axis=0)))
        if float(d[:, k].min()) < best:
            best, pair = float(d[:, k].min()), (i, i + 1 + k)
    return best, pair[0], pair[1]


# --------------------------------------------------------------------------- orbits


def member_elements(
    spec: ClusterSpec,
    raan_deg: float,
    epoch_days: float,
    mean_motion_rad_per_min: float,
) -> list[Satrec]:
    """Every member's SGP4 record: the reference orbit (node ``raan_deg``, argument of
    latitude 0 at the epoch, the mean motion given) offset by the member's relative
    elements; all share one semi-major axis and one inclination.
    ``epoch_days`` counts from SGP4's 1949 December 31 00:00 UT."""
    a_m = (WGS72_RADIUS_KM + spec.altitude_km) * 1e3
    inc = math.radians(spec.inclination_deg)
    raan = math.radians(raan_deg)
    roe = _roe(spec) / a_m
    # SGP4 raises eccentricities under 1e-6 to 1e-6, which would move a member with
    # almost no relative e-vector by 7 m: every member's e-vector is shifted by one
    # common vector instead (the reference orbit is then slightly eccentric).
    base = float(np.max(np.hypot(roe[:, 1], roe[:, 2]), initial=0.0)) + _ECC_BASE
    out: list[Satrec] = []
    for dl, dex, dey, diy in roe.tolist():
        ecc = math.hypot(base + dex, dey)
        argp = math.atan2(dey, base + dex)
        d_raan = diy / math.sin(inc)
        # dl = du + dRAAN cos i, and u = argp + M.
        mean_anomaly = dl - d_raan * math.cos(inc) - argp
        motion = mean_motion_rad_per_min
        out.append(_satrec(epoch_days, ecc, argp, inc, mean_anomaly, motion, raan + d_raan))
    return out


def _satrec(
    epoch_days: float,
    ecc: float,
    argp_rad: float,
    inc_rad: float,
    mean_anomaly_rad: float,
    motion_rad_per_min: float,
    raan_rad: float,
) -> Satrec:
    # Here: sgp4 is the emulator extra's, and scenarios are read by the client too.
    from sgp4.api import WGS72, Satrec

    sat = Satrec()
    sat.sgp4init(
        WGS72,
        "i",
        0,
        epoch_days,
        0.0,  # no drag: members keep their formation for the whole run
        0.0,
        0.0,
        ecc,
        argp_rad % (2 * math.pi),
        inc_rad,
        mean_anomaly_rad % (2 * math.pi),
        motion_rad_per_min,
        raan_rad % (2 * math.pi),
    )
    return sat
