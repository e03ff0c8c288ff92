"""Turning ticks and contact windows into JSON, CSV, ION contact plans and tables."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO

import numpy as np

from orbitmesh.constants import C_KM_PER_S
from orbitmesh.orchestrator.contacts import Contact
from orbitmesh.orchestrator.geometry import GeometryEngine, Tick
from orbitmesh.orchestrator.orbits import times_at
from orbitmesh.orchestrator.routing import RouteTable

__all__ = [
    "contacts_csv",
    "contacts_ion",
    "contacts_json",
    "contacts_table",
    "geometry_json",
    "geometry_table",
    "iso",
]


def iso(when: datetime, *, millis: bool = False) -> str:
    """UTC ISO 8601 with a Z suffix."""
    text = when.isoformat(timespec="milliseconds" if millis else "seconds")
    return text.replace("+00:00", "Z")


def _r(x: float, digits: int = 6) -> float:
    return round(float(x), digits)


# ---------------------------------------------------------------------------- geometry


def _route_entries(
    engine: GeometryEngine,
    table: RouteTable,
    rows: Sequence[int],
    targets: np.ndarray,
    source_names: Sequence[str],
) -> Iterator[dict[str, Any]]:
    ids = engine.catalog.ids
    for row, source_name in zip(rows, source_names, strict=True):
        for target in targets.tolist():
            delay = table.delay_ms[row, target]
            if not math.isfinite(delay) or target == table.sources[row]:
                continue
            path = table.path(row, target)
            yield {
                "source": source_name,
                "satellite": ids[target],
                "delay_ms": _r(delay),
                "hops": [ids[v] for v in path if v < table.n_sats],
                "bottleneck_mbps": _r(table.bottleneck_mbps(path), 3),
            }


#: The lists of ``orbitmesh geometry --json``, in document order (``--sections`` picks).
GEOMETRY_SECTIONS = (
    "satellites",
    "ground_stations",
    "terminals",
    "isl",
    "routes",
    "satellite_routes",
)


def _satellite_items(engine: GeometryEngine, tick: Tick) -> Iterator[dict[str, Any]]:
    cat = engine.catalog
    lat, lon, alt = tick.geodetic()
    for i in range(cat.size):
        yield {
            "id": cat.ids[i],
            "name": cat.names[i],
            "lat_deg": _r(lat[i]),
            "lon_deg": _r(lon[i]),
            "alt_km": _r(alt[i]),
            "itrs_km": [_r(v) for v in tick.itrs_km[i]],
            "sunlit": bool(tick.sunlit[i]),
            "compute": bool(cat.compute[i]),
            "valid": bool(tick.valid[i]),
        }


def _visible(engine: GeometryEngine, tick: Tick, j: int, bounds: Any) -> list[dict[str, Any]]:
    """What ground node ``j`` sees, highest first."""
    cat, g = engine.catalog, tick.ground
    sl = slice(bounds[j], bounds[j + 1])
    visible = [
        {
            "satellite": cat.ids[s],
            "elevation_deg": _r(e),
            "azimuth_deg": _r(a),
            "range_km": _r(r),
            "delay_ms": _r(d),
        }
        for s, e, a, r, d in zip(
            g.satellite[sl],
            g.elevation_deg[sl],
            g.azimuth_deg[sl],
            g.range_km[sl],
            g.delay_ms[sl],
            strict=True,
        )
    ]
    visible.sort(key=lambda v: -v["elevation_deg"])
    return visible


def _station_items(engine: GeometryEngine, tick: Tick) -> Iterator[dict[str, Any]]:
    bounds = np.searchsorted(tick.ground.station, np.arange(engine.stations.size + 1))
    for j, spec in enumerate(engine.stations.specs):
        yield {
            "name": spec.name,
            "lat_deg": spec.lat_deg,
            "lon_deg": spec.lon_deg,
            "alt_m": spec.alt_m,
            "min_elevation_deg": spec.min_elevation_deg,
            "visible": _visible(engine, tick, j, bounds),
        }


def _terminal_items(engine: GeometryEngine, tick: Tick) -> Iterator[dict[str, Any]]:
    stations, terminals = engine.stations, engine.stations.terminals
    if terminals is None:
        return
    bounds = np.searchsorted(tick.ground.station, np.arange(stations.size + 1))
    lat, lon, alt = terminals.geodetic(tick.offset_s)
    for k, name in enumerate(terminals.ids):
        yield {
            "name": name,
            "kind": terminals.kind[k],
            "lat_deg": _r(lat[k]),
            "lon_deg": _r(lon[k]),
            "alt_m": _r(alt[k], 3),
            "moving": bool(terminals.moving[k]),
            "min_elevation_deg": float(terminals.min_elevation_deg[k]),
            "rate_mbps": float(terminals.rate_mbps[k]),
            "visible": _visible(engine, tick, stations.n_fixed + k, bounds),
        }


def _terminal_words(engine: GeometryEngine, tick: Tick) -> str:
    """The header's count of terminals and how many see a satellite ('' for none)."""
    stations = engine.stations
    count = stations.size - stations.n_fixed
    if not count:
        return ""
    served = len(np.unique(tick.ground.station[tick.ground.station >= stations.n_fixed]))
    return f"{count:,} terminals ({served:,} with a satellite in view), "


