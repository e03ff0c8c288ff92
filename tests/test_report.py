"""The load-test HTML report: content, robustness, geometry helpers, and a real browser."""

from __future__ import annotations

import copy
import itertools
import math
import random
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orbitmesh.ground.load.report import render_report, write_report
from orbitmesh.ground.load.svgplot import (
    Panel,
    Series,
    column_chart,
    coverage_angle_deg,
    geo_map,
    hbar_chart,
    log_ticks,
    nice_ticks,
    small_circle,
    split_antimeridian,
    time_chart,
)

CHROMIUM = Path("/usr/bin/chromium")
HEADINGS = (
    "Summary",
    "Latency over time",
    "Emulation error over time",
    "Throughput over time",
    "Failures by cause",
    "Satellites: battery, temperature and sunlight",
    "Ground tracks and coverage",
    "Latency histogram",
)
SVG_NS = "http://www.w3.org/2000/svg"
NOT_A_NUMBER = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)
SATELLITES = ("shell1-0-0", "shell1-0-1", "shell1-1-0")
STATIONS = {
    "frankfurt": {"lat_deg": 50.1, "lon_deg": 8.68, "min_elevation_deg": 10.0},
    "suva": {"lat_deg": -18.1, "lon_deg": 178.4, "min_elevation_deg": 10.0},
}


# --- a synthetic, self-consistent run ----------------------------------------------


def _in_contact(offset_s: float) -> int:
    """Satellites in contact: a pass ends at 300 s, an outage 500-560 s, more from 900 s."""
    for end_s, count in ((300, 2), (500, 1), (560, 0), (900, 2)):
        if offset_s < end_s:
            return count
    return 3


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def _latency_stats(latencies_ms: list[float]) -> dict[str, float]:
    return {
        "mean": sum(latencies_ms) / len(latencies_ms),
        **{f"p{q}": _percentile(latencies_ms, q) for q in (50, 90, 99)},
    }


def _one_second(
    rng: random.Random, t: int, requests: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[float]]:
    in_contact = _in_contact(t)
    sent = rng.randint(3, 5)
    failed = {"no-contact": 0, "power": 0}
    latencies: list[float] = []
    for _ in range(sent):
        offset_s = t + rng.random()
        satellite = SATELLITES[rng.randrange(len(SATELLITES))]
        if in_contact == 0 or rng.random() < 0.01:
            outcome, latency_ms = "no-contact", 2.0 + rng.random()
        elif satellite == "shell1-1-0" and rng.random() < 0.03:
            outcome, latency_ms = "power", 20.0 + 5 * rng.random()
        else:
            outcome = "ok"
            latency_ms = 35 + rng.expovariate(1 / 6) + (400 if rng.random() < 0.004 else 0)
            latencies.append(latency_ms)
        if outcome != "ok":
            failed[outcome] += 1
        record: dict[str, Any] = {"offset_s": round(offset_s, 3), "outcome": outcome}
        record |= {"latency_ms": round(latency_ms, 2), "station": "frankfurt"}
        record["satellite"] = satellite
        requests.append(record)
    row: dict[str, Any] = {
        "offset_s": float(t),
        "sim_time": f"2026-03-20T12:{t // 60:02d}:{t % 60:02d}Z",
        "sent": sent,
        "succeeded": len(latencies),
        "failed": failed,
        "rps": sent / 20.0,
        "satellites_in_contact": in_contact,
        "mean_state_of_charge": 0.9 - t / 12000,
        "handovers": 1 if t in (300, 560, 900) else 0,
    }
    for q in (50, 90, 99):
        row[f"latency_ms_p{q}"] = round(_percentile(latencies, q), 2) if latencies else None
    row["modelled_ms_p50"] = 36.5 + (t % 97) / 97 if latencies else None
    row["error_ms_p50"] = 1.0 + (t % 13) / 26 if latencies else None
    row["error_ms_p99"] = 4.0 + (t % 17) / 4 if latencies else None
    return row, latencies


