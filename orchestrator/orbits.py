"""Satellite positions: SGP4 for all satellites at once, TEME -> ITRS via skyfield.

Times are skyfield ``Time`` objects (scalar or arrays); SGP4 gets the same two-part
Julian date skyfield's ``EarthSatellite`` uses, so positions agree with skyfield's own
to floating-point precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from numpy.typing import NDArray
from sgp4.api import Satrec, SatrecArray
from skyfield.api import load as _skyfield_load
from skyfield.framelib import itrs
from skyfield.sgp4lib import TEME
from skyfield.timelib import Time, Timescale

from .constants import SECONDS_PER_DAY

__all__ = ["Propagator", "sgp4_julian_dates", "teme_to_itrs_matrices", "times_at", "timescale"]

_TIMESCALE: Timescale = _skyfield_load.timescale(builtin=True)


def timescale() -> Timescale:
    """The one offline timescale (built-in leap seconds and UT1 tables)."""
    return _TIMESCALE


def times_at(start: datetime, offsets_s: NDArray[np.float64] | Sequence[float] | float) -> Time:
    """skyfield Time for ``start`` plus offsets in seconds (scalar or array)."""
    offsets = np.asarray(offsets_s, dtype=np.float64)
    return _TIMESCALE.utc(
        start.year,
        start.month,
        start.day,
        start.hour,
        start.minute,
        start.second + start.microsecond / 1e6 + offsets,
    )


def sgp4_julian_dates(t: Time) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """UTC Julian date split in two, exactly as skyfield feeds SGP4."""
    whole = np.atleast_1d(np.asarray(t.whole, dtype=np.float64))
    fraction = np.atleast_1d(
        np.asarray(t.tai_fraction - t._leap_seconds() / SECONDS_PER_DAY, dtype=np.float64)
    )
    return whole, fraction


def teme_to_itrs_matrices(t: Time) -> NDArray[np.float64]:
    """Rotation matrices TEME -> ITRS, shape (T, 3, 3), via skyfield's frame objects."""
    r_itrs = np.asarray(itrs.rotation_at(t))  # GCRS -> ITRS
    r_teme = np.asarray(TEME.rotation_at(t))  # GCRS -> TEME
    if r_itrs.ndim == 2:
        r_itrs, r_teme = r_itrs[..., None], r_teme[..., None]
    # ITRS <- GCRS <- TEME: the precession-nutation parts cancel, leaving the Earth
    # rotation angle difference, but we keep skyfield's definition verbatim.
    return np.asarray(np.einsum("ijt,kjt->tik", r_itrs, r_teme), dtype=np.float64)


class Propagator:
    """SGP4 over a fixed set of satellites (sgp4's SatrecArray, one C loop)."""

    def __init__(self, satrecs: Sequence[Satrec]) -> None:
        self._satrecs = list(satrecs)
        self._array = SatrecArray(self._satrecs)
        self.size = len(satrecs)

    def teme_km(self, t: Time) -> tuple[NDArray[np.float64], NDArray[np.uint8]]:
        """TEME positions (T, N, 3) in km and SGP4 error codes (T, N); 0 means valid."""
        whole, fraction = sgp4_julian_dates(t)
        errors, position, _velocity = self._array.sgp4(whole, fraction)
        return np.ascontiguousarray(position.transpose(1, 0, 2)), np.ascontiguousarray(errors.T)

    def itrs_km(self, t: Time) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """ITRS positions (T, N, 3) in km and a validity mask (T, N).

        Satellites SGP4 cannot propagate (decayed, bad elements) come back as NaN with
        ``valid`` False, so that they drop out of every link instead of raising.
        """
        teme, errors = self.teme_km(t)
        rotations = teme_to_itrs_matrices(t)
        out = np.empty_like(teme)
        for k in range(teme.shape[0]):
            np.matmul(teme[k], rotations[k].T, out=out[k])
        valid = errors == 0
        if not valid.all():
            out[~valid] = np.nan
        return out, valid

    def itrs_km_pairs(self, sat_index: NDArray[np.intp], t: Time) -> NDArray[np.float64]:
        """ITRS position (K, 3) of satellite ``sat_index[k]`` at time ``t[k]``.

        For refining events of many different satellites at many different instants;
        NaN where SGP4 fails.
        """
        whole, fraction = sgp4_julian_dates(t)
        sat_index = np.asarray(sat_index)
        teme = np.empty((len(sat_index), 3))
        order = np.argsort(sat_index, kind="stable")
        uniq, first = np.unique(sat_index[order], return_index=True)
        bounds = np.append(first, len(order))
        for j, sat in enumerate(uniq.tolist()):
            rows = order[bounds[j] : bounds[j + 1]]
            errors, position, _velocity = self._satrecs[sat].sgp4_array(whole[rows], fraction[rows])
            position[errors != 0] = np.nan
            teme[rows] = position
        rotations = teme_to_itrs_matrices(t)
        return np.asarray(np.einsum("kij,kj->ki", rotations, teme), dtype=np.float64)