def _isl_items(engine: GeometryEngine, tick: Tick) -> Iterator[dict[str, Any]]:
    ids = engine.catalog.ids
    isl = tick.isl
    for a, b, d, t in zip(isl.a, isl.b, isl.distance_km, isl.delay_ms, strict=True):
        yield {"a": ids[a], "b": ids[b], "distance_km": _r(d, 3), "delay_ms": _r(t)}


def geometry_sections(
    engine: GeometryEngine, tick: Tick, *, satellite_routes: RouteTable | None = None
) -> dict[str, tuple[int, Iterator[dict[str, Any]]]]:
    """Each list of the document: its length (an upper bound for routes) and its items,
    produced one at a time (a million satellites make a document of hundreds of MB)."""
    cat = engine.catalog
    n_compute = len(cat.compute_indices)
    sections: dict[str, tuple[int, Iterator[dict[str, Any]]]] = {
        "satellites": (cat.size, _satellite_items(engine, tick)),
        "ground_stations": (engine.stations.n_fixed, _station_items(engine, tick)),
        "terminals": (
            engine.stations.size - engine.stations.n_fixed,
            _terminal_items(engine, tick),
        ),
        "isl": (len(tick.isl), _isl_items(engine, tick)),
    }
    routes: Iterator[dict[str, Any]] = iter(())
    if tick.routes is not None:
        names = list(engine.stations.names)
        entries = _route_entries(engine, tick.routes, range(len(names)), cat.compute_indices, names)
        routes = ({"ground_station": e.pop("source"), **e} for e in entries)
    sections["routes"] = (engine.stations.size * n_compute, routes)
    if satellite_routes is not None:
        src_names = [cat.ids[s] for s in satellite_routes.sources]
        entries = _route_entries(
            engine, satellite_routes, range(len(src_names)), cat.compute_indices, src_names
        )
        sections["satellite_routes"] = (
            len(src_names) * n_compute,
            ({"from_satellite": e.pop("source"), **e} for e in entries),
        )
    return sections


def _head(engine: GeometryEngine, tick: Tick) -> dict[str, Any]:
    return {
        "time": iso(tick.time, millis=tick.time.microsecond != 0),
        "scenario": engine.scenario.name,
    }


def geometry_json(
    engine: GeometryEngine, tick: Tick, *, satellite_routes: RouteTable | None = None
) -> dict[str, Any]:
    """The documented ``orbitmesh geometry --json`` document for one tick, in memory."""
    sections = geometry_sections(engine, tick, satellite_routes=satellite_routes)
    return _head(engine, tick) | {name: list(items) for name, (_, items) in sections.items()}


def write_geometry_json(
    out: TextIO,
    engine: GeometryEngine,
    tick: Tick,
    *,
    satellite_routes: RouteTable | None = None,
    sections: Sequence[str] = GEOMETRY_SECTIONS,
    compact: bool = False,
    progress: Callable[[float, float], None] | None = None,
) -> None:
    """The same document as :func:`geometry_json` (only the lists in ``sections``),
    written item by item: memory stays that of one item whatever the constellation.
    One item per line unless ``compact``."""
    parts = {
        k: v
        for k, v in geometry_sections(engine, tick, satellite_routes=satellite_routes).items()
        if k in sections
    }
    total = sum(count for count, _ in parts.values())
    done = 0
    sep, item_sep = (",", ",") if compact else (",\n", ",\n ")
    head = _head(engine, tick)
    out.write("{" + sep.join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in head.items()))
    for name, (_count, items) in parts.items():
        out.write(f"{sep}{json.dumps(name)}:[")
        first = True
        for item in items:
            out.write(("" if first else item_sep) + json.dumps(item, separators=(",", ":")))
            first = False
            done += 1
            if progress is not None and done % 1024 == 0:
                progress(done, total)
        out.write("]")
    out.write("}\n")
    if progress is not None:
        progress(total, total)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if a == "l" else c.rjust(w)
            for c, w, a in zip(cells, widths, align, strict=True)
        )

    return [fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]


