"""The orbitmesh command line: documented JSON shapes, formats and exit codes."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from orbitmesh.orchestrator.cli import main

SPAN = (
    "1899-07-30T00:00:00Z .. 2053-10-08T00:00:00Z (the Sun ephemeris de421.bsp that "
    "skyfield-data ships, a day inside each end)"
)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(args)
    out, err = capsys.readouterr()
    return status, out, err


def test_geometry_json_has_the_documented_shape(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["geometry", "demo", "--at", "2026-03-20T12:10:00Z", "--json"], capsys)
    assert status == 0
    doc = json.loads(out)
    assert doc["time"] == "2026-03-20T12:10:00Z"
    assert len(doc["satellites"]) == 144
    sat = doc["satellites"][0]
    assert set(sat) >= {
        "id",
        "name",
        "lat_deg",
        "lon_deg",
        "alt_km",
        "itrs_km",
        "sunlit",
        "compute",
    }
    assert sat["id"] == "shell1-0-0" and len(sat["itrs_km"]) == 3
    assert isinstance(sat["sunlit"], bool) and isinstance(sat["compute"], bool)
    r = math.sqrt(sum(v * v for v in sat["itrs_km"]))
    assert 6378 + 500 < r < 6378 + 600
    assert sum(s["compute"] for s in doc["satellites"]) == 12
    station = doc["ground_stations"][0]
    assert set(station) >= {"name", "visible"}
    for vis in (v for g in doc["ground_stations"] for v in g["visible"]):
        assert set(vis) >= {"satellite", "elevation_deg", "azimuth_deg", "range_km", "delay_ms"}
        assert vis["delay_ms"] == pytest.approx(vis["range_km"] / 299_792.458 * 1e3, rel=1e-5)
    assert doc["routes"], "the demo has routes at this instant"
    compute_ids = {s["id"] for s in doc["satellites"] if s["compute"]}
    names = {g["name"] for g in doc["ground_stations"]}
    for route in doc["routes"]:
        assert set(route) >= {"ground_station", "satellite", "delay_ms", "hops", "bottleneck_mbps"}
        assert route["ground_station"] in names and route["satellite"] in compute_ids
        assert route["hops"][-1] == route["satellite"]
        assert route["bottleneck_mbps"] == (1000.0 if route["hops"] else math.inf)


def test_geometry_satellite_routes_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["geometry", "demo", "--json", "--compact", "--satellite-routes"], capsys)
    assert status == 0
    doc = json.loads(out)
    routes = doc["satellite_routes"]
    assert len({r["from_satellite"] for r in routes}) == 12
    assert all(
        r["hops"][0] == r["from_satellite"] and r["hops"][-1] == r["satellite"] for r in routes
    )
    status, out, _ = run(["geometry", "demo", "--max-rows", "5"], capsys)
    assert status == 0
    assert "144 satellites (12 compute" in out
    assert "more rows" in out


def test_geometry_json_is_streamed_as_the_same_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The streamed writer and the in-memory document agree item for item; --sections
    keeps only the lists asked for; a bad list is one line and exit status 2."""
    from orbitmesh.orchestrator import GeometryEngine, load_scenario
    from orbitmesh.orchestrator.render import geometry_json

    engine = GeometryEngine(load_scenario("demo"))
    tick = engine.tick(600.0)
    whole = geometry_json(engine, tick, satellite_routes=engine.satellite_routes(tick))
    for compact in ([], ["--compact"]):
        out_file = tmp_path / f"g{len(compact)}.json"
        at = ["--at", "2026-03-20T12:10:00Z"]
        args = ["geometry", "demo", *at, "--json", "--satellite-routes", *compact]
        status, _, err = run([*args, "-o", str(out_file)], capsys)
        assert status == 0 and "wrote" in err
        text = out_file.read_text()
        assert json.loads(text) == whole
        assert (text.count("\n") == 1) == bool(compact)
    status, out, _ = run(
        ["geometry", "demo", "--json", "--sections", "ground_stations,routes"], capsys
    )
    assert status == 0
    assert set(json.loads(out)) == {"time", "scenario", "ground_stations", "routes"}
    with pytest.raises(SystemExit) as info:
        run(["geometry", "demo", "--json", "--sections", "stations"], capsys)
    assert info.value.code == 2
    assert "--sections: not a list of satellites" in capsys.readouterr().err


def test_contacts_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["contacts", "demo", "--duration", "1200", "--format", "json"], capsys)
    assert status == 0
    contacts = json.loads(out)["contacts"]
    assert contacts and set(contacts[0]) >= {
        "ground_station",
        "satellite",
        "start",
        "end",
        "max_elevation_deg",
    }
    status, out, _ = run(["contacts", "demo", "--duration", "1200", "--format", "csv"], capsys)
    assert len(list(csv.DictReader(io.StringIO(out)))) == len(contacts)
    plan = tmp_path / "plan.ionrc"
    status, _, err = run(
        ["contacts", "demo", "--duration", "1200", "--format", "ion", "-o", str(plan)], capsys
    )
    assert status == 0 and str(plan) in err
    lines = [x for x in plan.read_text().splitlines() if x.startswith("a ")]
    assert len(lines) == 3 * len(contacts)
    status, out, _ = run(["contacts", "demo", "--duration", "1200"], capsys)
    assert f"{len(contacts)} contact windows" in out


