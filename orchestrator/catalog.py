"""The satellites of a scenario: Walker shells expanded to elements, TLE and OMM files read,
formation clusters' members given elements of their own (orchestrator/formation.py).

Walker satellite ``<shell>-<plane>-<slot>`` of shell i:T/P/F sits in plane ``p`` with
right ascension ``offset + p * spread / P`` and mean anomaly
``slot * 360 / S + p * F * 360 / T`` (S = T / P), on a circular orbit whose epoch is the
scenario start. TLE and OMM satellites keep their own elements and epoch.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from sgp4.api import WGS72, Satrec
from skyfield.api import load as _skyfield_load

from orbitmesh.constants import SECONDS_PER_DAY, WGS72_MU_KM3_PER_S2, WGS72_RADIUS_KM
from orbitmesh.orchestrator.formation import ClusterSpec, member_elements
from orbitmesh.orchestrator.omm import OmmError, read_omm_file
from orbitmesh.orchestrator.scenario import Scenario, ScenarioError, ShellSpec, TleSourceSpec
from orbitmesh.orchestrator.selection import selection_mask
from orbitmesh.orchestrator.tle import TleError, catalog_number, read_tle_file

__all__ = ["SatelliteCatalog", "WalkerBlock", "build_catalog", "kozai_mean_motion_rad_per_min"]

#: SGP4 counts epochs in days from 1949 December 31 00:00 UT (JD 2433281.5).
_SGP4_EPOCH0_JD = 2433281.5
_TIMESCALE = _skyfield_load.timescale(builtin=True)


@dataclass(frozen=True)
class WalkerBlock:
    """One Walker shell's contiguous block of the catalog and its element pattern.

    All satellites of a shell share altitude, inclination and epoch; they differ only in
    right ascension (one per plane) and mean anomaly, which lies on the lattice
    ``2 pi m / T`` with ``m = (slot * P + plane * F) mod T``.
    """

    shell: ShellSpec
    start: int  # catalog index of <shell>-0-0
    epoch_whole_jd: float  # SGP4 epoch split exactly as skyfield splits times
    epoch_fraction: float

    @property
    def size(self) -> int:
        return self.shell.size

    def raan_rad(self) -> NDArray[np.float64]:
        """Right ascension of each plane's node (radians)."""
        sh = self.shell
        deg = (sh.raan_offset_deg + np.arange(sh.planes) * sh.raan_spread_deg / sh.planes) % 360.0
        return np.radians(deg)

    def lattice(self) -> NDArray[np.int64]:
        """Mean-anomaly lattice index m of every satellite, plane-major."""
        sh = self.shell
        plane, slot = np.divmod(np.arange(sh.size, dtype=np.int64), sh.sats_per_plane)
        return np.asarray((slot * sh.planes + plane * sh.phasing) % sh.size, dtype=np.int64)

    def elements_satrec(self, raan_rad: float, mean_anomaly_rad: float) -> Satrec:
        sat = Satrec()
        sat.sgp4init(
            WGS72,
            "i",
            0,
            self.epoch_whole_jd - _SGP4_EPOCH0_JD + self.epoch_fraction,
            0.0,  # bstar: no drag, so a shell keeps its geometry for the whole run
            0.0,
            0.0,
            0.0,  # circular
            0.0,
            math.radians(self.shell.inclination_deg),
            mean_anomaly_rad,
            kozai_mean_motion_rad_per_min(self.shell.altitude_km),
            raan_rad,
        )
        # sgp4init takes the epoch as one float; restore the exact split so that
        # propagation times are as precise as skyfield's for the same instant.
        sat.jdsatepoch = self.epoch_whole_jd
        sat.jdsatepochF = self.epoch_fraction
        return sat

    def satrec(self, offset: int) -> Satrec:
        """SGP4 record of the satellite at ``start + offset``."""
        sh = self.shell
        plane, slot = divmod(offset, sh.sats_per_plane)
        m = (slot * sh.planes + plane * sh.phasing) % sh.size
        return self.elements_satrec(float(self.raan_rad()[plane]), 2.0 * math.pi * m / sh.size)


