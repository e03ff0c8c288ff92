"""Which satellites are in sunlight: the Sun from DE421 (shipped by skyfield-data).

The shadow test is skyfield's own cylinder-free geometry (``is_sunlit``): a satellite is
lit unless the line from it towards the Sun passes through the Earth sphere in front of
it. We evaluate it in the Earth-fixed frame for all satellites at once; rotations keep
every distance, so the verdict is the same as skyfield's in GCRS.
"""

from __future__ import annotations

import threading
import warnings
from functools import cache
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray
from skyfield.api import Loader
from skyfield.sgp4lib import TEME
from skyfield.timelib import Time

from orbitmesh.orchestrator.orbits import teme_to_itrs_matrices, timescale

__all__ = ["SHADOW_RADIUS_KM", "SUN_GRID_S", "sun_itrs_km", "sun_teme_ra_deg", "sunlit"]

#: skyfield's ERAD (IERS 2010 equatorial radius), used so that both verdicts match.
SHADOW_RADIUS_KM = 6378.1366


@cache
def _ephemeris() -> Any:
    from skyfield_data import get_skyfield_data_path

    with warnings.catch_warnings():
        # skyfield-data warns when its files pass a nominal expiry date; DE421 covers
        # 1900-2050, so the warning says nothing about our use of it.
        warnings.simplefilter("ignore", RuntimeWarning)
        loader = Loader(get_skyfield_data_path(), verbose=False)
        return loader("de421.bsp")


#: Spacing of the Sun samples, in seconds of TT. In skyfield's TEME frame the Sun moves
#: about a degree a day, so linear interpolation over 600 s is off by ~1e-9 rad: 10 um
#: of shadow edge at LEO, against the 1 m the shadow tests allow.
SUN_GRID_S = 600.0
_SUN_GRID_DAYS = SUN_GRID_S / 86_400.0
#: Samples kept (about a year of 600 s samples, 1.2 MB).
_SUN_CACHE_MAX = 50_000
_sun_teme_km: dict[int, NDArray[np.float64]] = {}
#: Ticks are computed in worker threads: one writer at a time.
_sun_lock = threading.Lock()


def _sun_teme_samples(indices: NDArray[np.int64]) -> NDArray[np.float64]:
    """The Sun in skyfield's TEME frame at grid instants ``index * SUN_GRID_S`` (TT)."""
    with _sun_lock:
        missing = sorted({int(k) for k in indices} - _sun_teme_km.keys())
        if missing:
            if len(_sun_teme_km) + len(missing) > _SUN_CACHE_MAX:
                _sun_teme_km.clear()
            k = np.asarray(missing, dtype=np.float64)
            days = k * _SUN_GRID_DAYS
            grid = timescale().tt_jd(np.floor(days), days - np.floor(days))
            eph = _ephemeris()
            xyz = np.asarray((eph["sun"] - eph["earth"]).at(grid).frame_xyz(TEME).km).T
            for key, row in zip(missing, xyz.reshape(-1, 3), strict=True):
                _sun_teme_km[key] = row
        return np.stack([_sun_teme_km[int(k)] for k in indices])


def sun_teme_ra_deg(t: Time) -> float:
    """The Sun's right ascension in SGP4's TEME frame (deg, [0, 360)) at one instant: the
    angle a sun-synchronous node's local time is counted from (orchestrator/sunsync.py)."""
    eph = _ephemeris()
    x, y, _ = np.asarray((eph["sun"] - eph["earth"]).at(t).frame_xyz(TEME).km, dtype=float)
    return float(np.degrees(np.arctan2(y, x)) % 360.0)


def sun_itrs_km(t: Time) -> NDArray[np.float64]:
    """Geometric Sun position relative to the Earth's centre, ITRS km, shape (T, 3).

    The Sun is sampled once per ``SUN_GRID_S`` in TEME (where it barely turns) and
    interpolated; TEME -> ITRS is skyfield's exact ``rot_z(-GMST82)`` (see
    :func:`~orbitmesh.orchestrator.orbits.teme_to_itrs_matrices`). Agrees with skyfield's
    ``(sun - earth).at(t).frame_xyz(itrs)`` to ~1e-11 rad (tested) at a sixth of its cost.
    """
    x = np.atleast_1d(np.asarray(t.tt, dtype=np.float64)) / _SUN_GRID_DAYS
    if x.size == 0:  # no instants (no sunlight transitions to refine, say)
        return np.empty((0, 3))
    k0 = np.floor(x).astype(np.int64)
    w = (x - k0)[:, None]
    lo, hi = _sun_teme_samples(k0), _sun_teme_samples(k0 + 1)
    teme = lo + w * (hi - lo)
    return np.asarray(np.einsum("tij,tj->ti", teme_to_itrs_matrices(t), teme), dtype=np.float64)


@njit(nogil=True, cache=True)
def _sunlit(
    positions_km: NDArray[np.float64], sun_km: NDArray[np.float64], out: NDArray[np.bool_]
) -> None:
    """positions (T, N, 3), Sun (T, 3) -> out (T, N); see :func:`sunlit`."""
    for t in range(positions_km.shape[0]):
        sx, sy, sz = sun_km[t, 0], sun_km[t, 1], sun_km[t, 2]
        s2 = sx * sx + sy * sy + sz * sz
        for i in range(positions_km.shape[1]):
            x, y, z = positions_km[t, i, 0], positions_km[t, i, 1], positions_km[t, i, 2]
            r2 = x * x + y * y + z * z
            s_dot_r = x * sx + y * sy + z * sz
            to_sun_km = np.sqrt(s2 - 2.0 * s_dot_r + r2)
            minus_b = 2.0 * (r2 - s_dot_r) / to_sun_km
            disc = minus_b * minus_b - 4.0 * (r2 - SHADOW_RADIUS_KM**2)
            # No intersection (or NaN: an invalid position) or the Earth entirely
            # behind the satellite: lit.
            out[t, i] = not (disc >= 0.0 and (minus_b + np.sqrt(disc)) / 2.0 > 0.0)


def sunlit(positions_km: NDArray[np.float64], sun_km: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Sunlit flags for positions (..., N, 3) given the Sun (..., 3) in the same frame.

    skyfield's quadratic, written with dot products: the line runs from the satellite r
    towards the Sun s, the sphere is the Earth seen from r (centre -r); the far root
    ahead of the satellite means the Earth is in the way.
    """
    positions = np.asarray(positions_km, dtype=np.float64)
    lead = positions.shape[:-2]
    n = positions.shape[-2]
    sun = np.broadcast_to(np.asarray(sun_km, dtype=np.float64), (*lead, 3))
    flat_pos = np.ascontiguousarray(positions.reshape(-1, n, 3))
    flat_sun = np.ascontiguousarray(sun.reshape(-1, 3))
    out = np.empty(flat_pos.shape[:2], dtype=np.bool_)
    _sunlit(flat_pos, flat_sun, out)
    return out.reshape(*lead, n)
