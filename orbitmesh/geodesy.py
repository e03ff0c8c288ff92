"""WGS84 conversions and local horizon frames, vectorised over points.

Everything is Earth-fixed (ITRS) and in kilometres; arrays have the coordinate on the
last axis so that ``(..., 3)`` shapes broadcast over satellites and times alike.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from orbitmesh.constants import WGS84_A_KM, WGS84_E2

__all__ = ["enu_basis", "geodetic_to_itrs_km", "itrs_to_geodetic"]

Float = NDArray[np.float64]


def geodetic_to_itrs_km(
    lat_deg: Float | float, lon_deg: Float | float, alt_m: Float | float
) -> Float:
    """ITRS position (..., 3) in km of WGS84 geodetic coordinates."""
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    alt_km = np.asarray(alt_m, dtype=np.float64) / 1000.0
    sin_lat = np.sin(lat)
    n_km = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * sin_lat * sin_lat)
    x = (n_km + alt_km) * np.cos(lat) * np.cos(lon)
    y = (n_km + alt_km) * np.cos(lat) * np.sin(lon)
    z = (n_km * (1.0 - WGS84_E2) + alt_km) * sin_lat
    return np.stack([x, y, z], axis=-1)


def itrs_to_geodetic(xyz_km: Float) -> tuple[Float, Float, Float]:
    """WGS84 latitude (deg), longitude (deg, -180..180) and height (km) of ITRS points.

    Fixed-point iteration on the latitude; three rounds reach well under a millimetre
    for anything between the ground and geostationary altitude.
    """
    x, y, z = xyz_km[..., 0], xyz_km[..., 1], xyz_km[..., 2]
    r_xy = np.hypot(x, y)
    lat = np.arctan2(z, r_xy)
    for _ in range(3):
        sin_lat = np.sin(lat)
        n_km = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * sin_lat * sin_lat)
        lat = np.arctan2(z + n_km * WGS84_E2 * sin_lat, r_xy)
    sin_lat = np.sin(lat)
    cos_lat = np.cos(lat)
    n_km = WGS84_A_KM / np.sqrt(1.0 - WGS84_E2 * sin_lat * sin_lat)
    # Near the poles r_xy / cos(lat) loses precision; the z form is exact there.
    height = np.where(
        np.abs(cos_lat) > 0.5,
        r_xy / np.where(cos_lat == 0, 1.0, cos_lat) - n_km,
        z / np.where(sin_lat == 0, 1.0, sin_lat) - n_km * (1.0 - WGS84_E2),
    )
    return np.degrees(lat), np.degrees(np.arctan2(y, x)), height


def enu_basis(lat_deg: Float | float, lon_deg: Float | float) -> Float:
    """Rows east, north, up (geodetic) at each point: shape (..., 3, 3)."""
    lat = np.radians(np.asarray(lat_deg, dtype=np.float64))
    lon = np.radians(np.asarray(lon_deg, dtype=np.float64))
    sl, cl, so, co = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    zero = np.zeros_like(sl)
    east = np.stack([-so, co, zero], axis=-1)
    north = np.stack([-sl * co, -sl * so, cl], axis=-1)
    up = np.stack([cl * co, cl * so, sl], axis=-1)
    return np.stack([east, north, up], axis=-2)
