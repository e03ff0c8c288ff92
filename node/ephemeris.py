"""One satellite's own track: sampled positions and exact sunlight transitions.

A satellite actor needs to know where it is and whether it is in sunlight, but should
not carry SGP4, skyfield and an ephemeris file in every process. The orchestrator
computes an :class:`Ephemeris` per compute satellite (see
``GeometryEngine.ephemeris``) and ships it; this module needs only numpy.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from orbitmesh.geodesy import itrs_to_geodetic

__all__ = ["Ephemeris"]

#: Points of the Lagrange interpolation (sub-millimetre at 10 s sampling in LEO).
_ORDER = 6


@dataclass(frozen=True)
class Ephemeris:
    """Positions every ``step_s`` from ``start_s`` and the instants sunlight flips.

    Offsets are simulated seconds since the scenario start. Outside the sampled span
    positions are extrapolated from the nearest samples and should not be relied on.
    """

    satellite_id: str
    start_s: float
    step_s: float
    itrs_km: NDArray[np.float64]  # (K, 3)
    sunlit_at_start: bool
    transitions_s: tuple[float, ...]  # ascending; sunlit flips at each

    @property
    def end_s(self) -> float:
        return self.start_s + self.step_s * (len(self.itrs_km) - 1)

    def position_km(self, offset_s: float) -> NDArray[np.float64]:
        """ITRS position at an offset, by Lagrange interpolation of the samples."""
        k = len(self.itrs_km)
        x = (offset_s - self.start_s) / self.step_s
        first = min(max(math.floor(x) - (_ORDER // 2 - 1), 0), max(0, k - _ORDER))
        nodes = range(first, min(first + _ORDER, k))
        # Plain floats: a status read asks for one position, where numpy's per-call
        # overhead would cost ten times the arithmetic.
        weights = []
        for j in nodes:
            w = 1.0
            for i in nodes:
                if i != j:
                    w *= (x - i) / (j - i)
            weights.append(w)
        return np.asarray(np.asarray(weights) @ self.itrs_km[first : first + len(nodes)])

    def geodetic(self, offset_s: float) -> tuple[float, float, float]:
        """WGS84 latitude (deg), longitude (deg), altitude (km) at an offset."""
        lat, lon, alt = itrs_to_geodetic(self.position_km(offset_s)[None, :])
        return float(lat[0]), float(lon[0]), float(alt[0])

    def sunlit(self, offset_s: float) -> bool:
        flips = bisect.bisect_right(self.transitions_s, offset_s)
        return self.sunlit_at_start ^ (flips % 2 == 1)

    def spans(self, t0_s: float, t1_s: float) -> list[tuple[float, bool]]:
        """``(duration_s, sunlit)`` pieces covering [t0, t1], cut at every transition."""
        if t1_s < t0_s:
            raise ValueError(f"span ends before it starts: {t0_s} > {t1_s}")
        out: list[tuple[float, bool]] = []
        lit = self.sunlit(t0_s)
        cursor = t0_s
        for flip in self.transitions_s[bisect.bisect_right(self.transitions_s, t0_s) :]:
            if flip >= t1_s:
                break
            out.append((flip - cursor, lit))
            cursor, lit = flip, not lit
        out.append((t1_s - cursor, lit))
        return out
