"""The HTML report of an ``orbitmesh load`` run (pure: stdlib only).

:func:`render_report` turns a run document (``summary``, ``timeseries``, ``satellites``,
``stations``, ``events``, ``requests``; see ``docs``) into one self-contained HTML page:
inline CSS and inline SVG charts from :mod:`orbitmesh.ground.load.svgplot`, no scripts and nothing
fetched, so the file can be mailed, archived or opened offline. Every key but
``summary`` may be missing or empty (polling can fail against an endpoints file); the
page then says what is missing instead of failing.

Time on every x axis is simulated seconds since the start of the run (``offset_s``), and
all time charts share one x range so that they line up when read top to bottom.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orbitmesh.ground.load.svgplot import (
    CYCLE,
    OKABE_ITO,
    Band,
    Bar,
    Layer,
    Marker,
    Panel,
    Series,
    Site,
    Stack,
    Track,
    column_chart,
    coverage_angle_deg,
    esc,
    geo_map,
    hbar_chart,
    nice_step,
    readable_number,
    small_circle,
    time_chart,
)

__all__ = ["SECTIONS", "render_report", "write_report"]

#: Section anchors and headings, in page order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("latency", "Latency over time"),
    ("fidelity", "Emulation error over time"),
    ("throughput", "Throughput over time"),
    ("failures", "Failures by cause"),
    ("satellites", "Satellites: battery, temperature and sunlight"),
    ("map", "Ground tracks and coverage"),
    ("histogram", "Latency histogram"),
)
_OPTIONAL_KEYS = ("timeseries", "satellites", "stations", "events", "requests")

_OK_COLOR = OKABE_ITO["green"]
_FAILED_COLOR = OKABE_ITO["vermillion"]
_CAUSE_PALETTE = (
    OKABE_ITO["vermillion"],
    OKABE_ITO["orange"],
    OKABE_ITO["purple"],
    OKABE_ITO["sky"],
    "#777777",
    OKABE_ITO["yellow"],
    "#333333",
)
#: Satellite lines: the palette without yellow (faint on white), then dashed variants.
_SAT_COLORS = tuple(c for c in CYCLE if c != OKABE_ITO["yellow"])
_SAT_DASHES = ("", "6 3", "2 2")
_MAX_BINS = 150
#: The per-satellite row of requests no satellite can be named for (in parentheses: no
#: satellite id has them).
_UNATTRIBUTED_ROW = "(unattributed)"
#: Beyond this many seconds the per-second latency lines are drawn as bin medians.
_MAX_PER_SECOND_POINTS = 300


# --- reading the document defensively ----------------------------------------------


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: object) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _cause_counts(value: object) -> dict[str, float]:
    """A ``{cause: count}`` mapping with numeric counts only."""
    return {str(k): n for k, v in _map(value).items() if (n := _num(v)) is not None}


def _failed_total(value: object) -> float:
    number = _num(value)
    return number if number is not None else sum(_cause_counts(value).values())


# --- formatting --------------------------------------------------------------------


def _count(value: float | None) -> str:
    return "–" if value is None else f"{round(value):,}"


def _ms(value_ms: float | None) -> str:
    return "–" if value_ms is None else f"{readable_number(value_ms)} ms"


def _ns_ms(value_ns: object) -> str:
    number = _num(value_ns)
    return _ms(None if number is None else number / 1e6)


def _pct(part: float | None, whole: float | None) -> str:
    if part is None or not whole:
        return "–"
    return f"{100 * part / whole:.1f}%"


def _energy(value_wh: float | None) -> str:
    if value_wh is None:
        return "–"
    for factor, unit in ((1.0, "Wh"), (1e-3, "mWh"), (1e-6, "µWh"), (1e-9, "nWh")):
        if abs(value_wh) >= factor or unit == "nWh":
            return f"{readable_number(value_wh / factor)} {unit}"
    return f"{value_wh:g} Wh"  # pragma: no cover (the loop always returns)


def _energy_with_joules(value_wh: float | None) -> str:
    if value_wh is None:
        return "–"
    joules = value_wh * 3600
    in_j = (
        f"{readable_number(joules * 1e3)} mJ" if abs(joules) < 1 else f"{readable_number(joules)} J"
    )
    return f"{_energy(value_wh)} ({in_j})"


# --- the run, read once ------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    summary: Mapping[str, Any]
    extra: Mapping[str, Any]  # summary["orbitmesh"]
    options: Mapping[str, Any]
    rows: list[Mapping[str, Any]]
    satellites: dict[str, list[Mapping[str, Any]]]
    stations: Mapping[str, Any]
    events: list[Mapping[str, Any]]
    requests: list[Mapping[str, Any]]
    missing: list[str]
    cause_colors: dict[str, str]
    sat_styles: dict[str, tuple[str, str]]
    x_range: tuple[float, float] | None
    #: "measured" (wall time the client waited) or "modelled" (the link model's, simulated).
    latency_basis: str = "measured"


def _by_offset(items: object) -> list[Mapping[str, Any]]:
    rows = [row for row in _seq(items) if _num(_map(row).get("offset_s")) is not None]
    return sorted(rows, key=lambda row: float(row["offset_s"]))


def _read(run: Mapping[str, Any]) -> _Run:
    summary = _map(run.get("summary"))
    extra = _map(summary.get("orbitmesh"))
    rows = _by_offset(run.get("timeseries"))
    satellites = {str(k): _by_offset(v) for k, v in _map(run.get("satellites")).items()}
    satellites = {k: v for k, v in satellites.items() if v}
    requests = _by_offset(run.get("requests"))
    events = _by_offset(run.get("events"))
    missing = [key for key in _OPTIONAL_KEYS if not run.get(key)]
    return _Run(
        summary=summary,
        extra=extra,
        options=_map(summary.get("options")),
        rows=rows,
        satellites=satellites,
        stations=_map(run.get("stations")),
        events=events,
        requests=requests,
        missing=missing,
        cause_colors=_cause_colors(extra, rows, requests, summary),
        sat_styles=_sat_styles([*satellites, *_map(extra.get("satellites"))]),
        x_range=_x_range(rows, satellites, requests, events),
        latency_basis=str(run.get("latency_basis") or "measured"),
    )


def _cause_colors(
    extra: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    requests: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any],
) -> dict[str, str]:
    """One colour per failure cause, the most frequent first, the same in every chart.

    gRPC status codes stand in for causes only in a run that recorded no causes.
    """
    sources: list[Mapping[str, float]] = [
        _cause_counts(extra.get("failures_by_cause")),
        _cause_counts(_map(extra.get("accounting")).get("failed")),
    ]
    sources.extend(_cause_counts(row.get("failed")) for row in rows)
    sources.extend({str(r.get("outcome")): 1.0} for r in requests if r.get("outcome") != "ok")
    if not any(sources):
        sources.append(_cause_counts(summary.get("statusCodeDistribution")))
    totals: dict[str, float] = {}
    for source in sources:
        for cause, count in source.items():
            if cause not in {"OK", "ok"}:
                totals[cause] = totals.get(cause, 0.0) + count
    ordered = sorted(totals, key=lambda cause: (-totals[cause], cause))
    return {cause: _CAUSE_PALETTE[i % len(_CAUSE_PALETTE)] for i, cause in enumerate(ordered)}


def _sat_styles(names: Sequence[str]) -> dict[str, tuple[str, str]]:
    ordered = sorted(set(names))
    count = len(_SAT_COLORS)
    return {
        name: (_SAT_COLORS[i % count], _SAT_DASHES[(i // count) % len(_SAT_DASHES)])
        for i, name in enumerate(ordered)
    }


def _x_range(
    rows: Sequence[Mapping[str, Any]],
    satellites: Mapping[str, Sequence[Mapping[str, Any]]],
    requests: Sequence[Mapping[str, Any]],
    events: Sequence[Mapping[str, Any]],
) -> tuple[float, float] | None:
    offsets = [float(r["offset_s"]) for r in (*rows, *requests, *events)]
    offsets.extend(float(s["offset_s"]) for samples in satellites.values() for s in samples)
    if rows:
        offsets.append(float(rows[-1]["offset_s"]) + _row_dt(rows))  # the last row's second
    return (min(offsets), max(offsets)) if offsets else None


def _row_dt(rows: Sequence[Mapping[str, Any]]) -> float:
    gaps = sorted(
        float(b["offset_s"]) - float(a["offset_s"])
        for a, b in itertools.pairwise(rows)
        if float(b["offset_s"]) > float(a["offset_s"])
    )
    return gaps[len(gaps) // 2] if gaps else 1.0


def _cause_color(run: _Run, cause: str) -> str:
    return run.cause_colors.get(cause, "#777777")


# --- page --------------------------------------------------------------------------

_CSS = """
:root { --ink: #222; --muted: #666; --line: #e3e5e8; --accent: #0072B2; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f5f7; color: var(--ink);
  font: 15px/1.45 system-ui, 'DejaVu Sans', sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 20px 20px 48px; }
