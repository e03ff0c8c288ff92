"""Sun-synchronous orbits: the inclination that makes the node turn with the Sun, and the
node's right ascension that holds a local time (pure, besides the Sun's place).

A circular orbit's node drifts under Earth's oblateness at ``-3/2 n J2 (R/a)^2 cos i``
(first order in J2; Vallado, "Fundamentals of Astrodynamics and Applications", 4th ed.,
eq. 9-41 with e = 0). Sun-synchronous means that drift equals the mean Sun's 360 degrees
a tropical year, so ``cos i = -rate / (3/2 n J2 (R/a)^2)``: 97.4 deg at 500 km, 98.6 at
800, 102.5 at 1,600. SGP4's WGS72 constants are used, as the orbits are propagated by it.

The local time of the ascending node (LTAN) is the Sun's hour angle seen from the node:
``RAAN = RA(Sun) + 15 deg/h * (LTAN - 12 h)``: "18:00" puts the node on the dusk
terminator (a dawn-dusk orbit, sunlit but for eclipse seasons), "12:00" under the Sun.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from orbitmesh.checking import Checker
from orbitmesh.constants import (
    SECONDS_PER_DAY,
    SUN_SYNCHRONOUS_DEG_PER_DAY,
    WGS72_J2,
    WGS72_MU_KM3_PER_S2,
    WGS72_RADIUS_KM,
)

__all__ = [
    "PlaneChoice",
    "ltan_hours",
    "node_raan_deg",
    "parse_plane",
    "sun_synchronous_inclination_deg",
]

_LTAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def sun_synchronous_inclination_deg(altitude_km: float) -> float:
    """The inclination (deg) whose J2 nodal drift follows the mean Sun, for a circular
    orbit ``altitude_km`` above SGP4's equatorial radius. ValueError where none exists
    (above about 5,970 km the drift is too weak even for a polar retrograde orbit)."""
    a_km = WGS72_RADIUS_KM + altitude_km
    n_rad_per_s = math.sqrt(WGS72_MU_KM3_PER_S2 / a_km**3)
    wanted_rad_per_s = math.radians(SUN_SYNCHRONOUS_DEG_PER_DAY) / SECONDS_PER_DAY
    cos_i = -wanted_rad_per_s / (1.5 * n_rad_per_s * WGS72_J2 * (WGS72_RADIUS_KM / a_km) ** 2)
    if cos_i < -1.0:
        raise ValueError(f"no sun-synchronous orbit exists at {altitude_km:g} km")
    return math.degrees(math.acos(cos_i))


def ltan_hours(text: str) -> float:
    """``"HH:MM"`` (00:00-23:59) as hours; ValueError otherwise."""
    match = _LTAN.match(text)
    if match is None:
        raise ValueError(f'must be a local time "HH:MM" from 00:00 to 23:59, got {text!r}')
    return int(match.group(1)) + int(match.group(2)) / 60.0


def node_raan_deg(sun_ra_deg: float, ltan_h: float) -> float:
    """The ascending node's right ascension (deg, [0, 360)) that holds local time
    ``ltan_h`` when the Sun stands at right ascension ``sun_ra_deg``."""
    return (sun_ra_deg + 15.0 * (ltan_h - 12.0)) % 360.0


class PlaneChoice(NamedTuple):
    """How a scenario table sets its orbit plane (None where a value has a problem)."""

    sun_synchronous: bool | None
    inclination_deg: float | None
    ltan_h: float | None
    ltan_ok: bool


def parse_plane(
    table: Mapping[str, Any],
    path: str,
    chk: Checker,
    altitude_km: float | None,
    *,
    node_key: str,
    what: str = "shell",
) -> PlaneChoice:
    """``inclination_deg``, or ``sun_synchronous = true`` with an optional ``ltan``, of a
    ``[[shell]]`` or ``[[cluster]]`` table (``node_key`` names the table's other way of
    placing the node, which ``ltan`` excludes)."""
    sun_synchronous = chk.get(table, "sun_synchronous", path, chk.boolean, False)
    inclination: float | None = None
    if sun_synchronous and "inclination_deg" in table:
        chk.problem(
            f"{path}.inclination_deg",
            f"a sun-synchronous {what}'s inclination follows from its altitude: "
            "give inclination_deg or sun_synchronous = true, not both",
        )
    elif sun_synchronous:
        if altitude_km is not None:
            try:
                inclination = sun_synchronous_inclination_deg(altitude_km)
            except ValueError as exc:
                chk.problem(f"{path}.sun_synchronous", str(exc))
    else:
        inclination = chk.within(
            chk.get(table, "inclination_deg", path, chk.number),
            f"{path}.inclination_deg",
            0,
            180,
        )
    ltan_h: float | None = None
    ltan_ok = True
    if "ltan" in table:
        text = chk.string(table["ltan"], f"{path}.ltan")
        if text is None:
            ltan_ok = False
        elif not sun_synchronous:
            chk.problem(
                f"{path}.ltan",
                f"a local time of the node holds only for a sun-synchronous {what}: "
                "add sun_synchronous = true",
            )
            ltan_ok = False
        elif node_key in table:
            chk.problem(
                f"{path}.{node_key}",
                f"ltan places the node: give ltan or {node_key}, not both",
            )
            ltan_ok = False
        else:
            try:
                ltan_h = ltan_hours(text)
            except ValueError as exc:
                chk.problem(f"{path}.ltan", str(exc))
                ltan_ok = False
    return PlaneChoice(sun_synchronous, inclination, ltan_h, ltan_ok)
