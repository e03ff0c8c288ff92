"""Physical constants, defined once for the whole project."""

from typing import Final

#: Speed of light in vacuum (exact, SI definition).
C_KM_PER_S: Final = 299_792.458

#: WGS84 ellipsoid (NIMA TR8350.2): equatorial radius and flattening.
WGS84_A_KM: Final = 6378.137
WGS84_F: Final = 1.0 / 298.257223563
WGS84_E2: Final = WGS84_F * (2.0 - WGS84_F)

#: The inter-satellite line-of-sight test takes the Earth as a sphere of its equatorial
#: radius (the largest, so no grazing path is let through).
EARTH_EQUATORIAL_RADIUS_KM: Final = WGS84_A_KM
#: Mean Earth radius (IUGG R1), for drawings: coverage circles and ground tracks.
EARTH_MEAN_RADIUS_KM: Final = 6371.0088

#: An inter-satellite laser must pass above this much atmosphere (refraction and
#: absorption make grazing paths useless); Hypatia and Celestial use 80 km as well.
ISL_ATMOSPHERE_KM: Final = 80.0

#: Earth's gravitational parameter as used by SGP4's WGS72 constants (km^3/s^2),
#: so that mean motions we derive for Walker shells round-trip through SGP4.
WGS72_MU_KM3_PER_S2: Final = 398_600.8
WGS72_RADIUS_KM: Final = 6378.135
#: Earth's second zonal harmonic in SGP4's WGS72 constants (sgp4.earth_gravity.wgs72.j2),
#: which sets the nodal drift our sun-synchronous shells must match.
WGS72_J2: Final = 0.001082616
#: The mean Sun's motion in right ascension: once around in a tropical year
#: (365.2422 days), the rate a sun-synchronous orbit's node must turn at.
SUN_SYNCHRONOUS_DEG_PER_DAY: Final = 360.0 / 365.2422

SECONDS_PER_DAY: Final = 86_400.0