h1 { font-size: 26px; margin: 0 0 6px; }
h2 { font-size: 19px; margin: 0 0 10px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
.meta { color: var(--muted); margin: 0 0 12px; display: flex; flex-wrap: wrap; gap: 2px 18px; }
.meta span { white-space: nowrap; }
.meta b { color: var(--ink); font-weight: 600; }
.verdict { font-size: 18px; font-weight: 600; margin: 8px 0; padding: 10px 14px;
  background: #fff; border: 1px solid var(--line); border-left: 6px solid #999; }
.verdict.good { border-left-color: #009E73; }
.verdict.warn { border-left-color: #E69F00; }
.verdict.bad { border-left-color: #D55E00; }
.fidelity { margin: 8px 0; padding: 8px 14px; background: #fff;
  border: 1px solid var(--line); border-left: 6px solid #999; }
.fidelity.good { border-left-color: #009E73; }
.fidelity.unknown { border-left-color: #E69F00; }
.fidelity.bad { font-size: 18px; font-weight: 600; color: #7a2600; background: #fde9df;
  border: 2px solid #D55E00; border-left-width: 10px; }
.fidelity ul { margin: 4px 0 0; padding-left: 22px; font-weight: 400; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr));
  gap: 10px; margin: 12px 0; }
.kpi { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
.kpi b { display: block; font-size: 22px; font-variant-numeric: tabular-nums; }
.kpi span { color: var(--muted); font-size: 13px; }
nav { margin: 8px 0; font-size: 14px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 16px 20px; margin: 16px 0; }
.tables { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr));
  gap: 4px 28px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { padding: 3px 8px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
thead th { color: var(--muted); font-weight: 600; border-bottom: 2px solid var(--line); }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { overflow-x: auto; }
td.msg { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; font-size: 12px;
  word-break: break-word; }
.ok { color: #00704f; } .bad-text { color: #b04600; }
figure { margin: 8px 0 18px; }
figcaption { color: var(--muted); font-size: 13px; margin-top: 2px; }
svg { display: block; height: auto; }
.missing { color: #7a5000; background: #fff7e0; border: 1px solid #f0dca0;
  padding: 6px 10px; border-radius: 4px; }
footer { color: var(--muted); font-size: 12px; }
"""


def render_report(run: Mapping[str, Any]) -> str:
    """The whole report as one self-contained HTML document."""
    data = _read(run)
    builders: dict[str, Callable[[_Run], str]] = {
        "summary": _summary_body,
        "latency": _latency_body,
        "fidelity": _fidelity_body,
        "throughput": _throughput_body,
        "failures": _failures_body,
        "satellites": _satellites_body,
        "map": _map_body,
        "histogram": _histogram_body,
    }
    sections = [
        f'<section id="{anchor}"><h2>{esc(title)}</h2>{builders[anchor](data)}</section>'
        for anchor, title in SECTIONS
    ]
    nav = " ".join(f'<a href="#{anchor}">{esc(title)}</a>' for anchor, title in SECTIONS)
    scenario = str(data.extra.get("scenario") or "run")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>orbitmesh load report: {esc(scenario)}</title><style>{_CSS}</style></head>"
        f"<body><main>{_header(data)}<nav>{nav}</nav>{''.join(sections)}"
        "<footer>Written by orbitmesh load. Times are simulated seconds since the start of "
        "the run.</footer></main></body></html>\n"
    )


def write_report(run: Mapping[str, Any], path: Path) -> Path:
    """Render the report and write it to ``path`` (UTF-8); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(run), encoding="utf-8")
    return path


def _missing(text: str) -> str:
    return f'<p class="missing">{esc(text)}</p>'


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


# --- header ------------------------------------------------------------------------


def _outcome(data: _Run) -> tuple[float | None, float | None]:
    """(succeeded, sent), from the accounting if there is one, else from ghz's counts."""
    accounting = _map(data.extra.get("accounting"))
    sent = _num(accounting.get("sent"))
    succeeded = _num(accounting.get("succeeded"))
    if sent is None:
        sent = _num(data.summary.get("count"))
    if succeeded is None:
        succeeded = _num(_map(data.summary.get("statusCodeDistribution")).get("OK"))
    return succeeded, sent


def _percentile_ms(data: _Run, percentage: float) -> float | None:
    for item in _seq(data.summary.get("latencyDistribution")):
        row = _map(item)
        latency = _num(row.get("latency"))
        if _num(row.get("percentage")) == percentage and latency is not None:
            return latency / 1e6
    return None


def _verdict(data: _Run) -> tuple[str, str]:
    succeeded, sent = _outcome(data)
    parts: list[str] = []
    grade = "unknown"
    if succeeded is not None and sent:
        parts.append(f"{_count(succeeded)} of {_count(sent)} succeeded ({_pct(succeeded, sent)})")
        share = succeeded / sent
        grade = "good" if share >= 0.99 else "warn" if share >= 0.9 else "bad"
    elif sent is not None:
        parts.append(f"{_count(sent)} requests")
    latencies = [
        f"{name} {_ms(value)}"
        for name, value in (("p50", _percentile_ms(data, 50)), ("p99", _percentile_ms(data, 99)))
        if value is not None
    ]
    if latencies:
        parts.append(", ".join(latencies))
    reason = data.summary.get("endReason")
    if reason and reason != "normal":
        parts.append(f"ended: {reason}")
    return ("; ".join(parts) or "no results in this run document"), grade


def _header(data: _Run) -> str:
    options, extra = data.options, data.extra
    verdict, grade = _verdict(data)
    meta = [
        ("date", data.summary.get("date")),
        ("model", options.get("model")),
        ("load", _load_text(options)),
        ("duration", _duration_text(options)),
        ("speed", f"{readable_number(speed)}×" if (speed := _num(extra.get("speed"))) else None),
        ("stations", ", ".join(str(s) for s in _seq(options.get("stations"))) or None),
        ("policy", options.get("policy")),
        ("simulated", _sim_window(extra)),
    ]
    meta_html = "".join(
        f"<span>{esc(name)} <b>{esc(value)}</b></span>" for name, value in meta if value
    )
    missing = ""
    if data.missing:
        missing = _missing("Not in this run document: " + ", ".join(data.missing) + ".")
    title = f"Load test: {extra.get('scenario') or 'unknown scenario'}"
    return (
        f"<header><h1>{esc(title)}</h1><p class=meta>{meta_html}</p>"
        f'<p class="verdict {grade}">{esc(verdict)}</p>{_death_banner(data)}'
        f"{_thresholds_banner(data)}{_fidelity_banner(data)}{_kpis(data)}{missing}</header>"
    )


def _death_banner(data: _Run) -> str:
    """A run whose emulation died says so before anything else: its figures end there."""
    died = _map(data.extra.get("emulation_died"))
    if not died:
        return ""
    last_seen, detected = _num(died.get("last_seen_s")), _num(died.get("detected_s"))
    when = []
    if last_seen is not None:
        when.append(f"last seen {readable_number(last_seen)} s into the run")
    if detected is not None:
        when.append(f"the run stopped at {readable_number(detected)} s")
    if died.get("detected_at"):
        when.append(str(died["detected_at"]))
    return (
        '<div class="fidelity bad" id="emulation-died" role="alert">THE EMULATION DIED: '
        f"{esc(died.get('reason') or 'no reason recorded')}"
        f"{esc('; ' + ', '.join(when)) if when else ''}. The run was stopped early.</div>"
    )


def _thresholds_banner(data: _Run) -> str:
    """Thresholds the run failed, each with what was measured; nothing when it passed
    (the summary table says so) or had none."""
    failed = [str(_map(item).get("reason")) for item in _seq(_thresholds(data).get("failed"))]
    if not failed:
        return ""
    items = "".join(f"<li>{esc(reason)}</li>" for reason in failed)
    return (
        '<div class="fidelity bad" id="thresholds-failed" role="alert">THRESHOLDS FAILED'
        f"<ul>{items}</ul></div>"
    )


def _thresholds(data: _Run) -> Mapping[str, Any]:
    return _map(data.extra.get("thresholds"))


def _threshold_rows(data: _Run) -> list[tuple[str, str]]:
    thresholds = _thresholds(data)
    rate, p99 = _num(thresholds.get("error_rate")), _num(thresholds.get("p99_ms"))
    rows: list[tuple[str, str]] = []
    for key, name, measured in (
        ("max_error_rate", "Max error rate", "–" if rate is None else f"{rate:.4g}"),
        ("max_p99_ms", "Max p99", _ms(p99)),
    ):
        limit = _num(thresholds.get(key))
        if limit is None:
            continue
        shown = readable_number(limit) + (" ms" if key == "max_p99_ms" else "")
        failed = any(_map(f).get("threshold") == key for f in _seq(thresholds.get("failed")))
        rows.append((name, f"{shown}: {'FAILED' if failed else 'met'}, measured {measured}"))
    return rows


def _load_text(options: Mapping[str, Any]) -> str | None:
    mode, schedule = options.get("mode"), options.get("schedule")
    text = " / ".join(str(v) for v in (mode, schedule) if v)
    if (rps := _num(options.get("rps"))) is not None:
        text += f", {readable_number(rps)} rps"
    if (concurrency := _num(options.get("concurrency"))) is not None:
        text += f", concurrency {round(concurrency)}"
    return text.strip(", ") or None


def _duration_text(options: Mapping[str, Any]) -> str | None:
    duration_s = _num(options.get("duration_s"))
    if duration_s is None:
        return None
    warmup_s = _num(options.get("warmup_s"))
    warmup = f" (+{readable_number(warmup_s)} s warm-up)" if warmup_s else ""
    return f"{readable_number(duration_s)} s{warmup}"


def _sim_window(extra: Mapping[str, Any]) -> str | None:
    start, end = extra.get("sim_start"), extra.get("sim_end")
    return f"{start} → {end}" if start and end else None


def _kpis(data: _Run) -> str:
    succeeded, sent = _outcome(data)
    accounting = _map(data.extra.get("accounting"))
    if "failed" in accounting:  # requests cut short by the run's end did not fail
        failed: float | None = _failed_total(accounting.get("failed"))
    else:
        failed = None if succeeded is None or sent is None else sent - succeeded
    tiles = [
        ("success", _pct(succeeded, sent)),
        (
            "throughput",
            f"{readable_number(rps)} rps" if (rps := _num(data.summary.get("rps"))) else "–",
        ),
        ("p50 latency", _ms(_percentile_ms(data, 50))),
        ("p99 latency", _ms(_percentile_ms(data, 99))),
        ("failed", _count(failed)),
        ("handovers", _count(_num(data.extra.get("handovers")))),
    ]
    return (
        '<div class="kpis">'
        + "".join(f'<div class="kpi"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for k, v in tiles)
        + "</div>"
    )


# --- summary tables ----------------------------------------------------------------


def _kv_table(name: str, rows: Sequence[tuple[str, str]], css_id: str = "") -> str:
    if not rows:
        return ""
    id_attr = f' id="{esc(css_id)}"' if css_id else ""
    body = "".join(
        f'<tr><th scope="row">{esc(k)}</th><td class="num">{esc(v)}</td></tr>' for k, v in rows
    )
    return f"<div><h3>{esc(name)}</h3><table{id_attr}>{body}</table></div>"


def _summary_body(data: _Run) -> str:
    tables = [
        _kv_table("Requests", _request_rows(data), "t-requests"),
        _kv_table("Latency percentiles", _percentile_rows(data), "t-percentiles"),
        _kv_table("Status codes", _share_rows(data, data.summary.get("statusCodeDistribution"))),
        _kv_table("Failures by cause", _share_rows(data, _failures(data)[0]), "t-failures"),
        _kv_table("Accounting", _accounting_rows(data), "t-accounting"),
        _kv_table("Thresholds", _threshold_rows(data), "t-thresholds"),
        _kv_table("Emulation fidelity", _fidelity_rows(data), "t-fidelity"),
        _kv_table("Constellation", _constellation_rows(data), "t-constellation"),
    ]
    parts = ['<div class="tables">', *tables, "</div>"]
    parts.append(_errors_table(data))
    parts.append(_entity_table(data, "stations", "Per station", with_energy=False))
    parts.append(_entity_table(data, "satellites", "Per satellite", with_energy=True))
    return "".join(parts)


def _request_rows(data: _Run) -> list[tuple[str, str]]:
    summary = data.summary
    total_ns = _num(summary.get("total"))
    rows = [
        ("Requests", _count(_num(summary.get("count")))),
        ("Throughput", f"{readable_number(rps)} rps" if (rps := _num(summary.get("rps"))) else "–"),
        ("Total time", "–" if total_ns is None else f"{readable_number(total_ns / 1e9)} s"),
        ("Fastest", _ns_ms(summary.get("fastest"))),
        ("Average", _ns_ms(summary.get("average"))),
        ("Slowest", _ns_ms(summary.get("slowest"))),
    ]
    return rows


def _percentile_rows(data: _Run) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for item in _seq(data.summary.get("latencyDistribution")):
        row = _map(item)
        percentage = _num(row.get("percentage"))
        if percentage is not None:
            rows.append((f"p{readable_number(percentage)}", _ns_ms(row.get("latency"))))
    for name, value in _map(data.extra.get("modelled_latency_ms")).items():
        rows.append((f"modelled {name}", _ms(_num(value))))
    return rows


def _share_rows(data: _Run, counts: object) -> list[tuple[str, str]]:
    _, sent = _outcome(data)
    return [
        (name, f"{_count(n)} ({_pct(n, sent)})")
        for name, n in sorted(_cause_counts(counts).items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _failures(data: _Run) -> tuple[dict[str, float], str]:
    """Failure totals by cause and where they came from."""
    by_cause = _cause_counts(data.extra.get("failures_by_cause"))
    if by_cause:
        return by_cause, "orbitmesh failures by cause"
    by_cause = _cause_counts(_map(data.extra.get("accounting")).get("failed"))
    if by_cause:
        return by_cause, "the accounting"
    codes = _cause_counts(data.summary.get("statusCodeDistribution"))
    return {k: v for k, v in codes.items() if k != "OK"}, "gRPC status codes"


def _accounting_rows(data: _Run) -> list[tuple[str, str]]:
    accounting = _map(data.extra.get("accounting"))
    if not accounting:
        return []
    sent = _num(accounting.get("sent"))
    succeeded = _num(accounting.get("succeeded"))
    failed = _failed_total(accounting.get("failed"))
    cancelled = _num(accounting.get("cancelled")) or 0.0
    rows = [
        ("Sent", _count(sent)),
        ("Succeeded", _count(succeeded)),
        ("Failed", _count(failed)),
        ("Cancelled", _count(cancelled)),
        ("Warm-up excluded", _count(_num(accounting.get("warmup_excluded")))),
    ]
    if (rate := _num(data.extra.get("error_rate"))) is not None:
        rows.append(("Error rate (failed / finished)", f"{rate:.4g}"))
    if sent is not None and succeeded is not None:
        balanced = math.isclose(sent, succeeded + failed + cancelled)
        rows.append(("Sent = succeeded + failed + cancelled", "yes" if balanced else "NO"))
    return rows


def _constellation_rows(data: _Run) -> list[tuple[str, str]]:
    extra = data.extra
    rows = [
        ("Handovers", _count(_num(extra.get("handovers")))),
        ("Replies rerouted in flight", _count(_num(extra.get("rerouted_replies")))),
        ("Energy per inference", _energy_with_joules(_num(extra.get("energy_wh_per_inference")))),
    ]
    if (stations := _map(extra.get("stations"))) or data.stations:
        rows.append(("Stations used", _count(len(stations or data.stations))))
    if (satellites := _map(extra.get("satellites"))) or data.satellites:
        rows.append(("Satellites used", _count(len(satellites or data.satellites))))
    return rows


def _errors_table(data: _Run) -> str:
    errors = _cause_counts(data.summary.get("errorDistribution"))
    if not errors:
        return ""
    rows = "".join(
        f'<tr><td class="msg">{esc(message)}</td><td class="num">{_count(count)}</td></tr>'
        for message, count in sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    return (
        "<h3>Error messages</h3><div class=scroll><table><thead><tr><th>message</th>"
        f'<th class="num">count</th></tr></thead>{rows}</table></div>'
    )


def _entity_table(data: _Run, key: str, title: str, *, with_energy: bool) -> str:
    entities = _map(data.extra.get(key))
    # Requests no reply or pin names a satellite for: shown, so that the rows add up
    # to the totals.
    rest = _map(data.extra.get(f"{key}_unattributed"))
    if not entities and not _num(rest.get("count")):
        return f"<h3>{esc(title)}</h3>" + _missing(f"No per-{key[:-1]} results in the summary.")
    headers = ["requests", "succeeded", "success", "failed", "mean", "p50", "p90", "p99"]
    if with_energy:
        headers.append("energy")
    head = f"<th>{esc(key[:-1])}</th>" + "".join(
        f'<th class="{"" if h == "failed" else "num"}">{esc(h)}</th>' for h in headers
    )
    rows = "".join(
        _entity_row(name, _map(entities[name]), with_energy) for name in sorted(entities)
    )
    if _num(rest.get("count")):
        rows += _entity_row(_UNATTRIBUTED_ROW, rest, with_energy)
    return (
        f'<h3>{esc(title)}</h3><div class="scroll"><table id="t-{esc(key)}">'
        f"<thead><tr>{head}</tr></thead>{rows}</table></div>"
    )


def _entity_row(name: str, entity: Mapping[str, Any], with_energy: bool) -> str:
    count, succeeded = _num(entity.get("count")), _num(entity.get("succeeded"))
    failed = _cause_counts(entity.get("failed"))
    latency = _map(entity.get("latency_ms"))
    cells = [
        _count(count),
        _count(succeeded),
        _pct(succeeded, count),
        ", ".join(f"{cause} {_count(n)}" for cause, n in sorted(failed.items())) or "–",
        *(_ms(_num(latency.get(k))) for k in ("mean", "p50", "p90", "p99")),
    ]
    if with_energy:
        cells.append(_energy(_num(entity.get("energy_wh"))))
    tds = "".join(
        f'<td class="{"" if i == 3 else "num"}">{esc(cell)}</td>' for i, cell in enumerate(cells)
    )
    return f'<tr><th scope="row">{esc(name)}</th>{tds}</tr>'


# --- latency over time -------------------------------------------------------------


def _latency_body(data: _Run) -> str:
    if not data.requests and not data.rows:
        return _missing("No request sample and no timeseries in this run document.")
    modelled = data.latency_basis == "modelled"
    main = Panel(
        ("modelled latency (simulated ms" if modelled else "latency (ms")
        + (", log scale)" if _log_latency(data) else ")"),
        series=[*_request_dots(data), *_percentile_lines(data)],
        height_px=300,
        log_y=_log_latency(data),
    )
    panels = [main]
    contact = _points(data.rows, "satellites_in_contact")
    if any(y is not None for _, y in contact):
        line = Series("satellites in contact", contact, "#555555", "step", width_px=1.8)
        panels.append(Panel("satellites in contact", [line], height_px=80, integer_y=True))
    svg = time_chart(
        panels,
        x_label="simulated time since start (s)",
        markers=_markers(data),
        x_range=data.x_range,
        label="latency over time",
    )
    sampled = f"{len(data.requests):,} sampled requests" if data.requests else "no request sample"
    basis = (
        "At this speed factor the emulated delays are shorter than gRPC's own cost in wall "
        "time, so successes are shown with their modelled latency (uplink + queue + "
        "inference + downlink, simulated ms) and failures with their wall time multiplied "
        "by the speed. "
        if modelled
        else ""
    )
    caption = basis + (
        f"Dots: {sampled}, coloured by outcome. Lines: p50 and p99 of the requests that "
        "finished in each simulated second (over long runs, the median of those per-second "
        "values in each bin), and the link model's p50 where the run recorded it. Vertical "
        "lines: handovers (solid, dark) and satellites rising or setting (faint)."
    )
    return _figure(svg, caption)


def _latencies(data: _Run) -> list[float]:
    values = [_num(r.get("latency_ms")) for r in data.requests]
    for key in ("latency_ms_p50", "latency_ms_p99"):
        values.extend(_num(row.get(key)) for row in data.rows)
    return [v for v in values if v is not None and v > 0]


def _log_latency(data: _Run) -> bool:
    """A log axis when a few slow requests would otherwise squash the rest to a line."""
    values = _latencies(data)
    return bool(values) and max(values) / min(values) > 30


def _request_dots(data: _Run) -> list[Series]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for request in data.requests:
        groups.setdefault(str(request.get("outcome") or "unknown"), []).append(request)
    series: list[Series] = []
    for outcome in sorted(groups, key=lambda o: (o != "ok", o)):
        requests = groups[outcome]
        color = _OK_COLOR if outcome == "ok" else _cause_color(data, outcome)
        series.append(
            Series(
                f"request: {outcome}",
                [(float(r["offset_s"]), _num(r.get("latency_ms"))) for r in requests],
                color,
                "dots",
                opacity=0.45 if outcome == "ok" else 0.8,
                tips=[_request_tip(r) for r in requests],
            )
        )
    return series


def _request_tip(request: Mapping[str, Any]) -> str:
    where = " → ".join(str(request[k]) for k in ("station", "satellite") if request.get(k))
    latency = _num(request.get("latency_ms"))
    return f"{float(request['offset_s']):.1f} s: {_ms(latency)}, {request.get('outcome')}" + (
        f", {where}" if where else ""
    )


def _percentile_lines(data: _Run) -> list[Series]:
    """p50 and p99 per simulated second; over long runs the median of each bin's seconds.

    A second holds only a few requests at the usual rates, so its percentiles jump about;
    hundreds of them side by side are a hairball, while a median over each bin keeps the
    trend (the dots still show every sampled outlier).
    """
    return _per_second_lines(
        data,
        (
            ("latency_ms_p50", "p50 per second", OKABE_ITO["blue"], ""),
            ("latency_ms_p99", "p99 per second", OKABE_ITO["black"], "5 3"),
            ("modelled_ms_p50", "modelled p50", OKABE_ITO["blue"], "1 3"),
        ),
    )


def _per_second_lines(data: _Run, columns: Sequence[tuple[str, str, str, str]]) -> list[Series]:
    """One line per (timeseries key, name, colour, dash); see :func:`_percentile_lines`."""
    binned = len(data.rows) > _MAX_PER_SECOND_POINTS
    edges, groups = _bins(data.rows) if binned else ([], [])
    suffix = f", {readable_number(edges[1] - edges[0])} s median" if binned else ""
    half_dt = _row_dt(data.rows) / 2  # a second's value is drawn at the middle of it
    lines = []
    for key, name, color, dash in columns:
        points = [(x + half_dt, y) for x, y in _points(data.rows, key)]
        if binned:
            points = [
                ((edges[i] + edges[i + 1]) / 2, _median([_num(r.get(key)) for r in group]))
                for i, group in enumerate(groups)
            ]
        if any(y is not None for _, y in points):
            lines.append(Series(name + suffix, points, color, dash=dash, width_px=2, halo=True))
    return lines


def _median(values: Sequence[float | None]) -> float | None:
    present = sorted(v for v in values if v is not None)
    if not present:
        return None
    middle = len(present) // 2
    return present[middle] if len(present) % 2 else (present[middle - 1] + present[middle]) / 2


def _markers(data: _Run) -> list[Marker]:
    styles = {
        "handover": ("#333333", "", 1.3, 0.85),
        "rise": (OKABE_ITO["green"], "2 3", 1.0, 0.55),
        "set": ("#888888", "2 3", 1.0, 0.55),
    }
    markers = []
    for event in data.events:
        kind = str(event.get("kind"))
        color, dash, width_px, opacity = styles.get(kind, ("#888888", "2 3", 1.0, 0.55))
        tip = f"{float(event['offset_s']):.1f} s: {kind} at {event.get('station')}: " + (
            f"{event.get('previous')} → {event.get('satellite')}"
            if kind == "handover"
            else str(event.get("satellite"))
        )
        markers.append(Marker(float(event["offset_s"]), tip, kind, color, dash, width_px, opacity))
    if not markers:  # no event list: the per-second handover counts still place them
        for row in data.rows:
            if (count := _num(row.get("handovers"))) and count > 0:
                tip = f"{float(row['offset_s']):.0f} s: {_count(count)} handover(s)"
                markers.append(Marker(float(row["offset_s"]), tip, "handover", *styles["handover"]))
    return markers


# --- emulation fidelity ------------------------------------------------------------


def _fidelity(data: _Run) -> Mapping[str, Any]:
    return _map(data.extra.get("fidelity"))


def _fidelity_banner(data: _Run) -> str:
    """The verdict on the emulation itself: a run that was not faithful says so loudly."""
    fidelity = _fidelity(data)
    if not fidelity:
        return ""
    reasons = [str(r) for r in _seq(fidelity.get("reasons"))]
    items = "<ul>" + "".join(f"<li>{esc(r)}</li>" for r in reasons) + "</ul>" if reasons else ""
    error, bound = _map(fidelity.get("error_ms")), _map(fidelity.get("bound_ms"))
    figures = (
        f"emulation error p50 {_ms(_num(error.get('p50')))}, p99 {_ms(_num(error.get('p99')))}; "
        f"bounds p50 {_ms(_num(bound.get('p50')))}, p99 {_ms(_num(bound.get('p99')))}"
    )
    faithful = fidelity.get("faithful")
    if faithful is True:
        return f'<p class="fidelity good" id="fidelity-verdict">Faithful: {esc(figures)}.</p>'
    if faithful is False:
        return (
            '<div class="fidelity bad" id="fidelity-verdict" role="alert">NOT FAITHFUL: do '
            f"not read this run's latencies as the model's. {esc(figures)}.{items}</div>"
        )
    return f'<div class="fidelity unknown" id="fidelity-verdict">Fidelity unknown.{items}</div>'


def _fidelity_rows(data: _Run) -> list[tuple[str, str]]:
    fidelity = _fidelity(data)
    if not fidelity:
        return []
    error, floor = _map(fidelity.get("error_ms")), _map(fidelity.get("floor_ms"))
    bound = _map(fidelity.get("bound_ms"))
    faithful = fidelity.get("faithful")
    verdict = "faithful" if faithful is True else "NOT FAITHFUL" if faithful is False else "–"
    rows = [("Verdict", verdict)]
    rows += [(f"Error {k}", _ms(_num(error.get(k)))) for k in ("p50", "p99", "max", "mean")]
    rows.append(("Successes judged", _count(_num(fidelity.get("count")))))
    for k in ("p50", "p99"):
        floor_ms, bound_ms = _num(floor.get(k)), _num(bound.get(k))
        rows.append((f"Floor {k}", _ms(floor_ms)))
        margin = "" if floor_ms is None or bound_ms is None else f" (+{_ms(bound_ms - floor_ms)})"
        rows.append((f"Bound {k}", _ms(bound_ms) + margin))
    rows.append(("Round trip p50", _ms(_num(floor.get("round_trip_p50")))))
    rows.append(("Floor probes", _count(_num(floor.get("probes")))))
    rows.append(("Late tick lookups", _count(_num(fidelity.get("late_tick_lookups")))))
    return rows


def _fidelity_body(data: _Run) -> str:
    lines = _per_second_lines(
        data,
        (
            ("error_ms_p50", "error p50 per second", OKABE_ITO["blue"], ""),
            ("error_ms_p99", "error p99 per second", OKABE_ITO["black"], "5 3"),
        ),
    )
    if not lines:
        return _missing("No emulation error in the timeseries of this run document.")
    bound = _map(_fidelity(data).get("bound_ms"))
    x_lo, x_hi = data.x_range or (0.0, 1.0)
    for key, color in (("p50", OKABE_ITO["blue"]), ("p99", OKABE_ITO["black"])):
        if (value := _num(bound.get(key))) is not None:
            points: list[tuple[float, float | None]] = [(x_lo, value), (x_hi, value)]
            lines.append(Series(f"bound {key}", points, color, dash="2 4", width_px=1.2))
    svg = time_chart(
        [Panel("emulation error (ms)", lines, height_px=220)],
        x_label="simulated time since start (s)",
        markers=[m for m in _markers(data) if m.group == "handover"],
        x_range=data.x_range,
        label="emulation error over time",
    )
    caption = (
        "Emulation error: each success's wall latency from its send less its modelled "
        "latency in wall time (modelled / speed), p50 and p99 of the successes finishing in "
        "each simulated second. Dotted: the bounds, the machine's own gRPC round trip after "
        "an idle pause (measured during the run, less its fastest) plus a margin. Vertical "
        "lines: handovers."
    )
    return _figure(svg, caption)


# --- throughput and failures over time ---------------------------------------------


def _bins(rows: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[list[Mapping[str, Any]]]]:
    """Rows grouped into at most _MAX_BINS bins of a round width (so bars stay readable)."""
    row_dt = _row_dt(rows)
    lo = float(rows[0]["offset_s"])
    hi = float(rows[-1]["offset_s"]) + row_dt
    width = max(nice_step(hi - lo, _MAX_BINS + 1), row_dt)
    start = math.floor(lo / width) * width
    count = max(1, math.ceil((hi - start) / width - 1e-9))
    groups: list[list[Mapping[str, Any]]] = [[] for _ in range(count)]
    for row in rows:
        index = int((float(row["offset_s"]) - start) // width)
        groups[min(max(index, 0), count - 1)].append(row)
    return [start + i * width for i in range(count + 1)], groups


_RowValue = Callable[[Mapping[str, Any]], float]


def _per_row(groups: Sequence[Sequence[Mapping[str, Any]]], value: _RowValue) -> list[float]:
    """The mean of ``value`` over the rows (simulated seconds) of each bin."""
    return [sum(value(row) for row in group) / len(group) if group else 0.0 for group in groups]


def _field(key: str) -> _RowValue:
    return lambda row: _num(row.get(key)) or 0.0


def _failed_field(cause: str | None = None) -> _RowValue:
    if cause is None:
        return lambda row: _failed_total(row.get("failed"))
    return lambda row: _cause_counts(row.get("failed")).get(cause, 0.0)


def _bin_caption(edges: Sequence[float]) -> str:
    width = edges[1] - edges[0] if len(edges) > 1 else 1.0
    if math.isclose(width, 1.0):
        return "one bar per simulated second"
    return f"bars are means over {readable_number(width)} simulated seconds"


def _speed_note(data: _Run) -> str:
    speed = _num(data.extra.get("speed"))
    if not speed or speed == 1:
        return ""
    return (
        f" At {readable_number(speed)}× speed, 1 request per simulated second is "
        f"{readable_number(speed)} per wall-clock second."
    )


def _throughput_body(data: _Run) -> str:
    if not data.rows:
        return _missing("No timeseries in this run document.")
    edges, groups = _bins(data.rows)
    layers = [
        Layer("succeeded", _OK_COLOR, _per_row(groups, _field("succeeded"))),
        Layer("failed", _FAILED_COLOR, _per_row(groups, _failed_field())),
        Layer("cancelled", "#999999", _per_row(groups, _field("cancelled"))),
    ]
    layers = [layer for layer in layers if layer.name != "cancelled" or any(layer.values)]
    stack = Stack(edges, layers, "per simulated s")
    sent = _per_row(groups, _field("sent"))
    sent_line = Series("sent", list(zip(edges, sent, strict=False)), OKABE_ITO["black"], "step")
    svg = time_chart(
        [Panel("requests per simulated second", [sent_line], stack=stack, height_px=240)],
        x_label="simulated time since start (s)",
        x_range=data.x_range,
        label="throughput over time",
    )
    caption = (
        "Requests finished per simulated second, succeeded and failed stacked "
        f"({_bin_caption(edges)}); the line is what was sent." + _speed_note(data)
    )
    return _figure(svg, caption)


def _failures_body(data: _Run) -> str:
    totals, source = _failures(data)
    _, sent = _outcome(data)
    if not totals or not any(totals.values()):
        return "<p>No request failed.</p>" if data.summary else _missing("No failure counts.")
    bars = [
        Bar(cause, count, _cause_color(data, cause), f"{_count(count)} ({_pct(count, sent)})")
        for cause, count in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    parts = [
        _figure(
            hbar_chart(bars, x_label="failed requests", label="failures by cause", integer=True),
            f"Totals from {source}; percentages are of all requests sent.",
        )
    ]
    parts.append(_failures_over_time(data))
    return "".join(parts)


def _failures_over_time(data: _Run) -> str:
    if not data.rows:
        return _missing("No timeseries in this run document, so no failures over time.")
    edges, groups = _bins(data.rows)
    layers = [
        Layer(cause, color, _per_row(groups, _failed_field(cause)))
        for cause, color in data.cause_colors.items()
    ]
    layers = [layer for layer in layers if any(layer.values)]
    if not layers:
        return "<p>No failures in the timeseries.</p>"
    svg = time_chart(
        [Panel("failed requests per simulated second", stack=Stack(edges, layers, "per s"))],
        x_label="simulated time since start (s)",
        markers=[m for m in _markers(data) if m.group == "handover"],
        x_range=data.x_range,
        label="failures over time",
    )
    caption = f"Failures by cause, stacked ({_bin_caption(edges)}); vertical lines: handovers."
    return _figure(svg, caption)


# --- satellites --------------------------------------------------------------------


def _points(
    items: Sequence[Mapping[str, Any]], key: str, factor: float = 1.0
) -> list[tuple[float, float | None]]:
    """(offset_s, value * factor) for each item; None where the value is missing."""
    return [
        (float(item["offset_s"]), None if (v := _num(item.get(key))) is None else v * factor)
        for item in items
    ]


def _sat_series(data: _Run, key: str, factor: float = 1.0) -> list[Series]:
    series = []
    for name, samples in sorted(data.satellites.items()):
        points = _points(samples, key, factor)
        if any(y is not None for _, y in points):
            color, dash = data.sat_styles[name]
            series.append(Series(name, points, color, dash=dash, width_px=1.6))
    return series


def _eclipse_bands(data: _Run) -> list[Band]:
    bands = []
    for name, samples in sorted(data.satellites.items()):
        if not any(isinstance(s.get("sunlit"), bool) for s in samples):
            continue
        spans: list[tuple[float, float]] = []
        for sample, following in zip(samples, [*samples[1:], None], strict=True):
            if sample.get("sunlit") is False:
                start = float(sample["offset_s"])
                end = float(following["offset_s"]) if following is not None else start
                if spans and math.isclose(spans[-1][1], start):
                    spans[-1] = (spans[-1][0], end)
                else:
                    spans.append((start, end))
        tip = f"{name}: in eclipse " + ", ".join(f"{a:.0f}–{b:.0f} s" for a, b in spans)
        bands.append(Band(name, spans, "#4d4d4d", tip if spans else f"{name}: sunlit throughout"))
    return bands


def _satellites_body(data: _Run) -> str:
    charge = _sat_series(data, "state_of_charge", 100.0)
    mean_points = _points(data.rows, "mean_state_of_charge", 100.0)
    if any(y is not None for _, y in mean_points):
        mean = Series("mean of all (timeseries)", mean_points, "#555555", dash="1 3", width_px=2.2)
        charge.append(mean)
    temperature = _sat_series(data, "temperature_c")
    if not charge and not temperature:
        return _missing("No satellite samples in this run document (polling may have failed).")
    panels = [Panel("state of charge (%)", charge, height_px=220, y_range=(0.0, 100.0))]
    if temperature:
        panels.append(Panel("temperature (°C)", temperature, height_px=180, min_span=2.0))
    bands = _eclipse_bands(data)
    if bands:
        panels.append(Panel("sunlight (dark: in eclipse)", bands=bands, band_legend="in eclipse"))
    svg = time_chart(
        panels,
        x_label="simulated time since start (s)",
        x_range=data.x_range,
        label="satellite battery and temperature",
    )
    caption = (
        "One line per compute satellite, polled during the run; the same colours on the map "
        "below. Dark bars mark when each satellite was in the earth's shadow."
    )
    return _figure(svg, caption)


# --- map ---------------------------------------------------------------------------


def _mean_alt_km(data: _Run) -> float | None:
    altitudes = [
        v for samples in data.satellites.values() for s in samples if (v := _num(s.get("alt_km")))
    ]
    return sum(altitudes) / len(altitudes) if altitudes else None


def _tracks(data: _Run) -> list[Track]:
    tracks = []
    for name, samples in sorted(data.satellites.items()):
        points = [
            (lon, lat)
            for s in samples
            if (lon := _num(s.get("lon_deg"))) is not None
            and (lat := _num(s.get("lat_deg"))) is not None
        ]
        if points:
            color, dash = data.sat_styles[name]
            tracks.append(Track(name, points, color, dash))
    return tracks


def _sites(data: _Run, alt_km: float | None) -> list[Site]:
    sites = []
    for name, entry in sorted(data.stations.items()):
        station = _map(entry)
        lat, lon = _num(station.get("lat_deg")), _num(station.get("lon_deg"))
        if lat is None or lon is None:
            continue
        min_elevation = _num(station.get("min_elevation_deg")) or 0.0
        circle: list[tuple[float, float]] = []
        tip = f"{name}: {lat:.2f}°, {lon:.2f}°, min elevation {readable_number(min_elevation)}°"
        if alt_km is not None:
            angle_deg = coverage_angle_deg(alt_km, min_elevation)
            circle = small_circle(lat, lon, angle_deg)
            tip += f"; coverage radius {angle_deg:.1f}° of arc at {alt_km:.0f} km"
        sites.append(Site(str(name), lon, lat, circle, tip))
    return sites


def _map_body(data: _Run) -> str:
    alt_km = _mean_alt_km(data)
    tracks, sites = _tracks(data), _sites(data, alt_km)
    if not tracks and not sites:
        return _missing("No satellite positions and no station positions in this run document.")
    notes = ["Equirectangular projection, graticule every 30°."]
    notes.append("No coastline data is available offline, so no coastlines are drawn.")
    if tracks:
        notes.append("Lines: each satellite's ground track during the run; dot: last position.")
    if sites and alt_km is not None:
        notes.append(
            "Squares: ground stations; dashed: where a satellite at the mean altitude "
            f"({alt_km:.0f} km) is above the station's minimum elevation."
        )
    elif sites:
        notes.append("No satellite altitudes, so no coverage circles.")
    svg = geo_map(tracks, sites, label="ground tracks and coverage")
    return _figure(svg, " ".join(notes))


# --- histogram ---------------------------------------------------------------------


def _histogram_body(data: _Run) -> str:
    buckets = [_map(b) for b in _seq(data.summary.get("histogram"))]
    bars = []
    for bucket in buckets:
        mark_s, count = _num(bucket.get("mark")), _num(bucket.get("count"))
        if mark_s is None or count is None:
            continue
        frequency = _num(bucket.get("frequency"))
        share = f" ({100 * frequency:.1f}%)" if frequency is not None else ""
        label = readable_number(mark_s * 1e3)
        tip = f"≤ {label} ms: {_count(count)} requests{share}"
        bars.append(Bar(label, count, OKABE_ITO["blue"], _count(count), tip))
    if not bars:
        return _missing("No latency histogram in the summary.")
    svg = column_chart(
        bars,
        x_label="latency, bucket upper bound (ms)",
        y_label="requests",
        label="latency histogram",
        integer=True,
    )
    return _figure(svg, "Latency of all measured requests, in ghz's buckets.")