def _clip(rows: list[list[str]], max_rows: int) -> tuple[list[list[str]], str | None]:
    if max_rows <= 0 or len(rows) <= max_rows:
        return rows, None
    return rows[
        :max_rows
    ], f"... {len(rows) - max_rows:,} more rows (use --max-rows 0 for all, or --json)"


def geometry_table(
    engine: GeometryEngine, tick: Tick, *, max_rows: int = 40, routes_per_station: int = 3
) -> str:
    cat = engine.catalog
    lat, lon, alt = tick.geodetic()
    n_compute = int(cat.compute.sum())
    lines = [
        f"{engine.scenario.name} at {iso(tick.time)}: {cat.size:,} satellites "
        f"({n_compute:,} compute, {int(tick.sunlit.sum()):,} sunlit), "
        f"{engine.stations.n_fixed} ground stations, "
        + _terminal_words(engine, tick)
        + f"{len(tick.ground):,} ground links, {len(tick.isl):,} inter-satellite links",
        "",
        "Satellites",
    ]
    # Only the rows shown are formatted: a million satellites would take seconds.
    shown = cat.size if max_rows <= 0 else min(cat.size, max_rows)
    rows = [
        [
            cat.ids[i],
            cat.names[i] if cat.names[i] != cat.ids[i] else "",
            f"{lat[i]:8.3f}",
            f"{lon[i]:8.3f}",
            f"{alt[i]:8.1f}",
            "yes" if tick.sunlit[i] else "no",
            "yes" if cat.compute[i] else "",
        ]
        for i in range(shown)
    ]
    more = (
        f"... {cat.size - shown:,} more rows (use --max-rows 0 for all, or --json)"
        if shown < cat.size
        else None
    )
    lines += _table(
        ["id", "name", "lat_deg", "lon_deg", "alt_km", "sunlit", "compute"], rows, "llrrrll"
    )
    if more:
        lines.append(more)
    lines += ["", "Ground stations (visible satellites, highest first)"]
    g = tick.ground
    rows = []
    table = tick.routes
    for j, spec in enumerate(engine.stations.specs):
        sel = np.flatnonzero(g.station == j)
        sel = sel[np.argsort(-g.elevation_deg[sel])]
        best = ", ".join(f"{cat.ids[g.satellite[k]]} {g.elevation_deg[k]:.1f}deg" for k in sel[:3])
        nearest = ""
        if table is not None and n_compute:
            delays = table.delay_ms[j, cat.compute_indices]
            order = np.argsort(delays)[:routes_per_station]
            nearest = ", ".join(
                f"{cat.ids[cat.compute_indices[k]]} {delays[k]:.2f}ms"
                for k in order
                if np.isfinite(delays[k])
            )
        rows.append(
            [
                spec.name,
                f"{spec.min_elevation_deg:g}",
                str(len(sel)),
                best or "-",
                nearest or "no route",
            ]
        )
    rows, more = _clip(rows, max_rows)
    lines += _table(
        ["station", "mask_deg", "visible", "highest", "nearest compute (route delay)"],
        rows,
        "lrrll",
    )
    if more:
        lines.append(more)
    return "\n".join(lines)


# ---------------------------------------------------------------------------- contacts


def _contact_time(engine: GeometryEngine, offset_s: float) -> str:
    return iso(engine.start + timedelta(seconds=offset_s), millis=True)


def contacts_json(engine: GeometryEngine, contacts: Sequence[Contact]) -> dict[str, Any]:
    ids, names = engine.catalog.ids, engine.stations.names
    return {
        "scenario": engine.scenario.name,
        "contacts": [
            {
                "ground_station": names[c.station],
                "satellite": ids[c.satellite],
                "start": _contact_time(engine, c.start_s),
                "end": _contact_time(engine, c.end_s),
                "duration_s": _r(c.duration_s, 3),
                "max_elevation_deg": _r(c.max_elevation_deg, 4),
                "max_elevation_time": _contact_time(engine, c.max_elevation_s),
                "start_clipped": c.start_clipped,
                "end_clipped": c.end_clipped,
            }
            for c in contacts
        ],
    }


