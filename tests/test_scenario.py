"""Scenario validation: every problem is one ``file: field.path: message`` line.

Each check in ``orchestrator/scenario.py`` that reports a problem has a case here with
the exact message, so a changed wording or a lost field path fails a test.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from orbitmesh.orchestrator.catalog import SatelliteCatalog, build_catalog
from orbitmesh.orchestrator.cli import main as cli_main
from orbitmesh.orchestrator.scenario import (
    BUILTIN_SCENARIOS,
    ComputeSpec,
    LinksSpec,
    Scenario,
    ScenarioError,
    builtin_station_list,
    ephemeris_span,
    load_scenario,
)

HEAD = 'name = "t"\n'
TIME = '[time]\nstart = "2026-03-20T12:00:00Z"\n'
ALLOWED_TOP = (
    "name, time, shell, tle, omm, cluster, ground_station, ground_station_set, terminal, links, "
    "compute, power, thermal, node, model, satellite, app, accelerator, placement, fault, faults, "
    "radiation"
)
ALLOWED_SHELL = (
    "name, altitude_km, inclination_deg, planes, sats_per_plane, phasing, raan_spread_deg, "
    "raan_offset_deg, sun_synchronous, ltan, power, thermal, accelerator"
)
ALLOWED_STATION = "name, lat_deg, lon_deg, alt_m, min_elevation_deg"
ALLOWED_LINKS = (
    "isl, isl_range_km, isl_neighbours, isl_bandwidth_mbps, gsl_bandwidth_mbps, route_horizon_ms, "
    "loss_rate, loss_seed"
)
COMPUTE_SHAPES = 'must be "all", "none", a list of satellite ids or { every = N }'


def block(header: str, defaults: dict[str, str], overrides: dict[str, str | None]) -> str:
    """A TOML table; values are TOML literals, an override of None drops the key."""
    fields = {**defaults, **overrides}
    return header + "\n" + "".join(f"{k} = {v}\n" for k, v in fields.items() if v is not None)


def shell(**fields: str | None) -> str:
    defaults = {
        "name": '"a"',
        "altitude_km": "550.0",
        "inclination_deg": "53.0",
        "planes": "2",
        "sats_per_plane": "3",
    }
    return block("[[shell]]", defaults, fields)


def station(**fields: str | None) -> str:
    defaults = {"name": '"gs"', "lat_deg": "50.0", "lon_deg": "8.0"}
    return block("[[ground_station]]", defaults, fields)


MINIMAL = HEAD + TIME + shell()


def case_ids(cases: list[tuple[dict[str, str | None], str]]) -> list[str]:
    """Test ids from the overridden fields only, not from the long expected message."""
    return [",".join(f"{k}={v}" for k, v in fields.items()) for fields, _ in cases]


def write(tmp_path: Path, text: str, name: str = "scenario.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def build(tmp_path: Path, text: str) -> tuple[Scenario, SatelliteCatalog]:
    """Write ``text`` as a scenario file, load it and expand its satellites."""
    scenario = load_scenario(write(tmp_path, text))
    return scenario, build_catalog(scenario)


def problems_of(tmp_path: Path, text: str) -> list[str]:
    """The problems a scenario text produces, without the leading ``<file>: ``."""
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        build_catalog(load_scenario(path))
    problems = info.value.problems
    assert str(info.value) == "\n".join(problems)
    prefix = f"{path}: "
    for line in problems:
        assert line.startswith(prefix), line
        assert "\n" not in line
    return [line.removeprefix(prefix) for line in problems]


# ---------------------------------------------------------------------- valid scenarios


def test_minimal_scenario_uses_documented_defaults(tmp_path: Path) -> None:
    scenario, catalog = build(tmp_path, MINIMAL)
    assert scenario.name == "t"
    assert scenario.source == str(tmp_path / "scenario.toml")
    assert scenario.base_dir == tmp_path.resolve()
    assert scenario.time.start == datetime(2026, 3, 20, 12, tzinfo=UTC)
    assert scenario.time.start.utcoffset() == timedelta(0)
    assert scenario.time.duration_s == 3600.0
    assert scenario.time.step_s == 1.0
    assert scenario.time.speed == 1.0
    assert scenario.links == LinksSpec()
    assert scenario.links.isl == "plus-grid"
    assert scenario.links.isl_range_km == 5000.0
    assert scenario.links.isl_neighbours == 4
    assert scenario.links.isl_bandwidth_mbps == 10_000.0
    assert scenario.links.gsl_bandwidth_mbps == 1_000.0
    assert scenario.compute == ComputeSpec(mode="all")
    assert scenario.tles == ()
    assert scenario.ground_stations == ()
    (sh,) = scenario.shells
    assert (sh.name, sh.altitude_km, sh.inclination_deg) == ("a", 550.0, 53.0)
    assert (sh.planes, sh.sats_per_plane, sh.phasing) == (2, 3, 0)
    assert (sh.raan_spread_deg, sh.raan_offset_deg) == (360.0, 0.0)
    assert catalog.size == 6
    assert catalog.compute.tolist() == [True] * 6


def test_explicit_values_and_boundaries_are_accepted(tmp_path: Path) -> None:
    text = (
        HEAD
        + "[time]\nstart = 2026-03-20T14:00:00+02:00\nduration_s = 10\nstep_s = 10\nspeed = 0.5\n"
        + shell(
            name='"low"',
            altitude_km="150",
            inclination_deg="0",
            planes="3",
            phasing="2",
            raan_spread_deg="360",
            raan_offset_deg="-360",
        )
        + shell(name='"high"', altitude_km="50000", inclination_deg="180", raan_spread_deg="0.1")
        + station(lat_deg="-90", lon_deg="180", alt_m="-500", min_elevation_deg="0")
        + station(name='"gs2"', lat_deg="90", lon_deg="-180", alt_m="9000", min_elevation_deg="90")
        + '[links]\nisl = "nearest"\nisl_neighbours = 32\nisl_range_km = 0.5\n'
        + "isl_bandwidth_mbps = 1e-3\ngsl_bandwidth_mbps = 7\n"
    )
    scenario, catalog = build(tmp_path, text)
    assert scenario.time.start == datetime(2026, 3, 20, 12, tzinfo=UTC)
    assert (scenario.time.duration_s, scenario.time.step_s, scenario.time.speed) == (10, 10, 0.5)
    assert [s.name for s in scenario.shells] == ["low", "high"]
    assert scenario.shells[0].phasing == 2
    assert scenario.links == LinksSpec("nearest", 0.5, 32, 1e-3, 7.0)
    assert [
        (g.lat_deg, g.lon_deg, g.alt_m, g.min_elevation_deg) for g in scenario.ground_stations
    ] == [
        (-90.0, 180.0, -500.0, 0.0),
        (90.0, -180.0, 9000.0, 90.0),
    ]
    assert catalog.size == 9 + 6


def test_ground_station_defaults(tmp_path: Path) -> None:
    scenario, _ = build(tmp_path, MINIMAL + station())
    (gs,) = scenario.ground_stations
    assert (gs.name, gs.lat_deg, gs.lon_deg, gs.alt_m, gs.min_elevation_deg) == (
        "gs",
        50.0,
        8.0,
        0.0,
        25.0,
    )


@pytest.mark.parametrize(
    "start",
    [
        "2026-03-20T12:00:00Z",  # TOML offset date-time literal
        '"2026-03-20T12:00:00Z"',  # string with Z
        '"2026-03-20T12:00:00+00:00"',
        '"2026-03-20T07:00:00-05:00"',  # converted to UTC
        "2026-03-20T13:30:00+01:30",
    ],
)
def test_time_start_forms(tmp_path: Path, start: str) -> None:
    scenario, _ = build(tmp_path, HEAD + f"[time]\nstart = {start}\n" + shell())
    assert scenario.time.start == datetime(2026, 3, 20, 12, tzinfo=UTC)
    assert scenario.time.start.tzinfo is UTC


def test_local_file_named_like_a_builtin_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, MINIMAL.replace('name = "t"', 'name = "mine"'), name="demo")
    scenario = load_scenario("demo")
    assert (scenario.name, scenario.source) == ("mine", "demo")


def test_a_folder_named_like_a_builtin_does_not_hide_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()  # e.g. the output folder of an earlier `orbitmesh demo`
    assert load_scenario("demo").name == "demo"


# ---------------------------------------------------------------------- the message format


def test_issue_example_is_reported_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, HEAD + TIME + shell(inclination_deg="200"), name="demo.toml")
    with pytest.raises(ScenarioError) as info:
        load_scenario("demo.toml")
    expected = "demo.toml: shell[0].inclination_deg: must be within [0, 180], got 200"
    assert info.value.problems == [expected]
    assert str(info.value) == expected


def test_all_problems_of_a_file_are_reported_together(tmp_path: Path) -> None:
    text = (
        'colour = "red"\n'
        + '[time]\nstart = "noon"\nstep_s = 0\n'
        + shell(planes="0", altitude_km="100")
        + shell(name='"b-c"')
        + station(lat_deg="95")
        + '[links]\nisl = "mesh"\n'
        + "[compute]\nsatellites = { every = 0 }\n"
    )
    assert problems_of(tmp_path, text) == [
        f"colour: unknown key (allowed: {ALLOWED_TOP})",
        "name: is required",
        "time.start: must be an ISO 8601 time such as 2026-03-20T12:00:00Z, got 'noon'",
        "time.step_s: must be > 0, got 0",
        "shell[0].altitude_km: must be within [150, 50000], got 100",
        "shell[0].planes: must be at least 1, got 0",
        "shell[1].name: must not contain '-' or spaces (ids are <shell>-<plane>-<slot>), got 'b-c'",
        "ground_station[0].lat_deg: must be within [-90, 90], got 95",
        "links.isl: must be one of plus-grid, nearest, none, got 'mesh'",
        "compute.satellites.every: must be at least 1, got 0",
    ]


# ---------------------------------------------------------------------- top level


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            HEAD + "colour = 1\n" + TIME + shell(),
            [f"colour: unknown key (allowed: {ALLOWED_TOP})"],
            id="unknown-key",
        ),
        pytest.param(TIME + shell(), ["name: is required"], id="name-missing"),
        pytest.param(
            'name = ""\n' + TIME + shell(),
            ["name: must be a non-empty string, got the string ''"],
            id="name-empty",
        ),
        pytest.param(
            'name = "  "\n' + TIME + shell(),
            ["name: must be a non-empty string, got the string '  '"],
            id="name-blank",
        ),
        pytest.param(
            "name = 5\n" + TIME + shell(),
            ["name: must be a non-empty string, got int 5"],
            id="name-number",
        ),
        pytest.param(
            HEAD + shell(),
            ["time: is required ([time] with at least start)"],
            id="time-missing",
        ),
        pytest.param(
            HEAD + 'time = "now"\n' + shell(),
            ["time: must be a table, got the string 'now'"],
            id="time-string",
        ),
        pytest.param(
            HEAD + "[[time]]\nstart = 2026-03-20T12:00:00Z\n" + shell(),
            ["time: must be a table, got an array"],
            id="time-array",
        ),
        pytest.param(
            HEAD + TIME,
            ["defines no satellites: add a [[shell]], [[tle]], [[omm]] or [[cluster]] section"],
            id="no-satellites",
        ),
        pytest.param(
            HEAD + "shell = []\n" + TIME,
            ["the scenario selects no satellites"],
            id="empty-shell-array",
        ),
        pytest.param(
            HEAD + TIME + shell().replace("[[shell]]", "[shell]"),
            ["shell: must be an array of tables ([[shell]]), got a table"],
            id="shell-table",
        ),
        pytest.param(
            HEAD + 'shell = [1, "x"]\n' + TIME,
            [
                "shell[0]: must be a table, got int 1",
                "shell[1]: must be a table, got the string 'x'",
            ],
            id="shell-items",
        ),
        pytest.param(
            HEAD + 'tle = { path = "x.tle" }\n' + TIME + shell(),
            ["tle: must be an array of tables ([[tle]]), got a table"],
            id="tle-table",
        ),
        pytest.param(
            HEAD + 'ground_station = "x"\n' + TIME + shell(),
            ["ground_station: must be an array of tables ([[ground_station]]), got the string 'x'"],
            id="station-string",
        ),
        pytest.param(
            HEAD + "ground_station_set = 3\n" + TIME + shell(),
            ["ground_station_set: must be an array of tables ([[ground_station_set]]), got int 3"],
            id="station-set-number",
        ),
        pytest.param(
            HEAD + "links = [1]\n" + TIME + shell(),
            ["links: must be a table, got an array"],
            id="links-array",
        ),
        pytest.param(
            HEAD + 'compute = "all"\n' + TIME + shell(),
            ["compute: must be a table, got the string 'all'"],
            id="compute-string",
        ),
    ],
)
def test_top_level_problems(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert problems_of(tmp_path, text) == expected


def test_invalid_toml_is_one_problem(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "t"\nthis is not toml\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (line,) = info.value.problems
    assert line.startswith(f"{path}: not valid TOML: ")
    assert "(at line 2, column 6)" in line


def test_missing_file_that_is_not_a_builtin(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(missing)
    assert info.value.problems == [
        f"{missing}: no such scenario file, and not a built-in scenario "
        "(demo, starlink-shell1, kuiper-630, iridium, spacex-odc, suncatcher-81, d2d-kuiper)"
    ]
    with pytest.raises(ScenarioError) as info:
        load_scenario("no-such-builtin")
    assert info.value.problems == [
        "no-such-builtin: no such scenario file, and not a built-in scenario "
        "(demo, starlink-shell1, kuiper-630, iridium, spacex-odc, suncatcher-81, d2d-kuiper)"
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'name = "\xff"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.problems == [
        f"{path}: cannot read: 'utf-8' codec can't decode byte 0xff in position 8: "
        "invalid start byte"
    ]


# ---------------------------------------------------------------------- [time]

ALLOWED_TIME = "start, duration_s, step_s, speed"
PUBLISHED_FIRST = "the orchestrator publishes 10 simulated seconds of ticks before the clock starts"
TICK_RATE = (
    "the orchestrator computes and publishes about 140 ticks per wall second, speed / step_s"
)
SPAN = (
    "1899-07-30T00:00:00Z .. 2053-10-08T00:00:00Z (the Sun ephemeris de421.bsp that "
    "skyfield-data ships, a day inside each end)"
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("duration_s = 60\n", ["time.start: is required"], id="start-missing"),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nlength = 5\n',
            [f"time.length: unknown key (allowed: {ALLOWED_TIME})"],
            id="unknown-key",
        ),
        pytest.param(
            'start = "yesterday"\n',
            ["time.start: must be an ISO 8601 time such as 2026-03-20T12:00:00Z, got 'yesterday'"],
            id="bad-iso",
        ),
        pytest.param(
            'start = "2026-13-20T12:00:00Z"\n',
            [
                "time.start: must be an ISO 8601 time such as 2026-03-20T12:00:00Z, "
                "got '2026-13-20T12:00:00Z'"
            ],
            id="bad-month",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00"\n',
            ["time.start: must carry a time zone (append Z for UTC)"],
            id="string-without-zone",
        ),
        pytest.param(
            "start = 2026-03-20T12:00:00\n",
            ["time.start: must carry a time zone (append Z for UTC)"],
            id="toml-local-datetime",
        ),
        pytest.param(
            "start = 2026-03-20\n",
            ["time.start: must be an ISO 8601 time, got date datetime.date(2026, 3, 20)"],
            id="toml-date",
        ),
        pytest.param(
            "start = 5\n",
            ["time.start: must be an ISO 8601 time, got int 5"],
            id="number",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nduration_s = 0\n',
            ["time.duration_s: must be > 0, got 0"],
            id="duration-zero",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nduration_s = "1h"\n',
            ["time.duration_s: must be a number, got the string '1h'"],
            id="duration-string",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nstep_s = true\n',
            ["time.step_s: must be a number, got the boolean true"],
            id="step-boolean",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nspeed = -1\n',
            ["time.speed: must be > 0, got -1"],
            id="speed-negative",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nspeed = inf\n',
            ["time.speed: must be finite, got inf"],
            id="speed-inf",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nduration_s = 10\nstep_s = 20\n',
            ["time.step_s: must not exceed time.duration_s (10), got 20"],
            id="step-over-duration",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nduration_s = 0.25\nstep_s = 0.5\n',
            ["time.step_s: must not exceed time.duration_s (0.25), got 0.5"],
            id="step-over-duration-fraction",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nstep_s = 3601\n',
            ["time.step_s: must not exceed time.duration_s (3600), got 3601"],
            id="step-over-default-duration",
        ),
        pytest.param(
            'start = "0001-01-01T00:00:00+01:00"\n',
            ["time.start: is outside the years 1 to 9999 in UTC, got 0001-01-01T00:00:00+01:00"],
            id="before-year-1-in-utc",
        ),
        # issue 11: 10^7 ticks before the first publication (up hung), and 10^4 (52 s late)
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nstep_s = 0.000001\n',
            [f"time.step_s: must be at least 0.1 ({PUBLISHED_FIRST}), got 1e-06"],
            id="step-microsecond",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nstep_s = 0.001\n',
            [f"time.step_s: must be at least 0.1 ({PUBLISHED_FIRST}), got 0.001"],
            id="step-millisecond",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nstep_s = 0.0999\n',
            [f"time.step_s: must be at least 0.1 ({PUBLISHED_FIRST}), got 0.0999"],
            id="step-just-below",
        ),
        # 141 ticks a second at step 1; 14.1 / 0.1 = 141 too
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nspeed = 141\n',
            [f"time.speed: must be at most 140 at step_s 1 ({TICK_RATE}), got 141"],
            id="speed-over-tick-rate",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nstep_s = 0.1\nspeed = 14.1\n',
            [f"time.speed: must be at most 14 at step_s 0.1 ({TICK_RATE}), got 14.1"],
            id="speed-over-tick-rate-small-step",
        ),
        # issue 11: a start after the ephemeris ends
        pytest.param(
            'start = "2060-01-01T00:00:00Z"\n',
            [f"time.start: must lie within {SPAN}, got 2060-01-01T00:00:00Z"],
            id="start-2060",
        ),
        pytest.param(
            'start = "1899-07-29T23:59:59Z"\n',
            [f"time.start: must lie within {SPAN}, got 1899-07-29T23:59:59Z"],
            id="start-before-the-span",
        ),
        pytest.param(
            'start = "2053-10-07T23:00:00Z"\nduration_s = 3601\n',
            [
                f"time.duration_s: must end the run within {SPAN}: at most 3600 s after "
                "time.start, got 3601"
            ],
            id="end-after-the-span",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nduration_s = 1e300\n',
            [
                # 2026-03-20T12:00Z to 2053-10-08T00:00Z: 10,063.5 days
                f"time.duration_s: must end the run within {SPAN}: at most "
                f"{int(10_063.5 * 86_400)} s after time.start, got 1e+300"
            ],
            id="duration-huge",
        ),
    ],
)
def test_time_problems(tmp_path: Path, body: str, expected: list[str]) -> None:
    assert problems_of(tmp_path, HEAD + "[time]\n" + body + shell()) == expected


def test_the_span_is_the_files_own_a_day_inside_each_end() -> None:
    """DE421 read with jplephem itself: every segment covers JD 2414864.5 to 2471184.5
    (TDB), that is 1899-07-29 and 2053-10-09 (JD 2451545.0 is 2000-01-01T12:00, and
    2471184.5 - 2451545.0 = 19,639.5 days later is 2053-10-09T00:00); a day inside each
    end makes 1899-07-30 and 2053-10-08, the span in ``SPAN``."""
    from jplephem.spk import SPK  # type: ignore[import-untyped]
    from skyfield_data import get_skyfield_data_path

    kernel = SPK.open(str(Path(get_skyfield_data_path()) / "de421.bsp"))
    try:
        spans = {(seg.start_jd, seg.end_jd) for seg in kernel.segments}
    finally:
        kernel.close()
    assert spans == {(2414864.5, 2471184.5)}
    assert ephemeris_span() == (
        datetime(1899, 7, 30, tzinfo=UTC),
        datetime(2053, 10, 8, tzinfo=UTC),
        "de421.bsp",
    )


@pytest.mark.parametrize(
    "time_table",
    [
        'start = "1899-07-30T00:00:00Z"\nduration_s = 600\n',
        'start = "2053-10-07T23:00:00Z"\nduration_s = 3600\nstep_s = 0.1\nspeed = 14\n',
        'start = "2026-03-20T12:00:00Z"\nspeed = 140\n',
    ],
    ids=["first-instant", "last-instant-smallest-step", "fastest-speed"],
)
def test_the_bounds_themselves_run(tmp_path: Path, time_table: str) -> None:
    """At the edges of what validation accepts the geometry works: ticks at both ends of
    the run and every compute satellite's track 60 s past its end, as ``up`` computes."""
    from orbitmesh.orchestrator.geometry import GeometryEngine

    scenario, catalog = build(tmp_path, HEAD + "[time]\n" + time_table + shell() + station())
    engine = GeometryEngine(scenario, catalog)
    end_s = scenario.time.duration_s
    first, last = engine.ticks([0.0, end_s])
    assert first.offset_s == 0.0 and last.offset_s == end_s
    (track, *_) = engine.ephemeris([0], 0.0, end_s + 60.0)
    assert track.end_s >= end_s + 60.0


