"""Ground-station to satellite geometry: elevation, azimuth, slant range, light delay.

A coarse cone test (one dot product per station and satellite) picks the few
satellites that can possibly be above a station's mask; exact topocentric angles are
computed only for those, in the same compiled pass. That keeps a tick linear in
satellites even for a million.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from orbitmesh.constants import C_KM_PER_S, WGS84_A_KM
from orbitmesh.geodesy import enu_basis, geodetic_to_itrs_km, itrs_to_geodetic
from orbitmesh.orchestrator.scenario import GroundStationSpec
from orbitmesh.orchestrator.terminals import TerminalTracks

__all__ = ["GroundLinks", "StationSet"]

#: Cone cosines are computed for altitude ceilings in steps of this.
_CONE_STEP_KM = 25.0
_CONES_KEPT = 64


@dataclass(frozen=True)
class GroundLinks:
    """Every station-satellite pair above the station's mask at one instant.

    Parallel arrays sorted by station, then satellite index.
    """

    station: NDArray[np.int32]
    satellite: NDArray[np.int32]
    elevation_deg: NDArray[np.float64]
    azimuth_deg: NDArray[np.float64]
    range_km: NDArray[np.float64]

    @property
    def delay_ms(self) -> NDArray[np.float64]:
        return self.range_km / C_KM_PER_S * 1e3

    def __len__(self) -> int:
        return len(self.station)


@njit(nogil=True, cache=True)
def _in_view(
    positions_km: NDArray[np.float64],
    valid: NDArray[np.bool_],
    station_unit: NDArray[np.float64],
    station_km: NDArray[np.float64],
    enu: NDArray[np.float64],
    cone_cos: NDArray[np.float64],
    sin_mask: NDArray[np.float64],
    out_station: NDArray[np.int32],
    out_satellite: NDArray[np.int32],
    out_local: NDArray[np.float64],
    out_range_km: NDArray[np.float64],
) -> int:
    """Pairs above the mask, satellite by satellite; returns how many there are (only
    the first ``len(out_station)`` are written: call again with room if more)."""
    count = 0
    room = out_station.shape[0]
    for i in range(positions_km.shape[0]):
        if not valid[i]:
            continue
        x, y, z = positions_km[i, 0], positions_km[i, 1], positions_km[i, 2]
        norm = np.sqrt(x * x + y * y + z * z)
        for j in range(station_unit.shape[0]):
            # cos(angle) * |r| >= cone_cos * |r|: no normalising of the satellite.
            if x * station_unit[j, 0] + y * station_unit[j, 1] + z * station_unit[j, 2] < (
                norm * cone_cos[j]
            ):
                continue
            rx = x - station_km[j, 0]
            ry = y - station_km[j, 1]
            rz = z - station_km[j, 2]
            rng = np.sqrt(rx * rx + ry * ry + rz * rz)
            up = enu[j, 2, 0] * rx + enu[j, 2, 1] * ry + enu[j, 2, 2] * rz
            if not up >= rng * sin_mask[j]:
                continue
            if count < room:
                out_station[count] = j
                out_satellite[count] = i
                out_local[count, 0] = enu[j, 0, 0] * rx + enu[j, 0, 1] * ry + enu[j, 0, 2] * rz
                out_local[count, 1] = enu[j, 1, 0] * rx + enu[j, 1, 1] * ry + enu[j, 1, 2] * rz
                out_local[count, 2] = up
                out_range_km[count] = rng
            count += 1
    return count


class StationSet:
    """The ground nodes of a scenario: fixed stations, then terminals, which may move.

    ``itrs_km`` and ``enu`` hold every node's frame at the scenario start;
    :meth:`frames` gives them at any instant (the fixed stations' never change).
    """

    def __init__(
        self, stations: Sequence[GroundStationSpec], terminals: TerminalTracks | None = None
    ) -> None:
        self.specs = tuple(stations)  # the fixed stations only
        self.terminals = terminals if terminals is not None and terminals.size else None
        moving = self.terminals
        self.names = tuple(s.name for s in stations) + (moving.ids if moving else ())
        self.n_fixed = len(stations)
        self.size = len(self.names)
        lat = np.array([s.lat_deg for s in stations], dtype=np.float64)
        lon = np.array([s.lon_deg for s in stations], dtype=np.float64)
        alt = np.array([s.alt_m for s in stations], dtype=np.float64)
        mask = np.array([s.min_elevation_deg for s in stations], dtype=np.float64)
        if moving is not None:
            t_lat, t_lon, t_alt = moving.geodetic(0.0)
            lat, lon = np.concatenate([lat, t_lat]), np.concatenate([lon, t_lon])
            alt, mask = (
                np.concatenate([alt, t_alt]),
                np.concatenate([mask, moving.min_elevation_deg]),
            )
        self.mask_deg = mask
        self.itrs_km = geodetic_to_itrs_km(lat, lon, alt).reshape(-1, 3)
        self.enu = enu_basis(lat, lon).reshape(-1, 3, 3)
        self._sin_mask = np.sin(np.radians(self.mask_deg))
        self._unit = self.itrs_km / np.linalg.norm(self.itrs_km, axis=1, keepdims=True)
        #: Whether any node moves (else every instant shares the start's frames).
        self.moves = moving is not None and bool(moving.moving.any())
        #: Cone cosines by altitude ceiling (km): the highest satellite barely changes
        #: from tick to tick, and the cones cost a Python loop over the stations.
        self._cones: dict[float, NDArray[np.float64]] = {}
        #: Output room for the pairs in view (grown as needed).
        self._room = 1024

    def frames(self, offset_s: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Every node's Earth-fixed position (M, 3) and east-north-up basis (M, 3, 3)
        ``offset_s`` after the start."""
        if not self.moves or self.terminals is None:
            return self.itrs_km, self.enu
        lat, lon, alt = self.terminals.geodetic(offset_s)
        itrs = self.itrs_km.copy()
        enu = self.enu.copy()
        itrs[self.n_fixed :] = geodetic_to_itrs_km(lat, lon, alt).reshape(-1, 3)
        enu[self.n_fixed :] = enu_basis(lat, lon).reshape(-1, 3, 3)
        return itrs, enu

    def frames_at(
        self, nodes: NDArray[np.intp], offsets_s: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Position (K, 3) and up vector (K, 3) of ``nodes[k]`` at ``offsets_s[k]``."""
        itrs, up = self.itrs_km[nodes], self.enu[nodes, 2, :]
        if not self.moves or self.terminals is None:
            return itrs, up
        on = np.flatnonzero(nodes >= self.n_fixed)
        if len(on):
            rows = nodes[on] - self.n_fixed
            moved = self.terminals.itrs_km_at(rows, offsets_s[on])
            lat, lon, _ = itrs_to_geodetic(moved)
            itrs[on], up[on] = moved, enu_basis(lat, lon).reshape(-1, 3, 3)[:, 2, :]
        return itrs, up

    def cone_cosines(self, max_altitude_km: float) -> NDArray[np.float64]:
        """Cosine of the widest geocentric angle at which a satellite no higher than
        ``max_altitude_km`` can clear each station's mask (with a margin for the
        ellipsoid and station height), one per station."""
        out = np.empty(self.size)
        for i, mask in enumerate(self.mask_deg):
            r_station = float(np.linalg.norm(self.itrs_km[i]))
            r_sat = WGS84_A_KM + max_altitude_km + 50.0
            # Law of sines in the Earth-centre/station/satellite triangle.
            elev = math.radians(max(mask - 1.0, 0.0))
            nadir = math.asin(min(1.0, r_station * math.cos(elev) / r_sat))
            central = math.pi / 2 - elev - nadir
            out[i] = math.cos(min(central + math.radians(1.0), math.pi))
        return out

    def links(
        self,
        positions_km: NDArray[np.float64],
        *,
        cone_cos: NDArray[np.float64] | None = None,
        valid: NDArray[np.bool_] | None = None,
        at_s: float = 0.0,
    ) -> GroundLinks:
        """Pairs above the mask for positions (N, 3) at one instant, ``at_s`` after the
        start (where the terminals are)."""
        empty_i = np.empty(0, dtype=np.int32)
        empty_f = np.empty(0, dtype=np.float64)
        if self.size == 0 or len(positions_km) == 0:
            return GroundLinks(empty_i, empty_i, empty_f, empty_f, empty_f)
        if cone_cos is None:
            max_r2 = float(np.nanmax(np.einsum("ij,ij->i", positions_km, positions_km)))
            # Rounded up: a cone for a higher ceiling is wider, so nothing is missed.
            ceiling_km = _CONE_STEP_KM * math.ceil((np.sqrt(max_r2) - WGS84_A_KM) / _CONE_STEP_KM)
            cone_cos = self._cones.get(ceiling_km)
            if cone_cos is None:
                if len(self._cones) > _CONES_KEPT:
                    self._cones.clear()
                cone_cos = self._cones[ceiling_km] = self.cone_cosines(ceiling_km)
        ok = np.ones(len(positions_km), dtype=bool) if valid is None else valid
        positions = np.ascontiguousarray(positions_km, dtype=np.float64)
        itrs, enu = self.frames(at_s)
        unit = self._unit if itrs is self.itrs_km else itrs / np.linalg.norm(itrs, axis=1)[:, None]
        while True:
            room = self._room
            st = np.empty(room, dtype=np.int32)
            sat = np.empty(room, dtype=np.int32)
            local = np.empty((room, 3))
            rng = np.empty(room)
            count = _in_view(
                positions, ok, unit, itrs, enu, cone_cos, self._sin_mask,
                st, sat, local, rng,
            )  # fmt: skip
            # Room for the next tick: links change slowly, keep some slack.
            self._room = max(1024, count + count // 4)
            if count <= room:
                break
        # Satellite order within each station, stations in order.
        order = np.argsort(st[:count], kind="stable")
        st, sat, local, rng = st[order], sat[order], local[order], rng[order]
        elevation = np.degrees(np.arcsin(np.clip(local[:, 2] / rng, -1.0, 1.0)))
        azimuth = np.degrees(np.arctan2(local[:, 0], local[:, 1])) % 360.0
        return GroundLinks(st, sat, elevation, azimuth, rng)

    def elevation_deg(self, station: int, positions_km: NDArray[np.float64]) -> NDArray[np.float64]:
        """Elevation of positions (..., 3) seen from one station, without any mask."""
        rel = positions_km - self.itrs_km[station]
        # einsum, not BLAS: BLAS's worker threads spin after a call and take the cores
        # from the route searches (orchestrator/orbits.py, _single_threaded_blas).
        up = np.einsum("...j,j->...", rel, self.enu[station][2])
        sin_el = np.clip(up / np.linalg.norm(rel, axis=-1), -1.0, 1.0)
        return np.asarray(np.degrees(np.arcsin(sin_el)), dtype=np.float64)
