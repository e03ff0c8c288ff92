"""The satellites of a scenario: Walker shells expanded to elements, TLE sets read.

Walker satellite ``<shell>-<plane>-<slot>`` of shell i:T/P/F sits in plane ``p`` with
right ascension ``offset + p * spread / P`` and mean anomaly
``slot * 360 / S + p * F * 360 / T`` (S = T / P), on a circular orbit whose epoch is the
scenario start. TLE satellites keep their own elements and epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray
from sgp4.api import WGS72, Satrec
from skyfield.api import load as _skyfield_load

from .constants import SECONDS_PER_DAY, WGS72_MU_KM3_PER_S2, WGS72_RADIUS_KM
from .scenario import Scenario, ScenarioError, ShellSpec
from .tle import TleError, TleRecord, catalog_number, read_tle_file

__all__ = ["SatelliteCatalog", "build_catalog", "walker_satrecs"]

#: SGP4 counts epochs in days from 1949 December 31 00:00 UT (JD 2433281.5).
_SGP4_EPOCH0_JD = 2433281.5
_TIMESCALE = _skyfield_load.timescale(builtin=True)


@dataclass(frozen=True)
class SatelliteCatalog:
    """Static facts about every satellite, in the order used by all per-tick arrays."""

    ids: tuple[str, ...]
    names: tuple[str, ...]
    satrecs: tuple[Satrec, ...]
    shells: tuple[ShellSpec, ...]
    #: Index into ``shells`` for Walker satellites, -1 for TLE satellites.
    shell_index: NDArray[np.int32]
    plane: NDArray[np.int32]  # -1 for TLE satellites
    slot: NDArray[np.int32]  # -1 for TLE satellites
    compute: NDArray[np.bool_]
    #: First index of each shell's contiguous block (shells come first, in order).
    shell_start: tuple[int, ...]
    index: dict[str, int] = field(repr=False, compare=False)

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def compute_indices(self) -> NDArray[np.intp]:
        return np.flatnonzero(self.compute)


def _sgp4_epoch_days(start: datetime) -> tuple[float, float]:
    """SGP4 epoch (days since 1949-12-31) of a UTC instant, split as skyfield splits it."""
    t = _TIMESCALE.from_datetime(start)
    whole = float(t.whole)
    fraction = float(t.tai_fraction - t._leap_seconds() / SECONDS_PER_DAY)
    return whole - _SGP4_EPOCH0_JD, fraction


def kozai_mean_motion_rad_per_min(altitude_km: float) -> float:
    """Mean motion of a circular orbit at ``altitude_km`` (two-body, WGS72 constants)."""
    a_km = WGS72_RADIUS_KM + altitude_km
    return math.sqrt(WGS72_MU_KM3_PER_S2 / a_km**3) * 60.0


def walker_satrecs(shell: ShellSpec, start: datetime) -> list[Satrec]:
    """SGP4 records for every satellite of a Walker shell, plane-major order."""
    whole_days, fraction = _sgp4_epoch_days(start)
    total = shell.size
    n_kozai = kozai_mean_motion_rad_per_min(shell.altitude_km)
    incl = math.radians(shell.inclination_deg)
    out: list[Satrec] = []
    for p in range(shell.planes):
        raan = math.radians(
            (shell.raan_offset_deg + p * shell.raan_spread_deg / shell.planes) % 360.0
        )
        for s in range(shell.sats_per_plane):
            anomaly_deg = (
                s * 360.0 / shell.sats_per_plane + p * shell.phasing * 360.0 / total
            ) % 360.0
            sat = Satrec()
            sat.sgp4init(
                WGS72,
                "i",
                0,
                whole_days + fraction,
                0.0,  # bstar: no drag, so a shell keeps its geometry for the whole run
                0.0,
                0.0,
                0.0,  # circular
                0.0,
                incl,
                math.radians(anomaly_deg),
                n_kozai,
                raan,
            )
            # sgp4init takes the epoch as one float; restore the exact split so that
            # propagation times are as precise as skyfield's for the same instant.
            sat.jdsatepoch = whole_days + _SGP4_EPOCH0_JD
            sat.jdsatepochF = fraction
            out.append(sat)
    return out


def _select_tles(scenario: Scenario, problems: list[str]) -> list[TleRecord]:
    chosen: list[TleRecord] = []
    for spec in scenario.tles:
        try:
            records = read_tle_file(spec.path)
        except TleError as exc:
            problems.extend(f"{scenario.source}: {spec.field_path}.path: {p}" for p in exc.problems)
            continue
        if spec.names is None:
            chosen.extend(records)
            continue
        by_key: dict[str, TleRecord] = {}
        for rec in records:
            by_key.setdefault(rec.name, rec)
            by_key.setdefault(rec.catalog_id, rec)
        for i, wanted in enumerate(spec.names):
            # A number (plain or Alpha-5) selects by catalog id, anything else by name.
            found = by_key.get(wanted) or by_key.get(catalog_number(wanted) or wanted)
            if found is None:
                problems.append(
                    f"{scenario.source}: {spec.field_path}.names[{i}]: "
                    f"no satellite named or numbered {wanted!r} in {spec.path.name}"
                )
            else:
                chosen.append(found)
    return chosen


def _compute_mask(scenario: Scenario, ids: list[str], problems: list[str]) -> NDArray[np.bool_]:
    spec = scenario.compute
    n = len(ids)
    if spec.mode == "all":
        return np.ones(n, dtype=bool)
    if spec.mode == "none":
        return np.zeros(n, dtype=bool)
    if spec.mode == "every":
        mask = np.zeros(n, dtype=bool)
        mask[:: spec.every] = True
        return mask
    mask = np.zeros(n, dtype=bool)
    index = {sid: i for i, sid in enumerate(ids)}
    for i, sid in enumerate(spec.ids):
        if sid not in index:
            problems.append(
                f"{scenario.source}: compute.satellites[{i}]: no satellite with id {sid!r}"
            )
        else:
            mask[index[sid]] = True
    return mask


def build_catalog(scenario: Scenario) -> SatelliteCatalog:
    """Expand shells and read TLE files. Raises ScenarioError listing every problem."""
    problems: list[str] = []
    ids: list[str] = []
    names: list[str] = []
    satrecs: list[Satrec] = []
    shell_index: list[NDArray[np.int32]] = []
    planes: list[NDArray[np.int32]] = []
    slots: list[NDArray[np.int32]] = []
    starts: list[int] = []
    for k, shell in enumerate(scenario.shells):
        starts.append(len(ids))
        p_idx, s_idx = np.divmod(
            np.arange(shell.size, dtype=np.int32), np.int32(shell.sats_per_plane)
        )
        ids.extend(
            f"{shell.name}-{p}-{s}" for p, s in zip(p_idx.tolist(), s_idx.tolist(), strict=True)
        )
        satrecs.extend(walker_satrecs(shell, scenario.time.start))
        shell_index.append(np.full(shell.size, k, dtype=np.int32))
        planes.append(p_idx.astype(np.int32))
        slots.append(s_idx.astype(np.int32))
    names.extend(ids)

    tles = _select_tles(scenario, problems)
    for rec in tles:
        ids.append(rec.catalog_id)
        names.append(rec.name)
        satrecs.append(rec.satrec())
    n_tle = len(tles)
    shell_index.append(np.full(n_tle, -1, dtype=np.int32))
    planes.append(np.full(n_tle, -1, dtype=np.int32))
    slots.append(np.full(n_tle, -1, dtype=np.int32))

    seen: dict[str, int] = {}
    for sid in ids:
        seen[sid] = seen.get(sid, 0) + 1
    for sid, count in seen.items():
        if count > 1:
            problems.append(f"{scenario.source}: satellite id {sid!r} appears {count} times")
    if not ids and not problems:
        problems.append(f"{scenario.source}: the scenario selects no satellites")
    compute = _compute_mask(scenario, ids, problems)
    if problems:
        raise ScenarioError(problems)
    return SatelliteCatalog(
        ids=tuple(ids),
        names=tuple(names),
        satrecs=tuple(satrecs),
        shells=scenario.shells,
        shell_index=np.concatenate(shell_index),
        plane=np.concatenate(planes),
        slot=np.concatenate(slots),
        compute=compute,
        shell_start=tuple(starts),
        index={sid: i for i, sid in enumerate(ids)},
    )