# ---------------------------------------------------------------------- [[shell]]


SHELL_CASES: list[tuple[dict[str, str | None], str]] = [
    # Walker parameters that cannot form a constellation
    ({"planes": "0"}, "shell[0].planes: must be at least 1, got 0"),
    ({"planes": "-3"}, "shell[0].planes: must be at least 1, got -3"),
    ({"sats_per_plane": "0"}, "shell[0].sats_per_plane: must be at least 1, got 0"),
    ({"phasing": "2"}, "shell[0].phasing: must be within [0, planes - 1] = [0, 1], got 2"),
    ({"phasing": "-1"}, "shell[0].phasing: must be within [0, planes - 1] = [0, 1], got -1"),
    (
        {"planes": "5", "phasing": "7"},
        "shell[0].phasing: must be within [0, planes - 1] = [0, 4], got 7",
    ),
    ({"raan_spread_deg": "0"}, "shell[0].raan_spread_deg: must be within (0, 360], got 0"),
    ({"raan_spread_deg": "400"}, "shell[0].raan_spread_deg: must be within (0, 360], got 400"),
    ({"raan_spread_deg": "-10"}, "shell[0].raan_spread_deg: must be within (0, 360], got -10"),
    (
        {"raan_offset_deg": "361"},
        "shell[0].raan_offset_deg: must be within [-360, 360], got 361",
    ),
    ({"altitude_km": "100"}, "shell[0].altitude_km: must be within [150, 50000], got 100"),
    ({"altitude_km": "149.9"}, "shell[0].altitude_km: must be within [150, 50000], got 149.9"),
    ({"altitude_km": "50001"}, "shell[0].altitude_km: must be within [150, 50000], got 50001"),
    ({"inclination_deg": "200"}, "shell[0].inclination_deg: must be within [0, 180], got 200"),
    ({"inclination_deg": "-0.5"}, "shell[0].inclination_deg: must be within [0, 180], got -0.5"),
    # names become ids <shell>-<plane>-<slot>
    (
        {"name": '"a-b"'},
        "shell[0].name: must not contain '-' or spaces (ids are <shell>-<plane>-<slot>), got 'a-b'",
    ),
    (
        {"name": '"a b"'},
        "shell[0].name: must not contain '-' or spaces (ids are <shell>-<plane>-<slot>), got 'a b'",
    ),
    (
        {"name": '"a\\tb"'},
        "shell[0].name: must not contain '-' or spaces (ids are <shell>-<plane>-<slot>), "
        "got 'a\\tb'",
    ),
    ({"name": '""'}, "shell[0].name: must be a non-empty string, got the string ''"),
    ({"name": "5"}, "shell[0].name: must be a non-empty string, got int 5"),
    # wrong types
    ({"planes": "2.0"}, "shell[0].planes: must be an integer, got float 2.0"),
    ({"planes": "true"}, "shell[0].planes: must be an integer, got the boolean true"),
    ({"sats_per_plane": '"3"'}, "shell[0].sats_per_plane: must be an integer, got the string '3'"),
    ({"phasing": "1.5"}, "shell[0].phasing: must be an integer, got float 1.5"),
    ({"altitude_km": "true"}, "shell[0].altitude_km: must be a number, got the boolean true"),
    ({"altitude_km": '"550"'}, "shell[0].altitude_km: must be a number, got the string '550'"),
    ({"altitude_km": "nan"}, "shell[0].altitude_km: must be finite, got nan"),
    ({"altitude_km": "-inf"}, "shell[0].altitude_km: must be finite, got -inf"),
    ({"inclination_deg": "[53]"}, "shell[0].inclination_deg: must be a number, got an array"),
    (
        {"inclination_deg": "{ deg = 53 }"},
        "shell[0].inclination_deg: must be a number, got a table",
    ),
    (
        {"raan_offset_deg": "false"},
        "shell[0].raan_offset_deg: must be a number, got the boolean false",
    ),
    # missing and unknown keys
    ({"name": None}, "shell[0].name: is required"),
    ({"altitude_km": None}, "shell[0].altitude_km: is required"),
    ({"inclination_deg": None}, "shell[0].inclination_deg: is required"),
    ({"planes": None}, "shell[0].planes: is required"),
    ({"sats_per_plane": None}, "shell[0].sats_per_plane: is required"),
    ({"eccentricity": "0"}, f"shell[0].eccentricity: unknown key (allowed: {ALLOWED_SHELL})"),
]


