"""Sun-synchronous shells: inclination from altitude, the node at a local time, and a
dawn-dusk shell that stays in sunlight, checked against sgp4's own propagation and
skyfield's Sun and sunlit flags (independent of orchestrator/sunsync.py's formula)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from conftest import make_scenario
from sgp4.api import SatrecArray
from skyfield.api import EarthSatellite

from orbitmesh.orchestrator.catalog import build_catalog
from orbitmesh.orchestrator.scenario import ScenarioError
from orbitmesh.orchestrator.sunlight import _ephemeris
from orbitmesh.orchestrator.sunsync import ltan_hours, node_raan_deg

SUN_DEG_PER_DAY = 360.0 / 365.2422


def sso_shell(altitude_km: float, **more: Any) -> dict[str, Any]:
    return {
        "name": "sso",
        "altitude_km": altitude_km,
        "sun_synchronous": True,
        "planes": 4,
        "sats_per_plane": 10,
        "phasing": 0,
        **more,
    }


def first_satrec(shell: dict[str, Any]) -> Any:
    catalog = build_catalog(make_scenario({"shell": [shell]}))
    (block,) = catalog.walker
    return block, block.elements_satrec(float(block.raan_rad()[0]), 0.0)


def node_ra_deg(r: np.ndarray, v: np.ndarray) -> np.ndarray:
    normal = np.cross(r, v)
    return np.degrees(np.arctan2(normal[..., 0], -normal[..., 1])) % 360.0


@pytest.mark.parametrize(
    ("altitude_km", "published_deg"),
    # Textbook values for circular sun-synchronous orbits (e.g. Wertz & Larson, "Space
    # Mission Analysis and Design", sun-synchronous inclination against altitude):
    [(500, 97.4), (650, 98.0), (800, 98.6), (1600, 102.5)],
)
def test_inclination_follows_from_altitude_and_the_node_turns_with_the_sun(
    altitude_km: float, published_deg: float
) -> None:
    block, sat = first_satrec(sso_shell(altitude_km))
    assert block.shell.inclination_deg == pytest.approx(published_deg, abs=0.05)
    # sgp4's own secular rates (J2, J4, Kozai's mean motion), a day apart.
    _, r, v = SatrecArray([sat]).sgp4(
        np.array([sat.jdsatepoch, sat.jdsatepoch + 1.0]),
        np.array([sat.jdsatepochF, sat.jdsatepochF]),
    )
    node = node_ra_deg(r[0], v[0])
    drift = (node[1] - node[0] + 180.0) % 360.0 - 180.0
    assert drift == pytest.approx(SUN_DEG_PER_DAY, abs=0.01)


@pytest.mark.parametrize("ltan", ["18:00", "06:00", "10:30", "22:45"])
def test_the_first_planes_node_holds_its_local_time(ltan: str) -> None:
    block, sat = first_satrec(sso_shell(650, ltan=ltan))
    _, r, v = SatrecArray([sat]).sgp4(np.array([sat.jdsatepoch]), np.array([sat.jdsatepochF]))
    raan = float(node_ra_deg(r[0, 0], v[0, 0]))
    # The Sun's right ascension of date from skyfield's apparent place (not the TEME
    # vector orbitmesh uses; they differ by the equation of the equinoxes, ~1 arcsec).
    eph = _ephemeris()
    from skyfield.api import load

    ts = load.timescale(builtin=True)
    t = ts.tt_jd(sat.jdsatepoch + sat.jdsatepochF + 69.184 / 86400.0)
    sun_ra_h = eph["earth"].at(t).observe(eph["sun"]).apparent().radec(epoch="date")[0].hours
    local_h = (12.0 + (raan / 15.0 - sun_ra_h)) % 24.0
    assert local_h == pytest.approx(ltan_hours(ltan), abs=1.0 / 60.0)  # within a minute
    # Planes spread from there as in any Walker shell.
    spread = np.degrees(np.diff(block.raan_rad())) % 360.0
    assert spread == pytest.approx([90.0] * 3)


def sunlit_share(ltan: str, hours: float = 3.5) -> float:
    """Share of one satellite's minutes in sunlight by skyfield's own ``is_sunlit``."""
    from skyfield.api import load

    _, sat = first_satrec(sso_shell(650, ltan=ltan, raan_spread_deg=10.0))
    ts = load.timescale(builtin=True)
    craft = EarthSatellite.from_satrec(sat, ts)
    start = ts.tt_jd(sat.jdsatepoch + sat.jdsatepochF)
    t = ts.tt_jd(start.tt + np.arange(0, hours * 60.0) / 1440.0)
    return float(np.mean(craft.at(t).is_sunlit(_ephemeris())))


def test_a_dawn_dusk_shell_stays_sunlit_and_a_noon_one_does_not() -> None:
    # At the March equinox (the test scenarios' start) a dawn-dusk plane is the
    # terminator's: two orbits without eclipse. A noon-midnight plane crosses the shadow.
    assert sunlit_share("18:00") == 1.0
    assert sunlit_share("06:00") == 1.0
    noon = sunlit_share("12:00")
    assert 0.55 < noon < 0.75  # about 36 of 98 minutes in eclipse at 650 km


def test_our_sunlit_flags_agree_with_skyfield_for_sun_synchronous_planes() -> None:
    from skyfield.api import load

    from orbitmesh.orchestrator import GeometryEngine

    ts = load.timescale(builtin=True)
    # Planes 90 deg apart: local times 18:00, 00:00, 06:00 and 12:00.
    engine = GeometryEngine(make_scenario({"shell": [sso_shell(650, ltan="18:00")]}))
    (block,) = engine.catalog.walker
    raans = block.raan_rad()
    for offset_s in (0.0, 1500.0, 3000.0):
        tick = engine.tick(offset_s, routes=False)
        expected = []
        for i in range(block.size):
            plane, slot = divmod(i, block.shell.sats_per_plane)
            m = 2.0 * np.pi * (slot * block.shell.planes + plane * block.shell.phasing) / 40
            sat = block.elements_satrec(float(raans[plane]), m)
            craft = EarthSatellite.from_satrec(sat, ts)
            t = ts.from_datetime(tick.time)
            expected.append(bool(craft.at(t).is_sunlit(_ephemeris())))
        np.testing.assert_array_equal(tick.sunlit, expected)
        # The dawn and dusk planes (0 and 2) never enter the shadow at the equinox.
        assert bool(np.all(tick.sunlit[:10])) and bool(np.all(tick.sunlit[20:30]))


def test_node_raan_from_the_suns_right_ascension() -> None:
    # Hand arithmetic: the Sun at 0 h (the equinox), 18:00 -> 90 deg east of it.
    assert node_raan_deg(0.0, 18.0) == 90.0
    assert node_raan_deg(350.0, 6.0) == 260.0
    assert node_raan_deg(10.0, 12.0) == 10.0


@pytest.mark.parametrize(
    ("shell", "message"),
    [
        (
            sso_shell(650, inclination_deg=98.0),
            "shell[0].inclination_deg: a sun-synchronous shell's inclination follows from "
            "its altitude",
        ),
        (
            {**sso_shell(650, ltan="18:00"), "sun_synchronous": False, "inclination_deg": 53},
            "shell[0].ltan: a local time of the node holds only for a sun-synchronous shell",
        ),
        (sso_shell(650, ltan="24:00"), 'shell[0].ltan: must be a local time "HH:MM"'),
        (sso_shell(650, ltan="6pm"), 'shell[0].ltan: must be a local time "HH:MM"'),
        (
            sso_shell(650, ltan="18:00", raan_offset_deg=10.0),
            "shell[0].raan_offset_deg: ltan places the node",
        ),
        (sso_shell(7000), "shell[0].sun_synchronous: no sun-synchronous orbit exists at 7000 km"),
        (sso_shell(650, sun_synchronous="yes"), "shell[0].sun_synchronous: must be true or false"),
    ],
)
def test_bad_sun_synchronous_shells_are_refused_by_field(
    shell: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScenarioError, match=re.escape(message)):
        make_scenario({"shell": [shell]})