@dataclass(frozen=True)
class SatelliteCatalog:
    """Static facts about every satellite, in the order used by all per-tick arrays.

    Walker shells come first (one contiguous block each, plane-major), then TLE
    satellites: those of TLE files, then those of OMM files, then the members of each
    cluster in turn ("TLE" below means all three: satellites with element sets of their
    own). Walker satellites carry no SGP4 record until one is asked for: the propagator
    exploits their shared elements instead (see orbits.py).
    """

    ids: tuple[str, ...]
    names: tuple[str, ...]
    walker: tuple[WalkerBlock, ...]
    tle_satrecs: tuple[Satrec, ...]
    #: Index into ``shells`` for Walker satellites, -1 for TLE satellites.
    shell_index: NDArray[np.int32]
    plane: NDArray[np.int32]  # -1 for TLE satellites
    slot: NDArray[np.int32]  # -1 for TLE satellites
    compute: NDArray[np.bool_]
    #: Satellites carrying each user model (always a subset of ``compute``).
    model_masks: dict[str, NDArray[np.bool_]] = field(default_factory=dict)
    #: Formation clusters, and each satellite's cluster (index into ``clusters``, -1 for
    #: none; None when there are no clusters).
    clusters: tuple[ClusterSpec, ...] = ()
    cluster_index: NDArray[np.int32] | None = None
    _satrec_cache: dict[int, Satrec] = field(default_factory=dict, repr=False, compare=False)

    @property
    def size(self) -> int:
        return len(self.ids)

    @property
    def shells(self) -> tuple[ShellSpec, ...]:
        return tuple(block.shell for block in self.walker)

    @property
    def shell_start(self) -> tuple[int, ...]:
        return tuple(block.start for block in self.walker)

    @property
    def tle_start(self) -> int:
        return self.size - len(self.tle_satrecs)

    @property
    def compute_indices(self) -> NDArray[np.intp]:
        return np.flatnonzero(self.compute)

    @cached_property
    def index(self) -> dict[str, int]:
        """Catalog index by satellite id."""
        return {sid: i for i, sid in enumerate(self.ids)}

    def satrec(self, i: int) -> Satrec:
        """The SGP4 record of satellite ``i`` (built on demand for Walker satellites)."""
        if i >= self.tle_start:
            return self.tle_satrecs[i - self.tle_start]
        cached = self._satrec_cache.get(i)
        if cached is None:
            block = next(b for b in self.walker if b.start <= i < b.start + b.size)
            cached = self._satrec_cache[i] = block.satrec(i - block.start)
        return cached

    @property
    def cluster_start(self) -> int:
        """Catalog index of the first cluster member (the size when there are none)."""
        return self.size - sum(c.members for c in self.clusters)

    def cluster_members(self, k: int) -> NDArray[np.intp]:
        """Catalog indices of cluster ``k``'s members, in member order."""
        start = self.cluster_start + sum(c.members for c in self.clusters[:k])
        return np.arange(start, start + self.clusters[k].members, dtype=np.intp)

    def tle_age_days(self, when: datetime) -> NDArray[np.float64]:
        """Days between each file satellite's epoch (TLE or OMM) and ``when`` (absolute)."""
        whole, fraction = _sgp4_epoch(when)
        files = self.tle_satrecs[: self.cluster_start - self.tle_start]
        epochs = np.array([s.jdsatepoch + s.jdsatepochF for s in files])
        return np.asarray(np.abs(whole + fraction - epochs), dtype=np.float64)

    def shell_name(self, i: int) -> str | None:
        k = int(self.shell_index[i])
        return self.walker[k].shell.name if k >= 0 else None

    def models_for(self, i: int, builtin: Sequence[str]) -> tuple[str, ...]:
        """The models compute satellite ``i`` carries: the built-ins, then user models."""
        own = tuple(name for name, mask in self.model_masks.items() if mask[i])
        return (*builtin, *own)

    @property
    def satrecs(self) -> tuple[Satrec, ...]:
        """Every satellite's SGP4 record (costly for big shells: prefer ``satrec(i)``)."""
        return tuple(self.satrec(i) for i in range(self.size))


def _sgp4_epoch(start: datetime) -> tuple[float, float]:
    """UTC Julian date of an instant, split in two exactly as skyfield feeds SGP4."""
    t = _TIMESCALE.from_datetime(start)
    return float(t.whole), float(t.tai_fraction - t._leap_seconds() / SECONDS_PER_DAY)


def kozai_mean_motion_rad_per_min(altitude_km: float) -> float:
    """Mean motion of a circular orbit at ``altitude_km`` (two-body, WGS72 constants)."""
    a_km = WGS72_RADIUS_KM + altitude_km
    return math.sqrt(WGS72_MU_KM3_PER_S2 / a_km**3) * 60.0


class _ElementSet(Protocol):
    """A satellite read from a file: a TleRecord or an OmmRecord."""

    @property
    def catalog_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    def satrec(self) -> Satrec: ...


def _select_tles(scenario: Scenario, problems: list[str]) -> list[_ElementSet]:
    readers: list[tuple[TleSourceSpec, Callable[[Path], Sequence[_ElementSet]]]] = [
        *((spec, read_tle_file) for spec in scenario.tles),
        *((spec, read_omm_file) for spec in scenario.omm),
    ]
    chosen: list[_ElementSet] = []
    for spec, read in readers:
        try:
            records = read(spec.path)
        except (TleError, OmmError) as exc:
            problems.extend(f"{scenario.source}: {spec.field_path}.path: {p}" for p in exc.problems)
            continue
        if spec.names is None:
            chosen.extend(records)
            continue
        by_key: dict[str, _ElementSet] = {}
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


def _node_at_ltan_deg(ltan_h: float, epoch: datetime) -> float:
    """The node's right ascension (deg) that holds local time ``ltan_h`` at the epoch."""
    # Here, not at the top: the Sun's ephemeris is read only by scenarios that need it.
    from orbitmesh.orchestrator.sunlight import sun_teme_ra_deg
    from orbitmesh.orchestrator.sunsync import node_raan_deg

    return node_raan_deg(sun_teme_ra_deg(_TIMESCALE.from_datetime(epoch)), ltan_h)