@pytest.mark.parametrize(("fields", "expected"), SHELL_CASES, ids=case_ids(SHELL_CASES))
def test_shell_problems(tmp_path: Path, fields: dict[str, str | None], expected: str) -> None:
    assert problems_of(tmp_path, HEAD + TIME + shell(**fields)) == [expected]


def test_problems_name_the_shell_index(tmp_path: Path) -> None:
    text = HEAD + TIME + shell() + shell(name='"b"', planes="0") + shell(name='"c"', phasing="9")
    assert problems_of(tmp_path, text) == [
        "shell[1].planes: must be at least 1, got 0",
        "shell[2].phasing: must be within [0, planes - 1] = [0, 1], got 9",
    ]


def test_duplicate_shell_names(tmp_path: Path) -> None:
    text = HEAD + TIME + shell() + shell(name='"b"') + shell() + shell(name='"b"')
    assert problems_of(tmp_path, text) == [
        "shell: name 'a' is used more than once",
        "shell: name 'b' is used more than once",
    ]


def test_walker_ids_are_plane_major_and_zero_based(tmp_path: Path) -> None:
    text = HEAD + TIME + shell(name='"p"', planes="3", sats_per_plane="4") + shell(name='"q"')
    scenario, catalog = build(tmp_path, text)
    expected_p = [f"p-{plane}-{slot}" for plane in range(3) for slot in range(4)]
    expected_q = [f"q-{plane}-{slot}" for plane in range(2) for slot in range(3)]
    assert list(catalog.ids) == expected_p + expected_q
    assert list(catalog.names) == expected_p + expected_q
    assert catalog.shell_start == (0, 12)
    assert catalog.shell_index.tolist() == [0] * 12 + [1] * 6
    assert catalog.plane.tolist() == [p for p in range(3) for _ in range(4)] + [0, 0, 0, 1, 1, 1]
    assert catalog.slot.tolist() == [0, 1, 2, 3] * 3 + [0, 1, 2] * 2
    assert all(catalog.index[sid] == i for i, sid in enumerate(catalog.ids))
    assert catalog.shells == scenario.shells