def _satellite_samples(index: int, duration_s: int) -> list[dict[str, Any]]:
    samples = []
    charge = 0.9 - 0.05 * index
    eclipse_start_s = 300 + 200 * index
    for t in range(0, duration_s, 10):
        sunlit = not eclipse_start_s <= t < eclipse_start_s + 400
        charge = min(1.0, charge + (0.0008 if sunlit else -0.0012))
        phase = 2 * math.pi * t / 5700 + index
        lon = (150.0 + 40 * index + 0.06 * t + 180) % 360 - 180  # crosses 180 deg
        sample = {"offset_s": float(t), "state_of_charge": round(charge, 4)}
        sample |= {"temperature_c": 20 + 5 * math.sin(t / 200 + index), "sunlit": sunlit}
        sample |= {"lat_deg": 53 * math.sin(phase), "lon_deg": lon, "alt_km": 550.0 + index}
        samples.append(sample)
    return samples


def _histogram(latencies_ms: list[float]) -> list[dict[str, Any]]:
    """ghz's buckets: ten equal steps from fastest to slowest, marks are upper bounds."""
    fastest, slowest = min(latencies_ms), max(latencies_ms)
    marks = [fastest + (slowest - fastest) * i / 10 for i in range(11)]
    counts = [0] * 11
    for value in latencies_ms:
        counts[next(i for i, mark in enumerate(marks) if value <= mark + 1e-9)] += 1
    return [
        {"mark": m / 1e3, "count": c, "frequency": c / len(latencies_ms)}
        for m, c in zip(marks, counts, strict=True)
    ]


def _entity(requests: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r["latency_ms"] for r in requests if r["outcome"] == "ok"]
    failed: dict[str, int] = {}
    for r in requests:
        if r["outcome"] != "ok":
            failed[r["outcome"]] = failed.get(r["outcome"], 0) + 1
    latency = {k: round(v, 1) for k, v in _latency_stats(ok).items()}
    return {"count": len(requests), "succeeded": len(ok), "failed": failed, "latency_ms": latency}


