"""Per-satellite ephemerides: interpolated positions and exact sunlight transitions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from skyfield.api import EarthSatellite
from skyfield.framelib import itrs
from skyfield.timelib import Timescale

from orbitmesh.orchestrator import GeometryEngine
from orbitmesh.orchestrator.orbits import times_at


def test_positions_interpolate_to_skyfield_within_1_m(
    walker_engine: GeometryEngine, ts: Timescale
) -> None:
    (eph,) = walker_engine.ephemeris([17], 0.0, 3000.0)
    es = EarthSatellite.from_satrec(walker_engine.catalog.satrec(17), ts)
    for offset in (0.0, 3.3, 1234.567, 2999.9):
        ref = es.at(times_at(walker_engine.start, offset)).frame_xyz(itrs).km
        assert np.abs(eph.position_km(offset) - ref).max() * 1e3 < 1.0
    lat, lon, alt = eph.geodetic(100.0)
    assert -90 <= lat <= 90 and -180 <= lon <= 180 and 500 < alt < 600


def test_sunlight_transitions_match_skyfield(
    walker_engine: GeometryEngine, ts: Timescale, ephemeris: Any
) -> None:
    ephs = walker_engine.ephemeris([0, 50, 101], 0.0, 6000.0)
    for eph, sat in zip(ephs, (0, 50, 101), strict=True):
        es = EarthSatellite.from_satrec(walker_engine.catalog.satrec(sat), ts)
        # One orbit holds one eclipse: an entry and an exit.
        assert 1 <= len(eph.transitions_s) <= 4
        for flip in eph.transitions_s:
            before = es.at(times_at(walker_engine.start, flip - 0.01)).is_sunlit(ephemeris)
            after = es.at(times_at(walker_engine.start, flip + 0.01)).is_sunlit(ephemeris)
            assert bool(before) != bool(after)
            assert eph.sunlit(flip - 0.01) == bool(before)
            assert eph.sunlit(flip + 0.01) == bool(after)
        for offset in np.linspace(0.0, 6000.0, 37):
            lit = bool(es.at(times_at(walker_engine.start, offset)).is_sunlit(ephemeris))
            if min((abs(offset - f) for f in eph.transitions_s), default=1e9) > 0.01:
                assert eph.sunlit(offset) == lit


def test_spans_cut_at_transitions(walker_engine: GeometryEngine) -> None:
    (eph,) = walker_engine.ephemeris([3], 0.0, 6000.0)
    flip = eph.transitions_s[0]
    spans = eph.spans(flip - 5.0, flip + 2.5)
    assert [lit for _, lit in spans] == [eph.sunlit_at_start, not eph.sunlit_at_start]
    assert spans[0][0] == pytest.approx(5.0) and spans[1][0] == pytest.approx(2.5)
    assert eph.spans(10.0, 10.0) == [(0.0, eph.sunlit(10.0))]
    with pytest.raises(ValueError, match="ends before it starts"):
        eph.spans(5.0, 4.0)