# ---------------------------------------------------------------------- [[ground_station]]


STATION_CASES: list[tuple[dict[str, str | None], str]] = [
    ({"lat_deg": "91"}, "ground_station[0].lat_deg: must be within [-90, 90], got 91"),
    ({"lat_deg": "-90.5"}, "ground_station[0].lat_deg: must be within [-90, 90], got -90.5"),
    ({"lon_deg": "181"}, "ground_station[0].lon_deg: must be within [-180, 180], got 181"),
    ({"lon_deg": "-181"}, "ground_station[0].lon_deg: must be within [-180, 180], got -181"),
    ({"alt_m": "-501"}, "ground_station[0].alt_m: must be within [-500, 9000], got -501"),
    ({"alt_m": "9001"}, "ground_station[0].alt_m: must be within [-500, 9000], got 9001"),
    (
        {"min_elevation_deg": "-1"},
        "ground_station[0].min_elevation_deg: must be within [0, 90], got -1",
    ),
    (
        {"min_elevation_deg": "91"},
        "ground_station[0].min_elevation_deg: must be within [0, 90], got 91",
    ),
    ({"lat_deg": '"50"'}, "ground_station[0].lat_deg: must be a number, got the string '50'"),
    ({"lon_deg": "true"}, "ground_station[0].lon_deg: must be a number, got the boolean true"),
    ({"name": '""'}, "ground_station[0].name: must be a non-empty string, got the string ''"),
    ({"name": None}, "ground_station[0].name: is required"),
    ({"lat_deg": None}, "ground_station[0].lat_deg: is required"),
    ({"lon_deg": None}, "ground_station[0].lon_deg: is required"),
    (
        {"height_m": "3"},
        f"ground_station[0].height_m: unknown key (allowed: {ALLOWED_STATION})",
    ),
]