def test_contacts_start_moves_the_window(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(
        [
            "contacts",
            "demo",
            "--start",
            "2026-03-20T13:00:00Z",
            "--duration",
            "600",
            "--format",
            "json",
        ],
        capsys,
    )
    for c in json.loads(out)["contacts"]:
        assert "2026-03-20T13:00:00" <= c["start"] <= c["end"] <= "2026-03-20T13:10:00.000Z"


@pytest.mark.parametrize(
    "args",
    [
        ["geometry", "demo", "--at", "yesterday"],
        ["contacts", "demo", "--duration", "-5"],
        ["contacts", "demo", "--format", "xml"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ["geometry", "demo", "--at", "2070-01-01T00:00:00Z"],
            f"orbitmesh: --at: must lie within {SPAN}, got 2070-01-01T00:00:00Z",
            id="geometry-after-the-ephemeris",
        ),
        pytest.param(
            ["contacts", "demo", "--start", "1850-01-01T00:00:00Z", "--duration", "60"],
            f"orbitmesh: --start: must lie within {SPAN}, got 1850-01-01T00:00:00Z",
            id="contacts-before-the-ephemeris",
        ),
        pytest.param(
            # The demo starts 2026-03-20T12:00Z: 10,063.5 days before 2053-10-08T00:00Z.
            ["contacts", "demo", "--duration", "1e12"],
            f"orbitmesh: --duration: must end the run within {SPAN}: at most "
            f"{int(10_063.5 * 86_400)} s after time.start, got 1000000000000",
            id="contacts-past-the-ephemeris",
        ),
    ],
)
def test_times_outside_the_ephemeris_exit_2(
    args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(args, capsys)
    assert (status, out) == (2, "")
    assert err == expected + "\n"


def test_contacts_checks_the_interval_it_searches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A day from the scenario's start (2053-10-07T12:00Z) would leave the ephemeris; a
    day from ``--start`` does not, and that is the interval searched."""
    scenario = tmp_path / "late.toml"
    scenario.write_text(
        'name = "late"\n[time]\nstart = 2053-10-07T12:00:00Z\nduration_s = 600\n'
        '[[shell]]\nname = "a"\naltitude_km = 550\ninclination_deg = 53\nplanes = 2\n'
        'sats_per_plane = 3\n[[ground_station]]\nname = "gs"\nlat_deg = 50\nlon_deg = 8\n'
    )
    status, out, err = run(
        ["contacts", str(scenario), "--start", "2026-03-20T12:00:00Z", "--duration", "86400"],
        capsys,
    )
    assert (status, err) == (0, "")
    assert "contact windows" in out
    status, out, err = run(["contacts", str(scenario), "--duration", "86400"], capsys)
    assert (status, out) == (2, "")
    assert err == (
        f"orbitmesh: --duration: must end the run within {SPAN}: at most 43200 s after "
        "time.start, got 86400\n"
    )


def test_a_time_that_leaves_year_1_in_utc_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["geometry", "demo", "--at", "0001-01-01T00:00:00+01:00"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert (
        "argument --at: not an ISO 8601 time in the years 1 to 9999 (UTC): "
        "'0001-01-01T00:00:00+01:00'"
    ) in err
    assert "Traceback" not in err


def test_unknown_scenario_name_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["geometry", "no-such-scenario"], capsys)
    assert status == 2
    assert "no such scenario file, and not a built-in scenario" in err


def test_scenarios_lists_the_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(["scenarios"], capsys)
    assert status == 0
    for name, size in (
        ("demo", "144"),
        ("starlink-shell1", "1,584"),
        ("kuiper-630", "1,156"),
        ("iridium", "66"),
    ):
        assert any(line.startswith(name) and size in line for line in out.splitlines())


def test_stale_tles_are_warned_about(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import tle_path

    scenario = tmp_path / "old.toml"
    scenario.write_text(
        'name = "old"\n[time]\nstart = 2026-03-20T12:00:00Z\n'
        f'[[tle]]\npath = "{tle_path("oneweb-2020-02-01.tle")}"\n'
    )
    status, out, err = run(["validate", str(scenario)], capsys)
    assert status == 0 and "ok: 6 satellites" in out
    assert "warning: 6 of 6 TLE satellites have epochs more than 14 days" in err
    fresh = tmp_path / "fresh.toml"
    fresh.write_text(scenario.read_text().replace("2026-03-20", "2020-02-02"))
    status, _, err = run(["validate", str(fresh)], capsys)
    assert status == 0 and "warning" not in err