def make_run(duration_s: int = 1200, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    requests: list[dict[str, Any]] = []
    latencies: list[float] = []
    for t in range(duration_s):
        row, finished = _one_second(rng, t, requests)
        rows.append(row)
        latencies.extend(finished)
    failures = {
        cause: sum(row["failed"][cause] for row in rows) for cause in ("no-contact", "power")
    }
    sent = sum(row["sent"] for row in rows)
    satellites = {
        name: _entity([r for r in requests if r["satellite"] == name]) for name in SATELLITES
    }
    for index, name in enumerate(SATELLITES):
        satellites[name]["energy_wh"] = 0.004 * (index + 1)
    summary: dict[str, Any] = {
        "date": "2026-11-25T18:00:00Z",
        "endReason": "normal",
        "options": {
            "model": "digits",
            "mode": "open",
            "schedule": "const",
            "rps": 50,
            "concurrency": None,
            "duration_s": 60,
            "warmup_s": 5,
            "stations": ["frankfurt"],
            "policy": "fastest",
            "timeout_s": 30,
        },
        "count": sent,
        "total": 60_000_000_000,
        "average": int(sum(latencies) / len(latencies) * 1e6),
        "fastest": int(min(latencies) * 1e6),
        "slowest": int(max(latencies) * 1e6),
        "rps": 49.8,
        "histogram": _histogram(latencies),
        "latencyDistribution": [
            {"percentage": q, "latency": int(_percentile(latencies, q) * 1e6)}
            for q in (10, 25, 50, 75, 90, 95, 99)
        ],
        "statusCodeDistribution": {
            "OK": len(latencies),
            "Unavailable": failures["no-contact"],
            "ResourceExhausted": failures["power"],
        },
        "errorDistribution": {
            "rpc error: code = Unavailable desc = no-contact: no satellite in view": failures[
                "no-contact"
            ],
            "rpc error: code = ResourceExhausted desc = power: battery low": failures["power"],
        },
        "orbitmesh": {
            "scenario": "demo",
            "speed": 20.0,
            "sim_start": "2026-03-20T12:00:00Z",
            "sim_end": "2026-03-20T12:20:00Z",
            "accounting": {
                "sent": sent,
                "succeeded": len(latencies),
                "failed": dict(failures),
                "cancelled": 0,
                "warmup_excluded": 250,
            },
            "failures_by_cause": dict(failures),
            "stations": {"frankfurt": _entity(requests)},
            "satellites": satellites,
            "handovers": 3,
            "energy_wh_per_inference": 7.6e-06,
            "modelled_latency_ms": {"p50": 37.1, "p99": 110.0},
            "fidelity": {
                "error_ms": {"p50": 1.21, "p99": 7.9, "max": 14.31, "mean": 1.6},
                "count": len(latencies),
                "floor_ms": {"p50": 0.4, "p99": 3.2, "round_trip_p50": 1.45, "probes": 583},
                "late_tick_lookups": 0,
                "bound_ms": {"p50": 1.4, "p99": 8.2},
                "faithful": True,
                "reasons": [],
            },
        },
    }
    events = [
        {"offset_s": 300.0, "station": "frankfurt", "kind": "set", "satellite": "shell1-0-1"},
        {
            "offset_s": 300.0,
            "station": "frankfurt",
            "kind": "handover",
            "satellite": "shell1-0-0",
            "previous": "shell1-0-1",
        },
        {"offset_s": 500.0, "station": "frankfurt", "kind": "set", "satellite": "shell1-0-0"},
        {"offset_s": 560.0, "station": "frankfurt", "kind": "rise", "satellite": "shell1-1-0"},
        {
            "offset_s": 560.0,
            "station": "frankfurt",
            "kind": "handover",
            "satellite": "shell1-1-0",
            "previous": "",
        },
        {
            "offset_s": 900.0,
            "station": "frankfurt",
            "kind": "handover",
            "satellite": "shell1-0-0",
            "previous": "shell1-1-0",
        },
    ]
    return {
        "summary": summary,
        "timeseries": rows,
        "satellites": {
            name: _satellite_samples(i, duration_s) for i, name in enumerate(SATELLITES)
        },
        "stations": copy.deepcopy(STATIONS),
        "events": events,
        "requests": [r for r in requests if rng.random() < 0.3],
    }


@pytest.fixture(scope="module")
def run_doc() -> dict[str, Any]:
    return make_run()


@pytest.fixture(scope="module")
def report_html(run_doc: dict[str, Any]) -> str:
    return render_report(run_doc)


# --- reading the HTML back ---------------------------------------------------------


class _Tables(HTMLParser):
    """Rows of every table with an id: {table id: {row header: [cell texts]}}."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[str]]] = {}
        self.headings: list[str] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._heading: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id")
        elif tag == "tr":
            self._row = []
        elif tag in {"th", "td"} and self._row is not None:
            self._cell = []
        elif tag == "h2":
            self._heading = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"th", "td"} and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row and self._table:
            self.tables.setdefault(self._table, {})[self._row[0]] = self._row[1:]
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag == "h2" and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data: str) -> None:
        for sink in (self._cell, self._heading):
            if sink is not None:
                sink.append(data)


def _parse(html_text: str) -> _Tables:
    parser = _Tables()
    parser.feed(html_text)
    return parser


def _cell(tables: _Tables, table: str, row: str) -> str:
    return tables.tables[table][row][0]


# --- content -----------------------------------------------------------------------


def test_nothing_is_fetched(report_html: str) -> None:
    urls = re.findall(r"[a-z]+://[^\s\"'<>)]*", report_html, flags=re.IGNORECASE)
    assert set(urls) == {SVG_NS}
    assert not re.search(r"\bsrc\s*=", report_html, flags=re.IGNORECASE)
    assert not re.search(r"@import|url\(", report_html, flags=re.IGNORECASE)
    hrefs = re.findall(r"\bhref\s*=\s*[\"']?([^\"'\s>]*)", report_html, flags=re.IGNORECASE)
    assert hrefs, "the table of contents links to the sections"
    assert all(h.startswith("#") for h in hrefs)


def test_every_section_in_order(report_html: str) -> None:
    assert _parse(report_html).headings == list(HEADINGS)


def test_summary_numbers_match_the_input(run_doc: dict[str, Any], report_html: str) -> None:
    summary = run_doc["summary"]
    accounting = summary["orbitmesh"]["accounting"]
    tables = _parse(report_html)
    assert _cell(tables, "t-requests", "Requests") == f"{summary['count']:,}"
    assert _cell(tables, "t-requests", "Throughput") == "49.8 rps"
    assert _cell(tables, "t-requests", "Total time") == "60 s"
    slowest_ms = summary["slowest"] / 1e6
    assert _cell(tables, "t-requests", "Slowest") == f"{slowest_ms:.0f} ms"
    fastest = _cell(tables, "t-requests", "Fastest")
    assert math.isclose(float(fastest.removesuffix(" ms")), summary["fastest"] / 1e6, rel_tol=5e-3)
    for row in summary["latencyDistribution"]:
        text = _cell(tables, "t-percentiles", f"p{row['percentage']}")
        assert math.isclose(float(text.removesuffix(" ms")), row["latency"] / 1e6, rel_tol=5e-3)
    assert _cell(tables, "t-percentiles", "modelled p99") == "110 ms"
    assert _cell(tables, "t-accounting", "Sent") == f"{accounting['sent']:,}"
    assert _cell(tables, "t-accounting", "Succeeded") == f"{accounting['succeeded']:,}"
    assert _cell(tables, "t-accounting", "Failed") == f"{sum(accounting['failed'].values()):,}"
    assert _cell(tables, "t-accounting", "Warm-up excluded") == "250"
    assert _cell(tables, "t-accounting", "Sent = succeeded + failed + cancelled") == "yes"
    no_contact = accounting["failed"]["no-contact"]
    share = f"{100 * no_contact / accounting['sent']:.1f}%"
    assert _cell(tables, "t-failures", "no-contact") == f"{no_contact:,} ({share})"
    assert _cell(tables, "t-constellation", "Handovers") == "3"
    assert _cell(tables, "t-constellation", "Energy per inference") == "7.6 µWh (27.4 mJ)"


def test_per_station_and_satellite_tables(run_doc: dict[str, Any], report_html: str) -> None:
    extra = run_doc["summary"]["orbitmesh"]
    tables = _parse(report_html)
    station = extra["stations"]["frankfurt"]
    cells = tables.tables["t-stations"]["frankfurt"]
    assert cells[0] == f"{station['count']:,}"
    assert cells[2] == f"{100 * station['succeeded'] / station['count']:.1f}%"
    assert set(tables.tables["t-satellites"]) >= set(SATELLITES)
    energy = tables.tables["t-satellites"]["shell1-0-1"][-1]
    assert energy == "8 mWh"


def test_verdict(run_doc: dict[str, Any], report_html: str) -> None:
    accounting = run_doc["summary"]["orbitmesh"]["accounting"]
    succeeded, sent = accounting["succeeded"], accounting["sent"]
    expected = f"{succeeded:,} of {sent:,} succeeded ({100 * succeeded / sent:.1f}%); p50 "
    assert expected in report_html


def test_a_summary_alone_renders(run_doc: dict[str, Any]) -> None:
    html_text = render_report({"summary": run_doc["summary"]})
    assert _parse(html_text).headings == list(HEADINGS)
    assert "Not in this run document: timeseries, satellites, stations, events, requests" in (
        html_text
    )
    assert not NOT_A_NUMBER.search(html_text)


def test_empty_and_degenerate_inputs_do_not_raise(run_doc: dict[str, Any]) -> None:
    docs: list[dict[str, Any]] = [
        {"summary": {}},
        {"summary": {}, "timeseries": [], "satellites": {}, "events": [], "requests": []},
        {"summary": {"count": 0, "histogram": [], "latencyDistribution": None}},
        {"summary": run_doc["summary"], "timeseries": [run_doc["timeseries"][0]]},
        {
            "summary": run_doc["summary"],
            "satellites": {"lonely": [{"offset_s": 3.0, "state_of_charge": float("nan")}]},
            "requests": [{"offset_s": 1.0, "latency_ms": None, "outcome": "ok"}],
            "timeseries": [{"offset_s": 0.0, "latency_ms_p50": None, "failed": {}}],
            "stations": {"nowhere": {"lat_deg": None}, "pole": {"lat_deg": 90, "lon_deg": 0}},
            "events": [{"offset_s": 2.0, "kind": "rise"}],
        },
    ]
    for doc in docs:
        html_text = render_report(doc)
        assert html_text.startswith("<!DOCTYPE html>")
        assert _parse(html_text).headings == list(HEADINGS)
        assert not NOT_A_NUMBER.search(html_text)


def test_text_is_escaped(run_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(run_doc)
    evil = "<script>alert(1)</script>"
    doc["stations"][evil] = {"lat_deg": 1.0, "lon_deg": 2.0, "min_elevation_deg": 10.0}
    doc["summary"]["orbitmesh"]["stations"][evil] = doc["summary"]["orbitmesh"]["stations"][
        "frankfurt"
    ]
    doc["summary"]["options"]["stations"].append(evil)
    doc["summary"]["orbitmesh"]["scenario"] = 'demo" onload="x'
    doc["requests"][0]["station"] = evil
    html_text = render_report(doc)
    assert "<script" not in html_text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert 'demo" onload' not in html_text


def test_empty_charts_say_no_data() -> None:
    for svg in (
        time_chart([Panel("y", [Series("s", [], "#000")])], x_label="t (s)"),
        hbar_chart([], x_label="n"),
        column_chart([], x_label="x", y_label="y"),
    ):
        assert svg.startswith("<svg") and "no data" in svg
    single = time_chart([Panel("y", [Series("s", [(5.0, 2.0)], "#000")])], x_label="t (s)")
    assert "<circle" in single and not NOT_A_NUMBER.search(single)
    gaps = [(0.0, None), (1.0, math.inf), (math.nan, 2.0)]
    gap = time_chart([Panel("y", [Series("s", gaps, "#000")])], x_label="t")
    assert "no data" in gap and not NOT_A_NUMBER.search(gap)
    assert "no positions" in geo_map([], [])


# --- geometry and ticks ------------------------------------------------------------


def test_coverage_angle_by_hand() -> None:
    # The same angle from the triangle earth centre / station / satellite, solved the other
    # way: the nadir angle at the satellite by the law of sines, then the angles' sum.
    radius_km, alt_km, eps_deg = 6371.0088, 550.0, 10.0  # IUGG mean radius
    nadir = math.asin(radius_km * math.cos(math.radians(eps_deg)) / (radius_km + alt_km))
    expected_deg = 90.0 - eps_deg - math.degrees(nadir)
    assert expected_deg == pytest.approx(14.97, abs=0.01)
    assert coverage_angle_deg(alt_km, eps_deg) == pytest.approx(expected_deg, abs=1e-9)
    horizon_deg = math.degrees(math.acos(radius_km / (radius_km + alt_km)))
    assert coverage_angle_deg(alt_km, 0.0) == pytest.approx(horizon_deg, abs=1e-9)
    assert coverage_angle_deg(alt_km, 90.0) == pytest.approx(0.0, abs=1e-9)


def _central_angle_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    cos_angle = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.acos(max(-1.0, min(1.0, cos_angle))))


def test_small_circle_points_lie_on_the_circle() -> None:
    for lat, lon in ((50.1, 8.68), (-18.1, 178.4), (85.0, -120.0)):
        points = small_circle(lat, lon, 14.98, n_points=90)
        assert len(points) == 91 and points[0] == points[-1]
        for point_lon, point_lat in points:
            assert -180 <= point_lon < 180
            assert _central_angle_deg(lat, lon, point_lat, point_lon) == pytest.approx(14.98)


def test_antimeridian_splitting() -> None:
    track = [(170.0, 10.0), (178.0, 12.0), (-176.0, 15.0), (-170.0, 17.0)]
    pieces = split_antimeridian(track)
    assert len(pieces) == 2
    # From 178 to -176 (= 184) is 6 degrees east, 2 of them to 180: a third of the way
    # from latitude 12 to 15, so the track crosses at 13.
    (end_lon, end_lat), (start_lon, start_lat) = pieces[0][-1], pieces[1][0]
    assert (end_lon, start_lon) == (180.0, -180.0)
    assert end_lat == pytest.approx(13.0) and start_lat == pytest.approx(13.0)
    assert pieces[0][:2] == track[:2] and pieces[1][1:] == track[2:]
    westward = split_antimeridian([(-179.0, 0.0), (179.0, 2.0)])
    assert [p[-1][0] for p in westward] == [-180.0, 179.0]
    assert len(split_antimeridian([(0.0, 0.0), (90.0, 0.0), (179.0, 0.0)])) == 1
    circle = small_circle(-18.1, 178.4, 14.98)
    assert len(split_antimeridian(circle)) == 3  # leaves across 180, comes back: 3 pieces


@pytest.mark.parametrize(
    ("lo", "hi"), [(0, 97), (0.3, 0.71), (-42, 17), (1200, 1260), (0, 1), (5, 5), (0, 3599)]
)
def test_ticks_are_1_2_5_and_cover(lo: float, hi: float) -> None:
    ticks = nice_ticks(lo, hi, 6)
    assert ticks[0] <= lo and ticks[-1] >= hi
    assert 2 <= len(ticks) <= 6
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    step = steps.pop()
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in {1.0, 2.0, 5.0}
    assert all(math.isclose(t / step, round(t / step), abs_tol=1e-6) for t in ticks)


def test_counts_get_whole_ticks() -> None:
    assert nice_ticks(0, 2, 6) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert nice_ticks(0, 2, 6, min_step=1.0) == [0.0, 1.0, 2.0]
    assert nice_ticks(0, 97, 6, min_step=1.0) == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]


def test_log_ticks() -> None:
    assert log_ticks(3.0, 700.0) == [2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
    assert log_ticks(0.5, 9e5) == [0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6]


# --- in a real browser -------------------------------------------------------------


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess[bytes]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (.ci/run installs Debian's chromium)")
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
    try:
        return subprocess.run(command, capture_output=True, timeout=60, check=True)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def report_file(run_doc: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(run_doc, tmp_path_factory.mktemp("report") / "report.html")


def test_chromium_renders_the_charts(report_file: Path, report_html: str, tmp_path: Path) -> None:
    dom = _chromium("--dump-dom", report_file.as_uri(), tmp=tmp_path).stdout.decode()
    svg_count = report_html.count("<svg")
    assert svg_count >= 7
    assert dom.count("<svg") == svg_count
    for heading in HEADINGS:
        assert heading in dom
    assert dom.count("<circle") > 100  # the sampled requests


def _png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position = 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        yield kind, data[position + 8 : position + 8 + length]
        position += 12 + length


def _paeth_row(line: np.ndarray, previous: np.ndarray, bpp: int) -> np.ndarray:
    out: list[int] = line.tolist()
    up: list[int] = previous.tolist()
    for x in range(len(out)):
        a = out[x - bpp] if x >= bpp else 0
        b = up[x]
        c = up[x - bpp] if x >= bpp else 0
        pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
        predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
        out[x] = (out[x] + predictor) & 0xFF
    return np.array(out, dtype=np.uint8)


def _average_row(line: np.ndarray, previous: np.ndarray, bpp: int) -> np.ndarray:
    out: list[int] = line.tolist()
    up: list[int] = previous.tolist()
    for x in range(len(out)):
        left = out[x - bpp] if x >= bpp else 0
        out[x] = (out[x] + (left + up[x]) // 2) & 0xFF
    return np.array(out, dtype=np.uint8)


def _unfilter(kind: int, line: np.ndarray, previous: np.ndarray, bpp: int) -> np.ndarray:
    if kind == 0:
        return line
    if kind == 1:  # sub: a running sum along the row, per channel
        pixels = line.reshape(-1, bpp).astype(np.uint64)
        summed: np.ndarray = np.cumsum(pixels, axis=0) & 0xFF
        return summed.astype(np.uint8).reshape(-1)
    if kind == 2:  # up
        added: np.ndarray = (line.astype(np.uint16) + previous) & 0xFF
        return added.astype(np.uint8)
    return _average_row(line, previous, bpp) if kind == 3 else _paeth_row(line, previous, bpp)


def decode_png(data: bytes) -> np.ndarray:
    """A minimal decoder for 8-bit RGB(A), non-interlaced PNGs: (height, width, channels)."""
    chunks = list(_png_chunks(data))
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, interlace) == (8, 0) and color in {2, 6}
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = width * bpp + 1
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride)
    image = np.zeros((height, width * bpp), dtype=np.uint8)
    previous = np.zeros(width * bpp, dtype=np.uint8)
    for y in range(height):
        previous = image[y] = _unfilter(int(rows[y, 0]), rows[y, 1:], previous, bpp)
    return image.reshape(height, width, bpp)


def test_chromium_screenshot_is_not_blank(report_file: Path, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    _chromium(f"--screenshot={png}", "--window-size=1280,4000", report_file.as_uri(), tmp=tmp_path)
    image = decode_png(png.read_bytes())
    assert image.shape[:2] == (4000, 1280)
    rgb = image[:, :, :3].reshape(-1, 3)
    colours = np.unique(rgb[::7], axis=0)
    assert len(colours) > 50
    background = np.all(rgb >= 240, axis=1).mean()
    assert background < 0.97, "almost every pixel is (near) white"
    for hex_colour in ("#009E73", "#D55E00"):  # succeeded and failed bars are drawn solid
        wanted = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.uint8)
        assert np.all(rgb == wanted, axis=1).sum() > 200, hex_colour


# --- fidelity ------------------------------------------------------------------------


def _with_fidelity(run_doc: dict[str, Any], **changes: Any) -> str:
    doc = copy.deepcopy(run_doc)
    doc["summary"]["orbitmesh"]["fidelity"] |= changes
    return render_report(doc)


def _header_of(html_text: str) -> str:
    return html_text[html_text.index("<header>") : html_text.index("</header>")]


def test_a_faithful_run_says_so_with_its_figures(report_html: str) -> None:
    header = _header_of(report_html)
    assert '<p class="fidelity good" id="fidelity-verdict">Faithful: ' in header
    assert "emulation error p50 1.21 ms, p99 7.9 ms; bounds p50 1.4 ms, p99 8.2 ms." in header
    tables = _parse(report_html)
    assert _cell(tables, "t-fidelity", "Verdict") == "faithful"
    assert _cell(tables, "t-fidelity", "Error p50") == "1.21 ms"
    assert _cell(tables, "t-fidelity", "Error p99") == "7.9 ms"
    assert _cell(tables, "t-fidelity", "Error max") == "14.3 ms"  # three significant digits
    assert _cell(tables, "t-fidelity", "Floor p99") == "3.2 ms"
    assert _cell(tables, "t-fidelity", "Bound p99") == "8.2 ms (+5 ms)"  # 8.2 - 3.2
    assert _cell(tables, "t-fidelity", "Bound p50") == "1.4 ms (+1 ms)"  # 1.4 - 0.4
    assert _cell(tables, "t-fidelity", "Floor probes") == "583"
    assert _cell(tables, "t-fidelity", "Late tick lookups") == "0"
    section = report_html[report_html.index('<section id="fidelity">') :]
    section = section[: section.index("</section>")]
    assert "<svg" in section and "error p99 per second" in section and "bound p99" in section


def test_an_unfaithful_run_is_flagged_at_the_top(run_doc: dict[str, Any]) -> None:
    reasons = [
        "error p99 23.4 ms is above the bound of 18.2 ms (floor p99 13.2 + 5)",
        "412 late tick lookups: the orchestrator fell behind the clock",
    ]
    html_text = _with_fidelity(
        run_doc,
        faithful=False,
        reasons=reasons,
        late_tick_lookups=412,
        error_ms={"p50": 1.21, "p99": 23.4, "max": 40.0, "mean": 2.0},
    )
    header = _header_of(html_text)
    assert '<div class="fidelity bad" id="fidelity-verdict" role="alert">NOT FAITHFUL' in header
    for reason in reasons:
        assert f"<li>{reason}</li>" in header
    # Above the figures: the banner comes before the key figures and every section.
    assert html_text.index("NOT FAITHFUL") < html_text.index('<div class="kpis">')
    tables = _parse(html_text)
    assert _cell(tables, "t-fidelity", "Verdict") == "NOT FAITHFUL"
    assert _cell(tables, "t-fidelity", "Late tick lookups") == "412"


def test_an_open_verdict_says_what_is_missing(run_doc: dict[str, Any]) -> None:
    reason = "the machine's floor was not measured (no probe came back): no bound"
    html_text = _with_fidelity(
        run_doc,
        faithful=None,
        reasons=[reason],
        floor_ms={"p50": None, "p99": None, "round_trip_p50": None, "probes": 0},
        bound_ms={"p50": None, "p99": None},
    )
    header = _header_of(html_text)
    assert "Fidelity unknown." in header and "NOT FAITHFUL" not in header
    assert f"<li>{reason.replace(chr(39), '&#x27;')}</li>" in header
    tables = _parse(html_text)
    assert _cell(tables, "t-fidelity", "Bound p50") == "–"


def test_a_summary_without_fidelity_has_no_verdict_on_it(run_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(run_doc)
    del doc["summary"]["orbitmesh"]["fidelity"]
    for row in doc["timeseries"]:
        del row["error_ms_p50"], row["error_ms_p99"]
    html_text = render_report(doc)
    assert "fidelity-verdict" not in html_text and "t-fidelity" not in html_text
    assert "No emulation error in the timeseries" in html_text


# --- failures the run could not attribute, thresholds, an emulation that died -------


def test_the_per_satellite_table_sums_to_the_totals(run_doc: dict[str, Any]) -> None:
    """No-contact failures named no satellite: they get a row of their own."""
    doc = copy.deepcopy(run_doc)
    om = doc["summary"]["orbitmesh"]
    requests = _all_requests()
    named = [r for r in requests if r["outcome"] != "no-contact"]
    om["satellites"] = {
        name: _entity([r for r in named if r["satellite"] == name]) for name in SATELLITES
    }
    no_contact = sum(r["outcome"] == "no-contact" for r in requests)
    om["satellites_unattributed"] = {
        "count": no_contact,
        "succeeded": 0,
        "failed": {"no-contact": no_contact},
        "latency_ms": {"mean": None, "p50": None, "p90": None, "p99": None},
        "energy_wh": 0.0,
    }
    table = _parse(render_report(doc)).tables["t-satellites"]
    del table["satellite"]  # the header row
    assert set(table) == {*SATELLITES, "(unattributed)"}
    unattributed = table["(unattributed)"]
    assert no_contact == om["accounting"]["failed"]["no-contact"]
    assert unattributed[0] == f"{no_contact:,}" and unattributed[1] == "0"
    assert unattributed[3] == f"no-contact {no_contact:,}"
    assert sum(int(cells[0].replace(",", "")) for cells in table.values()) == len(requests)
    # Nothing unattributed: no such row.
    assert "(unattributed)" not in _parse(render_report(run_doc)).tables["t-satellites"]


def _all_requests() -> list[dict[str, Any]]:
    """Every request of make_run's run (its document keeps a sample of them)."""
    rng = random.Random(7)
    requests: list[dict[str, Any]] = []
    for t in range(1200):
        _one_second(rng, t, requests)
    return requests


def test_failed_thresholds_are_flagged_at_the_top(run_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(run_doc)
    reason = "p99 latency of successes 110 ms is above --max-p99-ms 100"
    doc["summary"]["orbitmesh"]["error_rate"] = 0.0123
    doc["summary"]["orbitmesh"]["thresholds"] = {
        "max_error_rate": 0.05,
        "max_p99_ms": 100.0,
        "error_rate": 0.0123,
        "p99_ms": 110.0,
        "passed": False,
        "failed": [
            {"threshold": "max_p99_ms", "limit": 100.0, "measured": 110.0, "reason": reason}
        ],
    }
    html_text = render_report(doc)
    header = _header_of(html_text)
    assert '<div class="fidelity bad" id="thresholds-failed" role="alert">' in header
    assert f"<li>{reason}</li>" in header
    tables = _parse(html_text)
    assert _cell(tables, "t-thresholds", "Max error rate") == "0.05: met, measured 0.0123"
    assert _cell(tables, "t-thresholds", "Max p99") == "100 ms: FAILED, measured 110 ms"
    assert _cell(tables, "t-accounting", "Error rate (failed / finished)") == "0.0123"
    # Passed: no banner, the table says so.
    doc["summary"]["orbitmesh"]["thresholds"] |= {"passed": True, "failed": []}
    html_text = render_report(doc)
    assert "thresholds-failed" not in html_text
    assert _cell(_parse(html_text), "t-thresholds", "Max p99") == "100 ms: met, measured 110 ms"
    # None given: no table.
    assert "t-thresholds" not in render_report(run_doc)


def test_an_emulation_that_died_is_said_first(run_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(run_doc)
    doc["summary"]["endReason"] = "emulation-died"
    doc["summary"]["orbitmesh"]["emulation_died"] = {
        "reason": "all 2 stations under load refused calls",
        "last_seen_s": 12.25,
        "detected_s": 17.5,
        "detected_at": "2026-11-25T18:00:17.5Z",
    }
    html_text = render_report(doc)
    header = _header_of(html_text)
    assert (
        '<div class="fidelity bad" id="emulation-died" role="alert">THE EMULATION DIED: all 2 '
        "stations under load refused calls; last seen 12.2 s into the run, the run stopped at "
        "17.5 s, 2026-11-25T18:00:17.5Z. The run was stopped early.</div>"
    ) in header
    assert header.index("THE EMULATION DIED") < header.index("Faithful")
    assert "ended: emulation-died" in header
    assert "emulation-died" not in _header_of(render_report(run_doc))


def test_cut_short_requests_are_not_counted_as_failed(run_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(run_doc)
    accounting = doc["summary"]["orbitmesh"]["accounting"]
    accounting["cancelled"] = 5
    accounting["sent"] += 5
    kpis = _header_of(render_report(doc))
    failed = sum(accounting["failed"].values())
    assert f"<b>{failed:,}</b><span>failed</span>" in kpis