@pytest.mark.parametrize(("fields", "expected"), STATION_CASES, ids=case_ids(STATION_CASES))
def test_ground_station_problems(
    tmp_path: Path, fields: dict[str, str | None], expected: str
) -> None:
    assert problems_of(tmp_path, MINIMAL + station(**fields)) == [expected]


def test_duplicate_ground_station_names(tmp_path: Path) -> None:
    text = MINIMAL + station() + station(name='"x"') + station() + station()
    assert problems_of(tmp_path, text) == ["ground_station: name 'gs' is used more than once"]


# ---------------------------------------------------------------------- [[ground_station_set]]

ALLOWED_SET = "builtin, count, min_elevation_deg, alt_m"


def test_metros_builtin_list_is_sound() -> None:
    entries = builtin_station_list("metros")
    names = [str(e["name"]) for e in entries]
    assert len(names) >= 100
    assert len(set(names)) == len(names)
    for e in entries:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", str(e["name"])), e
        lat, lon = float(e["lat_deg"]), float(e["lon_deg"])
        assert math.isfinite(lat) and -90 <= lat <= 90, e
        assert math.isfinite(lon) and -180 <= lon <= 180, e
        assert (lat, lon) != (0.0, 0.0), e
    population = [float(e["population_m"]) for e in entries]
    assert all(p > 0 for p in population)
    assert population == sorted(population, reverse=True)
    assert names[0] == "tokyo"
    with pytest.raises(KeyError):
        builtin_station_list("capitals")


