"""Shared fixtures: real TLE sets from ../shared, scenario builders, skyfield objects."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from skyfield.timelib import Timescale

from orbitmesh.orchestrator import GeometryEngine, Scenario, parse_scenario
from orbitmesh.orchestrator.orbits import timescale

REPO = Path(__file__).resolve().parents[1]
TLE_DIR = REPO.parent / "shared" / "data" / "tle"
# The suite's own local clusters, never one a developer's RAY_ADDRESS names (commands the
# tests run inherit this environment).
os.environ.pop("RAY_ADDRESS", None)

ORBITMESH = [sys.executable, "-m", "orbitmesh.orchestrator.cli"]


@contextmanager
def orbitmesh_up(
    *args: str, endpoints: Path, env: Mapping[str, str] | None = None, timeout_s: float = 180.0
) -> Iterator[subprocess.Popen[str]]:
    """``orbitmesh up ARGS --quiet --endpoints ENDPOINTS`` in a process of its own, as a
    user starts it; yields once the endpoints file is written. A process still running at
    the end is stopped as Ctrl-C stops it (the caller checks its exit status)."""
    up = subprocess.Popen(
        [*ORBITMESH, "up", *args, "--quiet", "--endpoints", str(endpoints)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "RAY_DEDUP_LOGS": "0", **(env or {})},
    )
    try:
        deadline = time.monotonic() + timeout_s
        while not endpoints.exists():
            assert up.poll() is None, up.stdout.read() if up.stdout else ""
            assert time.monotonic() < deadline, "orbitmesh up did not come up"
            time.sleep(0.5)
        yield up
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(timeout=120)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
                raise


def tle_path(name: str) -> Path:
    path = TLE_DIR / name
    if not path.is_file():
        pytest.fail(
            f"missing test data {path}: the shared data folder must sit beside the repository"
        )
    return path


def small_shell_scenario(name: str, duration_s: int, rest: str) -> str:
    """A scenario file's text: a 12 x 12 shell at 550 km and 53 degrees, seen from
    Frankfurt and from the South Pole (which a 53 degree shell never rises over, so that
    station is never in contact), followed by ``rest`` ([links], [compute], ...)."""
    return f"""
name = "{name}"
[time]
start = 2026-03-20T12:00:00Z
duration_s = {duration_s}
[[shell]]
name = "s"
altitude_km = 550
inclination_deg = 53
planes = 12
sats_per_plane = 12
phasing = 1
[[ground_station]]
name = "frankfurt"
lat_deg = 50.1155
lon_deg = 8.6842
min_elevation_deg = 10
[[ground_station]]
name = "south-pole"
lat_deg = -89.99
lon_deg = 0.0
min_elevation_deg = 10
{rest.strip()}
"""


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


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels() -> None:
    """Compile every numba kernel once, before any test starts a host or an emulation.

    numba caches compiled kernels on disk beside the sources; in a fresh clone there are
    none yet, and every host process of the first emulations (and the satellite hosts
    tests run in this process) would compile them at once, in the background, starving
    the timing-sensitive tests beside them of CPU. One geometry tick with routes runs
    every kernel; later processes load them from the cache."""
    from orbitmesh.links.shortest import warm_up

    warm_up()
    GeometryEngine(make_scenario()).tick(0.0)


@pytest.fixture(scope="session")
def ts() -> Timescale:
    return timescale()


@pytest.fixture(scope="session")
def ephemeris() -> Any:
    from orbitmesh.orchestrator.sunlight import _ephemeris

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

    from orbitmesh.orchestrator.local_ray import start_ray

    start_ray(num_cpus=2)
    yield ray
    ray.shutdown()