def _with_node_at_ltan(shell: ShellSpec, epoch: datetime) -> ShellSpec:
    """A sun-synchronous shell with a local time of the node: its first plane's node
    placed at that local time at the epoch (the shell as given otherwise)."""
    if shell.ltan_h is None:
        return shell
    return replace(shell, raan_offset_deg=_node_at_ltan_deg(shell.ltan_h, epoch))


def build_catalog(scenario: Scenario) -> SatelliteCatalog:
    """Expand shells and read TLE and OMM files. Raises ScenarioError listing every
    problem."""
    problems: list[str] = []
    ids: list[str] = []
    names: list[str] = []
    blocks: list[WalkerBlock] = []
    shell_index: list[NDArray[np.int32]] = []
    planes: list[NDArray[np.int32]] = []
    slots: list[NDArray[np.int32]] = []
    whole_jd, fraction = _sgp4_epoch(scenario.time.start)
    shells = [_with_node_at_ltan(shell, scenario.time.start) for shell in scenario.shells]
    for k, shell in enumerate(shells):
        blocks.append(
            WalkerBlock(
                shell=shell, start=len(ids), epoch_whole_jd=whole_jd, epoch_fraction=fraction
            )
        )
        p_idx, s_idx = np.divmod(
            np.arange(shell.size, dtype=np.int32), np.int32(shell.sats_per_plane)
        )
        prefix = f"{shell.name}-"
        ids.extend(
            prefix + str(p) + "-" + str(s)
            for p, s in zip(p_idx.tolist(), s_idx.tolist(), strict=True)
        )
        shell_index.append(np.full(shell.size, k, dtype=np.int32))
        planes.append(p_idx.astype(np.int32))
        slots.append(s_idx.astype(np.int32))
    names.extend(ids)

    tles = _select_tles(scenario, problems)
    for rec in tles:
        ids.append(rec.catalog_id)
        names.append(rec.name)
    members = _cluster_members(scenario, whole_jd, fraction)
    for cluster in scenario.clusters:
        ids.extend(cluster.ids)
        names.extend(cluster.ids)
    n_members = len(members)
    # Neither TLE satellites nor cluster members belong to a shell, plane or slot.
    for outside in (shell_index, planes, slots):
        outside.append(np.full(len(tles) + n_members, -1, dtype=np.int32))

    # Walker and cluster ids are unique by construction (shell and cluster names are,
    # together) and contain '-', which catalog numbers never do; only TLE selections can
    # repeat an id.
    for sid, count in Counter(rec.catalog_id for rec in tles).items():
        if count > 1:
            problems.append(f"{scenario.source}: satellite id {sid!r} appears {count} times")
    if not ids and not problems:
        problems.append(f"{scenario.source}: the scenario selects no satellites")
    nodes = scenario.nodes
    lists = [scenario.compute.mode, *(m.satellites.mode for m in nodes.models)]
    needs_index = "list" in lists or bool(nodes.satellite_overrides)
    index = {sid: i for i, sid in enumerate(ids)} if needs_index else {}
    compute = selection_mask(
        scenario.compute, ids, index, f"{scenario.source}: compute.satellites", problems
    )
    shell_of_index = np.concatenate(shell_index)
    shell_names = [s.name for s in scenario.shells]

    def shell_of(i: int) -> str | None:
        k = int(shell_of_index[i])
        return shell_names[k] if k >= 0 else None

    nodes.resolve(ids, index, shell_of, compute, scenario.source, problems)
    model_masks = nodes.model_masks(ids, index, scenario.source, problems)
    if problems:
        raise ScenarioError(problems)
    return SatelliteCatalog(
        ids=tuple(ids),
        names=tuple(names),
        walker=tuple(blocks),
        tle_satrecs=(*(rec.satrec() for rec in tles), *members),
        shell_index=shell_of_index,
        plane=np.concatenate(planes),
        slot=np.concatenate(slots),
        compute=compute,
        model_masks={name: mask & compute for name, mask in model_masks.items()},
        clusters=scenario.clusters,
        cluster_index=(
            np.concatenate(
                [np.full(len(ids) - n_members, -1, dtype=np.int32)]
                + [np.full(c.members, k, dtype=np.int32) for k, c in enumerate(scenario.clusters)]
            )
            if scenario.clusters
            else None
        ),
    )


def _cluster_members(scenario: Scenario, whole_jd: float, fraction: float) -> list[Satrec]:
    """Every cluster member's SGP4 record, epoch at the scenario start."""
    out: list[Satrec] = []
    for cluster in scenario.clusters:
        raan_deg = (
            cluster.raan_deg
            if cluster.ltan_h is None
            else _node_at_ltan_deg(cluster.ltan_h, scenario.time.start)
        )
        motion = kozai_mean_motion_rad_per_min(cluster.altitude_km)
        for sat in member_elements(
            cluster, raan_deg, whole_jd - _SGP4_EPOCH0_JD + fraction, motion
        ):
            # As for Walker shells: the exact split keeps propagation times precise.
            sat.jdsatepoch, sat.jdsatepochF = whole_jd, fraction
            out.append(sat)
    return out