def test_station_set_takes_the_first_count_entries(tmp_path: Path) -> None:
    text = MINIMAL + '[[ground_station_set]]\nbuiltin = "metros"\ncount = 100\n'
    scenario, _ = build(tmp_path, text)
    entries = builtin_station_list("metros")
    assert len(scenario.ground_stations) == 100
    assert [g.name for g in scenario.ground_stations] == [e["name"] for e in entries[:100]]
    first = scenario.ground_stations[0]
    assert (first.lat_deg, first.lon_deg) == (entries[0]["lat_deg"], entries[0]["lon_deg"])
    assert {(g.alt_m, g.min_elevation_deg) for g in scenario.ground_stations} == {(0.0, 25.0)}


def test_station_set_without_count_takes_all_with_set_mask_and_altitude(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + '[[ground_station_set]]\nbuiltin = "metros"\nmin_elevation_deg = 40\nalt_m = 12.5\n'
    )
    scenario, _ = build(tmp_path, text)
    assert len(scenario.ground_stations) == len(builtin_station_list("metros"))
    assert {(g.alt_m, g.min_elevation_deg) for g in scenario.ground_stations} == {(12.5, 40.0)}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            'builtin = "capitals"\n',
            ["ground_station_set[0].builtin: unknown list 'capitals' (known: metros)"],
            id="unknown-builtin",
        ),
        pytest.param(
            "count = 3\n", ["ground_station_set[0].builtin: is required"], id="no-builtin"
        ),
        pytest.param(
            "builtin = 1\n",
            ["ground_station_set[0].builtin: must be a non-empty string, got int 1"],
            id="builtin-number",
        ),
        pytest.param(
            'builtin = "metros"\ncount = 0\n',
            ["ground_station_set[0].count: must be within [1, {n}], got 0"],
            id="count-zero",
        ),
        pytest.param(
            'builtin = "metros"\ncount = {n_plus_1}\n',
            ["ground_station_set[0].count: must be within [1, {n}], got {n_plus_1}"],
            id="count-too-large",
        ),
        pytest.param(
            'builtin = "metros"\ncount = 1.5\n',
            ["ground_station_set[0].count: must be an integer, got float 1.5"],
            id="count-float",
        ),
        pytest.param(
            'builtin = "metros"\nmin_elevation_deg = 91\nalt_m = -501\n',
            [
                "ground_station_set[0].min_elevation_deg: must be within [0, 90], got 91",
                "ground_station_set[0].alt_m: must be within [-500, 9000], got -501",
            ],
            id="mask-and-altitude",
        ),
        pytest.param(
            'builtin = "metros"\nfirst = 3\n',
            [f"ground_station_set[0].first: unknown key (allowed: {ALLOWED_SET})"],
            id="unknown-key",
        ),
    ],
)
def test_station_set_problems(tmp_path: Path, body: str, expected: list[str]) -> None:
    n = len(builtin_station_list("metros"))
    body = body.replace("{n_plus_1}", str(n + 1))
    expected = [e.replace("{n_plus_1}", str(n + 1)).replace("{n}", str(n)) for e in expected]
    assert problems_of(tmp_path, MINIMAL + "[[ground_station_set]]\n" + body) == expected


def test_station_set_names_clash_with_stations_and_other_sets(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + station(name='"tokyo"')
        + '[[ground_station_set]]\nbuiltin = "metros"\ncount = 2\n'
        + '[[ground_station_set]]\nbuiltin = "metros"\ncount = 2\n'
    )
    second = str(builtin_station_list("metros")[1]["name"])
    assert problems_of(tmp_path, text) == sorted(
        [
            f"ground_station: name {second!r} is used more than once",
            "ground_station: name 'tokyo' is used more than once",
        ]
    )


# ---------------------------------------------------------------------- [links]


LINK_CASES: list[tuple[str, str]] = [
    ('isl = "mesh"', "links.isl: must be one of plus-grid, nearest, none, got 'mesh'"),
    ("isl = 5", "links.isl: must be a non-empty string, got int 5"),
    ("isl_range_km = -1", "links.isl_range_km: must be > 0, got -1"),
    ("isl_range_km = 0", "links.isl_range_km: must be > 0, got 0"),
    ('isl_range_km = "far"', "links.isl_range_km: must be a number, got the string 'far'"),
    ("isl_neighbours = 0", "links.isl_neighbours: must be within [1, 32], got 0"),
    ("isl_neighbours = 33", "links.isl_neighbours: must be within [1, 32], got 33"),
    ("isl_neighbours = 4.5", "links.isl_neighbours: must be an integer, got float 4.5"),
    ("isl_bandwidth_mbps = 0", "links.isl_bandwidth_mbps: must be > 0, got 0"),
    ("gsl_bandwidth_mbps = 0", "links.gsl_bandwidth_mbps: must be > 0, got 0"),
    ("gsl_bandwidth_mbps = -2.5", "links.gsl_bandwidth_mbps: must be > 0, got -2.5"),
    ("gsl_bandwidth_mbps = nan", "links.gsl_bandwidth_mbps: must be finite, got nan"),
    ("latency_ms = 3", f"links.latency_ms: unknown key (allowed: {ALLOWED_LINKS})"),
    ("route_horizon_ms = 0", "links.route_horizon_ms: must be > 0, got 0"),
    ("loss_rate = 1", "links.loss_rate: must be within [0, 1), got 1"),
    ("loss_seed = 1.5", "links.loss_seed: must be an integer, got float 1.5"),
    ("route_horizon_ms = 'far'", "links.route_horizon_ms: must be a number, got the string 'far'"),
]


@pytest.mark.parametrize(("body", "expected"), LINK_CASES, ids=[b for b, _ in LINK_CASES])
def test_links_problems(tmp_path: Path, body: str, expected: str) -> None:
    assert problems_of(tmp_path, MINIMAL + "[links]\n" + body + "\n") == [expected]


@pytest.mark.parametrize("isl", ["plus-grid", "nearest", "none"])
def test_links_topologies(tmp_path: Path, isl: str) -> None:
    scenario, _ = build(tmp_path, MINIMAL + f'[links]\nisl = "{isl}"\n')
    assert scenario.links == LinksSpec(isl=isl)  # type: ignore[arg-type]