def contacts_csv(engine: GeometryEngine, contacts: Sequence[Contact]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    doc = contacts_json(engine, contacts)["contacts"]
    columns = [
        "ground_station",
        "satellite",
        "start",
        "end",
        "duration_s",
        "max_elevation_deg",
        "max_elevation_time",
        "start_clipped",
        "end_clipped",
    ]
    writer.writerow(columns)
    for entry in doc:
        writer.writerow(
            [str(entry[c]).lower() if isinstance(entry[c], bool) else entry[c] for c in columns]
        )
    return buf.getvalue()


def contacts_table(
    engine: GeometryEngine, contacts: Sequence[Contact], *, max_rows: int = 0
) -> str:
    doc = contacts_json(engine, contacts)["contacts"]
    rows = [
        [
            e["ground_station"],
            e["satellite"],
            e["start"][:-1].replace("T", " ") + ("<" if e["start_clipped"] else " "),
            e["end"][:-1].replace("T", " ") + (">" if e["end_clipped"] else " "),
            f"{e['duration_s']:.1f}",
            f"{e['max_elevation_deg']:.2f}",
        ]
        for e in doc
    ]
    rows, more = _clip(rows, max_rows)
    lines = _table(
        ["station", "satellite", "start (UTC)", "end (UTC)", "duration_s", "max_elev_deg"],
        rows,
        "llllrr",
    )
    if more:
        lines.append(more)
    lines.append(
        f"{len(doc):,} contact windows ('<' / '>': window runs past the searched interval)"
    )
    return "\n".join(lines)


def contacts_ion(engine: GeometryEngine, contacts: Sequence[Contact], start_s: float) -> str:
    """An ION ``ionadmin`` contact plan: relative times (+seconds from ``start_s``).

    Contacts are one-way in ION, so each window yields two ``a contact`` lines; a
    ``a range`` line covers both directions. One-way light time is whole seconds in
    ION, rounded up (LEO ranges are a few milliseconds, so 1 s).
    """
    stations = engine.stations
    n_st = stations.size
    rates = engine.rates
    epoch = iso(engine.start + timedelta(seconds=start_s))
    lines = [
        f"# orbitmesh contact plan for scenario {engine.scenario.name!r}",
        f"# relative times count seconds from {epoch} (use ionadmin's 'at' command to pin it)",
        f"# nodes: ground stations 1..{n_st}, satellites {n_st + 1}.. in catalog order",
    ]
    used_sats = sorted({c.satellite for c in contacts})
    lines += [f"# node {j + 1} = {name}" for j, name in enumerate(stations.names)]
    lines += [f"# node {n_st + 1 + s} = {engine.catalog.ids[s]}" for s in used_sats]
    # Range is largest at a window's edges (lowest elevation): evaluate both edges.
    sats = np.array([c.satellite for c in contacts] * 2, dtype=np.intp)
    edge_s = np.array([c.start_s for c in contacts] + [c.end_s for c in contacts])
    pos = (
        engine.propagator.itrs_km_pairs(sats, times_at(engine.start, edge_s))
        if contacts
        else np.empty((0, 3))
    )
    st_pos = stations.frames_at(np.array([c.station for c in contacts] * 2, dtype=np.intp), edge_s)[
        0
    ]
    edge_km = np.linalg.norm(pos - st_pos, axis=1).reshape(2, -1).max(axis=0) if contacts else []
    for c, range_km in zip(contacts, edge_km, strict=True):
        a = c.station + 1
        b = n_st + 1 + c.satellite
        t0 = math.floor(c.start_s - start_s)
        t1 = math.ceil(c.end_s - start_s)
        owlt_s = max(1, math.ceil(float(range_km) / C_KM_PER_S))
        # A terminal's radio sets its contacts' rate (bytes/s, as ION counts).
        rate_bytes = int(rates.gsl(c.station) * 1e6 / 8)
        lines.append(f"a contact +{t0} +{t1} {a} {b} {rate_bytes}")
        lines.append(f"a contact +{t0} +{t1} {b} {a} {rate_bytes}")
        lines.append(f"a range +{t0} +{t1} {a} {b} {owlt_s}")
    return "\n".join(lines) + "\n"
