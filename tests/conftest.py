"""Shared fixtures: real TLE sets from ../shared, scenario builders, skyfield objects."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from skyfield.timelib import Timescale

from orchestrator import GeometryEngine, Scenario, parse_scenario
from orchestrator.orbits import timescale

REPO = Path(__file__).resolve().parents[1]
TLE_DIR = REPO.parent / "shared" / "data" / "tle"


def tle_path(name: str) -> Path:
    path = TLE_DIR / name
    if not path.is_file():
        pytest.fail(
            f"missing test data {path}: the shared data folder must sit beside the repository"
        )
    return path


def make_scenario(extra: Mapping[str, Any] | None = None, base_dir: Path = REPO) -> Scenario:
    """A small Walker scenario; ``extra`` replaces top-level sections."""
    data: dict[str, Any] = {
        "name": "test",
        "time": {"start": "2026-03-20T12:00:00Z", "duration_s": 3600, "step_s": 1.0},
        "shell": [
            {
                "name": "s1",
                "altitude_km": 550,
                "inclination_deg": 53,
                "planes": 12,
                "sats_per_plane": 12,
                "phasing": 1,
            }
        ],
        "ground_station": [
            {
                "name": "munich",
                "lat_deg": 48.14,
                "lon_deg": 11.58,
                "alt_m": 520,
                "min_elevation_deg": 25,
            },
            {
                "name": "sydney",
                "lat_deg": -33.87,
                "lon_deg": 151.21,
                "alt_m": 50,
                "min_elevation_deg": 10,
            },
            {
                "name": "svalbard",
                "lat_deg": 78.23,
                "lon_deg": 15.39,
                "alt_m": 500,
                "min_elevation_deg": 5,
            },
        ],
        "links": {"isl": "plus-grid", "isl_range_km": 5000},
        "compute": {"satellites": {"every": 13}},
    }
    data.update(extra or {})
    return parse_scenario(data, "test.toml", base_dir)


@pytest.fixture(scope="session")
def ts() -> Timescale:
    return timescale()


@pytest.fixture(scope="session")
def ephemeris() -> Any:
    from orchestrator.sunlight import _ephemeris

    return _ephemeris()


@pytest.fixture(scope="session")
def walker_engine() -> GeometryEngine:
    return GeometryEngine(make_scenario())


@pytest.fixture(scope="session")
def starlink_tle_engine() -> GeometryEngine:
    """184 real Starlink satellites (TLEs of 2020-02-01) and three stations."""
    return GeometryEngine(
        make_scenario(
            {
                "time": {"start": "2020-02-02T00:00:00Z", "duration_s": 7200},
                "shell": [],
                "tle": [{"path": str(tle_path("starlink-2020-02-01.tle"))}],
                "links": {"isl": "nearest", "isl_neighbours": 4, "isl_range_km": 3000},
                "compute": {"satellites": {"every": 10}},
            }
        )
    )


@pytest.fixture(scope="session")
def ray_local() -> Any:
    """One local Ray instance for the whole test session."""
    import ray

    from orchestrator.local_ray import start_ray

    start_ray(num_cpus=2)  # address="local": never a stale cluster
    yield ray
    ray.shutdown()