def test_empty_links_table_keeps_defaults(tmp_path: Path) -> None:
    scenario, _ = build(tmp_path, MINIMAL + "[links]\n")
    assert scenario.links == LinksSpec()


# ---------------------------------------------------------------------- [compute]


COMPUTE_FORM_CASES: list[tuple[str, ComputeSpec, list[int]]] = [
    ('"all"', ComputeSpec(mode="all"), [0, 1, 2, 3, 4, 5]),
    ('"none"', ComputeSpec(mode="none"), []),
    ('["a-1-2", "a-0-1"]', ComputeSpec(mode="list", ids=("a-1-2", "a-0-1")), [1, 5]),
    ("{ every = 2 }", ComputeSpec(mode="every", every=2), [0, 2, 4]),
    ("{ every = 4 }", ComputeSpec(mode="every", every=4), [0, 4]),
    ("{ every = 1 }", ComputeSpec(mode="every", every=1), [0, 1, 2, 3, 4, 5]),
    ("{ every = 99 }", ComputeSpec(mode="every", every=99), [0]),
]


@pytest.mark.parametrize(
    ("value", "spec", "indices"),
    COMPUTE_FORM_CASES,
    ids=[c[0] for c in COMPUTE_FORM_CASES],
)
def test_compute_forms(tmp_path: Path, value: str, spec: ComputeSpec, indices: list[int]) -> None:
    scenario, catalog = build(tmp_path, MINIMAL + f"[compute]\nsatellites = {value}\n")
    assert scenario.compute == spec
    assert catalog.compute_indices.tolist() == indices


def test_empty_compute_table_means_all(tmp_path: Path) -> None:
    scenario, catalog = build(tmp_path, MINIMAL + "[compute]\n")
    assert scenario.compute == ComputeSpec(mode="all")
    assert bool(catalog.compute.all())


COMPUTE_PROBLEM_CASES: list[tuple[str, list[str]]] = [
    ("{ every = 0 }", ["compute.satellites.every: must be at least 1, got 0"]),
    ("{ every = -2 }", ["compute.satellites.every: must be at least 1, got -2"]),
    ("{ every = 1.5 }", ["compute.satellites.every: must be an integer, got float 1.5"]),
    ("{}", ["compute.satellites.every: is required"]),
    (
        "{ every = 2, offset = 1 }",
        ["compute.satellites.offset: unknown key (allowed: every)"],
    ),
    ("5", [f"compute.satellites: {COMPUTE_SHAPES}, got int 5"]),
    ('"some"', [f"compute.satellites: {COMPUTE_SHAPES}, got the string 'some'"]),
    ("true", [f"compute.satellites: {COMPUTE_SHAPES}, got the boolean true"]),
    (
        '["a-0-0", "a-1-1", "a-0-0", "a-1-1", "a-0-2"]',
        ["compute.satellites: lists a-0-0, a-1-1 more than once"],
    ),
    (
        '["a-0-0", 1.5, ""]',
        [
            "compute.satellites[1]: must be a non-empty string, got float 1.5",
            "compute.satellites[2]: must be a non-empty string, got the string ''",
        ],
    ),
    ('["a-0-0", "a-9-9"]', ["compute.satellites[1]: no satellite with id 'a-9-9'"]),
    ('["a-0-3"]', ["compute.satellites[0]: no satellite with id 'a-0-3'"]),
]


@pytest.mark.parametrize(
    ("value", "expected"), COMPUTE_PROBLEM_CASES, ids=[c[0] for c in COMPUTE_PROBLEM_CASES]
)
def test_compute_problems(tmp_path: Path, value: str, expected: list[str]) -> None:
    assert problems_of(tmp_path, MINIMAL + f"[compute]\nsatellites = {value}\n") == expected


def test_compute_unknown_key(tmp_path: Path) -> None:
    assert problems_of(tmp_path, MINIMAL + '[compute]\nnodes = "all"\n') == [
        "compute.nodes: unknown key (allowed: satellites)"
    ]


# ---------------------------------------------------------------------- built-in scenarios


def test_the_seven_builtins_are_listed() -> None:
    assert set(BUILTIN_SCENARIOS) == {
        "demo",
        "starlink-shell1",
        "kuiper-630",
        "iridium",
        "spacex-odc",
        "suncatcher-81",
        "d2d-kuiper",
    }


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_builtin_scenario_loads_and_builds(name: str) -> None:
    scenario = load_scenario(name)
    catalog = build_catalog(scenario)
    assert scenario.name == name
    assert scenario.source == f"{name}.toml"
    assert scenario.shells or scenario.clusters
    assert scenario.ground_stations
    assert len({g.name for g in scenario.ground_stations}) == len(scenario.ground_stations)
    walker = sum(s.size for s in scenario.shells) + sum(c.members for c in scenario.clusters)
    assert catalog.size >= walker
    if not scenario.tles:
        assert catalog.size == walker
    assert len(set(catalog.ids)) == catalog.size
    assert int(catalog.compute.sum()) >= 1


def test_spacex_odc_spans_the_filed_envelope_with_sun_synchronous_shells() -> None:
    """A million satellites between 500 and 2,000 km (SAT-LOA-20260108-00016), 1,000 of
    them computing; the sun-synchronous shells' nodes turn with the mean Sun, checked
    with sgp4's own propagation of one satellite of each over a day."""
    from sgp4.api import SatrecArray

    scenario = load_scenario("spacex-odc")
    catalog = build_catalog(scenario)
    assert catalog.size == 1_000_000
    assert int(catalog.compute.sum()) == 1_000
    assert all(500 <= s.altitude_km <= 2_000 for s in scenario.shells)
    assert 10 <= len(scenario.ground_stations) <= 20
    sun_deg_per_day = 360.0 / 365.2422
    for shell in scenario.shells:
        first = next(b for b in catalog.walker if b.shell.name == shell.name)
        sat = first.elements_satrec(0.0, 0.0)
        _, r, v = SatrecArray([sat]).sgp4(
            np.array([sat.jdsatepoch, sat.jdsatepoch + 1.0]),
            np.array([sat.jdsatepochF, sat.jdsatepochF]),
        )
        # The orbit normal's right ascension: where the node points, a day apart.
        normal = np.cross(r[0], v[0])
        node_deg = np.degrees(np.arctan2(normal[:, 0], -normal[:, 1]))
        drift = (node_deg[1] - node_deg[0] + 180.0) % 360.0 - 180.0
        if shell.inclination_deg > 90.0:
            assert drift == pytest.approx(sun_deg_per_day, abs=0.01), shell.name
        else:
            assert drift < -1.0, shell.name  # prograde 30 deg shells regress fast


