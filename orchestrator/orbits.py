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
from sgp4.api import SatrecArray
from skyfield.api import load as _skyfield_load
from skyfield.framelib import itrs
from skyfield.functions import rot_z
from skyfield.sgp4lib import TEME, theta_GMST1982
from skyfield.timelib import Time, Timescale

from orbitmesh.constants import SECONDS_PER_DAY
from orbitmesh.orchestrator.catalog import SatelliteCatalog, WalkerBlock

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
    """Rotation matrices TEME -> ITRS, shape (T, 3, 3), as skyfield defines both frames.

    skyfield's ITRS is ``rot_z(-GAST) @ M`` and its TEME ``rot_z(GMST82 - GAST) @ M``
    (``M`` precession-nutation), so TEME -> ITRS is ``rot_z(-GMST82)`` exactly: no
    nutation series to evaluate, which made this the costliest step of a small tick.
    With polar motion loaded the full composition is used.
    """
    if t.ts.polar_motion_table is None:
        theta, _ = theta_GMST1982(t.whole, t.ut1_fraction)
        r = np.asarray(rot_z(-np.atleast_1d(theta)), dtype=np.float64)  # (3, 3, T)
        return np.ascontiguousarray(np.moveaxis(r, -1, 0))
    r_itrs = np.asarray(itrs.rotation_at(t))  # GCRS -> ITRS
    r_teme = np.asarray(TEME.rotation_at(t))  # GCRS -> TEME
    if r_itrs.ndim == 2:
        r_itrs, r_teme = r_itrs[..., None], r_teme[..., None]
    # ITRS <- GCRS <- TEME: the precession-nutation parts cancel, leaving the Earth
    # rotation angle difference, but we keep skyfield's definition verbatim.
    return np.asarray(np.einsum("ijt,kjt->tik", r_itrs, r_teme), dtype=np.float64)


#: Samples per orbit for the Fourier series. The position along a circular SGP4 orbit
#: is a smooth periodic function of mean anomaly whose harmonics fall below 1e-10 km
#: by the 8th, so 64 samples reproduce per-satellite SGP4 to micrometres.
_FOURIER_SAMPLES = 64
#: Up to this many distinct mean anomalies, a Walker shell's reference satellites are
#: propagated directly; beyond it, the Fourier series through _FOURIER_SAMPLES of them
#: is cheaper (Starlink shell 1, 1,584 anomalies: 0.5 ms a tick instead of 1.6 ms) and
#: agrees with direct SGP4 to 7 micrometres.
_DIRECT_LIMIT = 4 * _FOURIER_SAMPLES


class _ShellPart:
    """SGP4 for one Walker shell without one SGP4 run per satellite.

    Near-Earth SGP4 (periods under 225 min) models only zonal harmonics, which are
    symmetric about the Earth's axis, and with no drag the node advances uniformly. A
    satellite's TEME position is therefore the position of a reference satellite with
    the same mean anomaly and right ascension 0, rotated about z by its right ascension.
    Reference satellites are propagated with SatrecArray; the rotation is exact.
    """

    def __init__(self, block: WalkerBlock) -> None:
        self.block = block
        lattice = block.lattice()
        raan = block.raan_rad()
        plane = np.arange(block.size) // block.shell.sats_per_plane
        self.cos_raan = np.cos(raan)[plane]
        self.sin_raan = np.sin(raan)[plane]
        distinct, inverse = np.unique(lattice, return_inverse=True)
        self.fourier = len(distinct) > _DIRECT_LIMIT
        if self.fourier:
            anomalies = 2.0 * np.pi * np.arange(_FOURIER_SAMPLES) / _FOURIER_SAMPLES
            self.gather = lattice
        else:
            anomalies = 2.0 * np.pi * distinct / block.size
            self.gather = inverse
        self.array = SatrecArray([block.elements_satrec(0.0, float(m)) for m in anomalies])

    def teme_km(
        self, whole: NDArray[np.float64], fraction: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        errors, ref, _velocity = self.array.sgp4(whole, fraction)  # (K, T, 3)
        out = np.empty((len(whole), self.block.size, 3))
        for k in range(len(whole)):
            values = ref[:, k, :]
            if self.fourier:
                # Coefficients of the series, zero-padded to the full lattice: the inverse
                # transform evaluates the series at every lattice point at once.
                spectrum = np.fft.rfft(values, axis=0)[: _FOURIER_SAMPLES // 2]
                padded = np.zeros((self.block.size // 2 + 1, 3), dtype=np.complex128)
                padded[: len(spectrum)] = spectrum
                values = np.fft.irfft(padded, n=self.block.size, axis=0) * (
                    self.block.size / _FOURIER_SAMPLES
                )
            picked = values[self.gather]
            out[k, :, 0] = self.cos_raan * picked[:, 0] - self.sin_raan * picked[:, 1]
            out[k, :, 1] = self.sin_raan * picked[:, 0] + self.cos_raan * picked[:, 1]
            out[k, :, 2] = picked[:, 2]
        valid = (errors == 0).all(axis=0)  # one reference failing fails the shell
        return out, np.repeat(valid[:, None], self.block.size, axis=1)


def _near_earth(block: WalkerBlock) -> bool:
    return bool(block.elements_satrec(0.0, 0.0).method == "n")


class Propagator:
    """SGP4 positions for every satellite of a catalog, vectorised over time.

    Walker shells on near-Earth orbits go through :class:`_ShellPart`; everything else
    (TLE sets, deep-space shells) through one SatrecArray.
    """

    def __init__(self, catalog: SatelliteCatalog) -> None:
        self.catalog = catalog
        self.size = catalog.size
        self._shells: list[_ShellPart] = []
        general: list[int] = []
        for block in catalog.walker:
            if _near_earth(block):
                self._shells.append(_ShellPart(block))
            else:
                general.extend(range(block.start, block.start + block.size))
        general.extend(range(catalog.tle_start, catalog.size))
        self._general_index = np.array(general, dtype=np.intp)
        self._general = SatrecArray([catalog.satrec(i) for i in general]) if general else None

    def teme_km(self, t: Time) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """TEME positions (T, N, 3) in km and validity (T, N)."""
        whole, fraction = sgp4_julian_dates(t)
        out = np.empty((len(whole), self.size, 3))
        valid = np.ones((len(whole), self.size), dtype=bool)
        for part in self._shells:
            sl = slice(part.block.start, part.block.start + part.block.size)
            out[:, sl], valid[:, sl] = part.teme_km(whole, fraction)
        if self._general is not None:
            errors, position, _velocity = self._general.sgp4(whole, fraction)
            out[:, self._general_index] = position.transpose(1, 0, 2)
            valid[:, self._general_index] = (errors == 0).T
        return out, valid

    def itrs_km(self, t: Time) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        """ITRS positions (T, N, 3) in km and a validity mask (T, N).

        Satellites SGP4 cannot propagate (decayed, bad elements) come back as NaN with
        ``valid`` False, so that they drop out of every link instead of raising.
        """
        teme, valid = self.teme_km(t)
        rotations = teme_to_itrs_matrices(t)
        out = np.empty_like(teme)
        for k in range(teme.shape[0]):
            np.matmul(teme[k], rotations[k].T, out=out[k])
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
            errors, position, _velocity = self.catalog.satrec(sat).sgp4_array(
                whole[rows], fraction[rows]
            )
            position[errors != 0] = np.nan
            teme[rows] = position
        rotations = teme_to_itrs_matrices(t)
        return np.asarray(np.einsum("kij,kj->ki", rotations, teme), dtype=np.float64)
