"""Which satellites are in sunlight: the Sun from DE421 (shipped by skyfield-data).

The shadow test is skyfield's own cylinder-free geometry (``is_sunlit``): a satellite is
lit unless the line from it towards the Sun passes through the Earth sphere in front of
it. We evaluate it in the Earth-fixed frame for all satellites at once; rotations keep
every distance, so the verdict is the same as skyfield's in GCRS.
"""

from __future__ import annotations

import warnings
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from skyfield.api import Loader
from skyfield.framelib import itrs
from skyfield.timelib import Time

__all__ = ["SHADOW_RADIUS_KM", "sun_itrs_km", "sunlit"]

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


def sun_itrs_km(t: Time) -> NDArray[np.float64]:
    """Geometric Sun position relative to the Earth's centre, ITRS km, shape (T, 3)."""
    eph = _ephemeris()
    xyz = np.asarray((eph["sun"] - eph["earth"]).at(t).frame_xyz(itrs).km)
    return xyz.T.reshape(-1, 3)


def sunlit(positions_km: NDArray[np.float64], sun_km: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Sunlit flags for positions (..., N, 3) given the Sun (..., 3) in the same frame."""
    # skyfield's quadratic, written with dot products so that no (N, 3) temporaries are
    # needed: the line runs from the satellite r towards the Sun s, the sphere is the
    # Earth seen from r (centre -r).
    r2 = np.einsum("...i,...i->...", positions_km, positions_km)
    s_dot_r = np.einsum("...i,...i->...", positions_km, sun_km[..., None, :])
    s2 = np.einsum("...i,...i->...", sun_km, sun_km)[..., None]
    to_sun_km = np.sqrt(s2 - 2.0 * s_dot_r + r2)
    minus_b = 2.0 * (r2 - s_dot_r) / to_sun_km
    c = r2 - SHADOW_RADIUS_KM**2
    disc = minus_b * minus_b - 4.0 * c
    with np.errstate(invalid="ignore"):
        far = (minus_b + np.sqrt(disc)) / 2.0
    # No intersection (NaN) or the Earth entirely behind the satellite: lit.
    return np.asarray(np.nan_to_num(far) <= 0)