def test_starlink_shell1_ids() -> None:
    catalog = build_catalog(load_scenario("starlink-shell1"))
    assert catalog.size == 72 * 22
    assert catalog.ids[0] == "shell1-0-0"
    assert catalog.ids[21] == "shell1-0-21"
    assert catalog.ids[22] == "shell1-1-0"
    assert catalog.ids[-1] == "shell1-71-21"
    assert set(catalog.ids) == {f"shell1-{p}-{s}" for p in range(72) for s in range(22)}


# ---------------------------------------------------------------------- known bugs


@pytest.mark.parametrize(
    ("value", "shown"),
    [("90.000001", "90.000001"), ("1e300", "1e+300")],
    ids=["just-above-limit", "huge"],
)
def test_out_of_range_value_is_shown_as_written(tmp_path: Path, value: str, shown: str) -> None:
    assert problems_of(tmp_path, MINIMAL + station(lat_deg=value)) == [
        f"ground_station[0].lat_deg: must be within [-90, 90], got {shown}"
    ]


# ---------------------------------------------------------------------- command line


def test_cli_validate_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, MINIMAL + station(), name="good.toml")
    assert cli_main(["validate", str(good)]) == 0
    out = capsys.readouterr()
    assert out.out.startswith(f"{good}: ok: 6 satellites (6 compute) in 1 shell(s) and 0 TLE")
    assert out.err == ""

    missing = tmp_path / "missing.toml"
    assert cli_main(["validate", str(missing)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == (
        f"{missing}: no such scenario file, and not a built-in scenario "
        "(demo, starlink-shell1, kuiper-630, iridium, spacex-odc, suncatcher-81, d2d-kuiper)\n"
    )

    bad = write(tmp_path, HEAD + TIME + shell(sats_per_plane="0"), name="bad.toml")
    for command in ("validate", "geometry", "contacts"):
        assert cli_main([command, str(bad)]) == 2
        out = capsys.readouterr()
        assert out.out == ""
        assert out.err == f"{bad}: shell[0].sats_per_plane: must be at least 1, got 0\n"


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orbitmesh.orchestrator.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_validate_bad_file_exits_2_without_traceback(tmp_path: Path) -> None:
    text = (
        HEAD + TIME + shell(inclination_deg="200", planes="true") + "[links]\nisl_neighbours = 0\n"
    )
    write(tmp_path, text, name="bad.toml")
    result = run_cli(tmp_path, "validate", "bad.toml")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "bad.toml: shell[0].inclination_deg: must be within [0, 180], got 200",
        "bad.toml: shell[0].planes: must be an integer, got the boolean true",
        "bad.toml: links.isl_neighbours: must be within [1, 32], got 0",
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_cli_validate_good_file_exits_0(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL, name="good.toml")
    result = run_cli(tmp_path, "validate", "good.toml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("good.toml: ok: 6 satellites (6 compute)")
    assert "Traceback" not in result.stdout + result.stderr


def test_cli_geometry_bad_file_exits_2_without_traceback(tmp_path: Path) -> None:
    # A problem found only when the catalog is built, after the file itself parsed.
    write(tmp_path, MINIMAL + '[compute]\nsatellites = ["a-0-0", "b-0-0"]\n', name="bad.toml")
    result = run_cli(tmp_path, "geometry", "bad.toml")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "bad.toml: compute.satellites[1]: no satellite with id 'b-0-0'"
    ]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("time_table", "expected"),
    [
        pytest.param(
            'start = "2060-01-01T00:00:00Z"\n',
            f"time.start: must lie within {SPAN}, got 2060-01-01T00:00:00Z",
            id="start-2060",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nstep_s = 0.000001\n',
            f"time.step_s: must be at least 0.1 ({PUBLISHED_FIRST}), got 1e-06",
            id="step-microsecond",
        ),
        pytest.param(
            'start = "2026-03-20T12:00:00Z"\nstep_s = 0.001\n',
            f"time.step_s: must be at least 0.1 ({PUBLISHED_FIRST}), got 0.001",
            id="step-millisecond",
        ),
    ],
)
def test_cli_refuses_what_up_cannot_run_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], time_table: str, expected: str
) -> None:
    """Issue 11: these passed `validate`, then `up`/`geometry` hung or failed with a
    traceback; now every command that reads a scenario stops at one line, exit 2."""
    write(tmp_path, HEAD + "[time]\n" + time_table + shell() + station(), name="bad.toml")
    result = run_cli(tmp_path, "validate", "bad.toml")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"bad.toml: {expected}"]
    path = tmp_path / "bad.toml"
    for command in ("geometry", "contacts"):
        assert cli_main([command, str(path)]) == 2
        out = capsys.readouterr()
        assert (out.out, out.err) == ("", f"{path}: {expected}\n")


# ---------------------------------------------------------------------- placement


def test_placement_defaults_to_auto_and_takes_sizes(tmp_path: Path) -> None:
    from orbitmesh.orchestrator.placement import PlacementSpec

    assert load_scenario(write(tmp_path, MINIMAL)).placement == PlacementSpec()
    text = MINIMAL + '[placement]\nsatellites_per_host = 40\nstations_per_host = "auto"\n'
    placement = load_scenario(write(tmp_path, text, name="p.toml")).placement
    assert placement == PlacementSpec(satellites_per_host=40, stations_per_host=None)


def test_placement_problems_name_their_field(tmp_path: Path) -> None:
    text = MINIMAL + (
        '[placement]\nsatellites_per_host = 0\nstations_per_host = "many"\n'
        "cpus_per_host = -1\nhosts = 3\n"
    )
    assert problems_of(tmp_path, text) == [
        "placement.hosts: unknown key (allowed: satellites_per_host, stations_per_host, "
        "cpus_per_host)",
        'placement.satellites_per_host: must be a positive integer or "auto", got 0',
        'placement.stations_per_host: must be a positive integer or "auto", '
        "got the string 'many'",
        "placement.cpus_per_host: must be >= 0, got -1",
    ]
