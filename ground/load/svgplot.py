"""Small, self-contained SVG charts for the load-test report (pure: stdlib only).

Every chart is a string holding one ``<svg>`` element that scales to its container
(``viewBox`` and ``width="100%"``), styled with presentation attributes only, so it can be
inlined in an HTML page that fetches nothing. All text is escaped; coordinates are
rounded to 0.1 px to keep files small. Empty data gives a chart that says "no data"
rather than an exception, and non-finite values are treated as gaps, so no NaN ever
reaches a coordinate.

Chart kinds:

- :func:`time_chart`: panels stacked over one shared x axis (a main chart with a strip
  below), each holding lines, step lines, dots, stacked bars or labelled rows of spans,
  with vertical event markers and a legend above the plot (never over the data).
- :func:`hbar_chart`: horizontal bars with labels and values.
- :func:`column_chart`: vertical bars over categories (a histogram).
- :func:`geo_map`: an equirectangular map with tracks and sites.

And the geometry the map needs: :func:`coverage_angle_deg`, :func:`small_circle`,
:func:`split_antimeridian`.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from orbitmesh.constants import EARTH_MEAN_RADIUS_KM

__all__ = [
    "CYCLE",
    "OKABE_ITO",
    "Band",
    "Bar",
    "Layer",
    "Marker",
    "Panel",
    "Series",
    "Site",
    "Stack",
    "Track",
    "column_chart",
    "coverage_angle_deg",
    "esc",
    "geo_map",
    "hbar_chart",
    "log_ticks",
    "nice_step",
    "nice_ticks",
    "no_data",
    "readable_number",
    "small_circle",
    "split_antimeridian",
    "time_chart",
    "wrap_lon",
]

#: The Okabe-Ito palette: distinguishable with the common colour-vision deficiencies.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
#: Colours in order of use; yellow comes last because it is faint on white.
CYCLE: tuple[str, ...] = tuple(
    OKABE_ITO[name]
    for name in ("blue", "vermillion", "green", "orange", "purple", "sky", "black", "yellow")
)

LonLat = tuple[float, float]
Point = tuple[float, float | None]

_INK = "#222222"
_MUTED = "#666666"
_AXIS = "#999999"
_GRID = "#e8e8e8"
_FONT = "system-ui, 'DejaVu Sans', sans-serif"
#: Average glyph width of the 12 px font, for laying out text without measuring it
#: (generous: DejaVu Sans, the usual fallback, is wide).
_CHAR_W = 7.0
_TIP_POINTS_MAX = 400
_SMALL = f' font-size="11" fill="{_MUTED}"'


# --- text and numbers --------------------------------------------------------------


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _c(value: float) -> str:
    """A coordinate rounded to 0.1, without a needless ".0"."""
    rounded = round(float(value), 1)
    if rounded == 0:
        return "0"
    return str(int(rounded)) if rounded.is_integer() else f"{rounded:.1f}"


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def readable_number(value: float, digits: int = 3) -> str:
    """A number for people: thousands separators, about ``digits`` significant digits."""
    if not math.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 10 ** (digits - 1) or magnitude == 0:
        return f"{value:,.0f}"
    decimals = digits - 1 - math.floor(math.log10(magnitude))
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _tick_label(value: float) -> str:
    for decimals in range(7):
        if abs(round(value, decimals) - value) <= 1e-9 * max(1.0, abs(value)):
            text = f"{value:,.{decimals}f}"
            return "0" if text.strip("-0.,") == "" else text
    return f"{value:g}"


def _text_w(text: str, size_px: float = 12) -> float:
    return len(text) * _CHAR_W * size_px / 12


def _clip_text(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


# --- ticks -------------------------------------------------------------------------


def nice_step(span: float, max_ticks: int = 6) -> float:
    """The smallest 1-2-5 step that divides ``span`` into at most ``max_ticks - 1`` parts."""
    if not (_finite(span) and span > 0):
        return 1.0
    raw = span / max(max_ticks - 1, 1)
    exponent = math.floor(math.log10(raw))
    for mantissa in (1, 2, 5, 10):
        step = float(f"{mantissa}e{exponent}")
        if step >= raw * (1 - 1e-9):
            return step
    return float(f"1e{exponent + 1}")  # pragma: no cover (the loop always returns)


def _next_step(step: float) -> float:
    exponent = math.floor(math.log10(step) + 1e-9)
    mantissa = round(step / 10**exponent)
    following = {1: (2, 0), 2: (5, 0), 5: (1, 1)}.get(mantissa, (1, 1))
    return float(f"{following[0]}e{exponent + following[1]}")


def nice_ticks(lo: float, hi: float, max_ticks: int = 6, min_step: float = 0.0) -> list[float]:
    """Evenly spaced 1-2-5 ticks, the first <= ``lo`` and the last >= ``hi``.

    ``min_step`` (itself a 1-2-5 value) keeps counts from getting fractional ticks.
    """
    if not (_finite(lo) and _finite(hi)):
        return [0.0, 1.0]
    lo, hi = min(lo, hi), max(lo, hi)
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    step = max(nice_step(hi - lo, max_ticks), min_step)
    while True:
        first = math.floor(lo / step + 1e-9)
        last = math.ceil(hi / step - 1e-9)
        if last - first <= max(max_ticks - 1, 1):
            break
        step = _next_step(step)
    decimals = max(0, -math.floor(math.log10(step))) + 1
    return [round(index * step, decimals) for index in range(first, last + 1)]


def log_ticks(lo: float, hi: float, max_ticks: int = 9) -> list[float]:
    """Ticks at 1, 2, 5 times powers of ten (whole decades if too many) covering [lo, hi]."""
    if not (_finite(lo) and _finite(hi) and lo > 0 and hi > 0):
        return [1.0, 10.0]
    lo, hi = min(lo, hi), max(lo, hi)
    low_exp = math.floor(math.log10(lo) + 1e-9)
    high_exp = math.ceil(math.log10(hi) - 1e-9)
    ticks: list[float] = []
    for mantissas in ((1, 2, 5), (1,)):
        values = [float(f"{m}e{e}") for e in range(low_exp, high_exp + 1) for m in mantissas]
        below = [v for v in values if v <= lo * (1 + 1e-9)]
        above = [v for v in values if v >= hi * (1 - 1e-9)]
        start = values.index(below[-1]) if below else 0
        end = values.index(above[0]) if above else len(values) - 1
        ticks = values[start : end + 1]
        if len(ticks) >= 2 and len(ticks) <= max_ticks:
            return ticks
    if len(ticks) < 2:
        ticks = [float(f"1e{low_exp}"), float(f"1e{low_exp + 1}")]
    return ticks


# --- scales ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scale:
    lo: float
    hi: float
    px_lo: float
    px_hi: float
    log: bool = False

    def __call__(self, value: float) -> float:
        if self.log:
            low, high = math.log10(self.lo), math.log10(self.hi)
            position = math.log10(max(value, self.lo))
        else:
            low, high, position = self.lo, self.hi, value
        fraction = (position - low) / (high - low) if high != low else 0.5
        fraction = min(max(fraction, 0.0), 1.0)  # values beyond a fixed range sit on the edge
        return self.px_lo + fraction * (self.px_hi - self.px_lo)


# --- the chart vocabulary ----------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """Points joined as a line, a step line (each value holds until the next x) or dots.

    A ``None`` y (or a non-finite one) is a gap. ``tips`` gives one tooltip per point.
    """

    name: str
    points: Sequence[Point]
    color: str
    style: Literal["line", "step", "dots"] = "line"
    dash: str = ""
    width_px: float = 1.5
    opacity: float = 1.0
    tips: Sequence[str] | None = None
    legend: bool = True
    halo: bool = False


@dataclass(frozen=True)
class Layer:
    name: str
    color: str
    values: Sequence[float]


@dataclass(frozen=True)
class Stack:
    """Stacked bars (or, with many bins, touching bars that read as an area) over x bins.

    ``edges`` holds one more value than each layer: bin ``i`` spans edges i..i+1.
    """

    edges: Sequence[float]
    layers: Sequence[Layer]
    unit: str = ""


@dataclass(frozen=True)
class Band:
    """One labelled row of shaded x spans (for example a satellite's eclipses)."""

    label: str
    spans: Sequence[tuple[float, float]]
    color: str = "#555555"
    tip: str = ""


@dataclass(frozen=True)
class Panel:
    """One plot area of a :func:`time_chart`; panels share the x axis."""

    y_label: str
    series: Sequence[Series] = ()
    stack: Stack | None = None
    bands: Sequence[Band] = ()
    band_legend: str = ""
    height_px: float = 220
    y_range: tuple[float, float] | None = None
    log_y: bool = False
    integer_y: bool = False
    #: The least y range shown, so that noise in a flat signal does not fill the panel.
    min_span: float = 0.0


@dataclass(frozen=True)
class Marker:
    """A vertical line across every panel at ``x``; ``group`` names its legend entry."""

    x: float
    tip: str
    group: str
    color: str = _INK
    dash: str = "4 3"
    width_px: float = 1.0
    opacity: float = 1.0


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    color: str
    text: str = ""
    tip: str = ""


@dataclass(frozen=True)
class Track:
    name: str
    points: Sequence[LonLat]
    color: str
    dash: str = ""


@dataclass(frozen=True)
class Site:
    name: str
    lon_deg: float
    lat_deg: float
    circle: Sequence[LonLat] = ()
    tip: str = ""


@dataclass(frozen=True)
class _LegendItem:
    kind: Literal["line", "dot", "box", "rule"]
    name: str
    color: str
    dash: str = ""
    opacity: float = 1.0


# --- SVG building blocks -----------------------------------------------------------


def _svg(width: float, height: float, body: Iterable[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_c(width)} {_c(height)}" '
        f'width="100%" role="img" aria-label="{esc(label)}" font-family="{_FONT}" '
        f'font-size="12" fill="{_INK}">' + "".join(body) + "</svg>"
    )


def _text(
    x: float,
    y: float,
    text: str,
    anchor: Literal["start", "middle", "end"] = "start",
    extra: str = "",
) -> str:
    anchor_attr = "" if anchor == "start" else f' text-anchor="{anchor}"'
    return f'<text x="{_c(x)}" y="{_c(y)}"{anchor_attr}{extra}>{esc(text)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    return (
        f'<line x1="{_c(x1)}" y1="{_c(y1)}" x2="{_c(x2)}" y2="{_c(y2)}" stroke="{stroke}"{extra}/>'
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, extra: str = "") -> str:
    return (
        f'<rect x="{_c(x)}" y="{_c(y)}" width="{_c(max(w, 0.0))}" height="{_c(max(h, 0.0))}" '
        f'fill="{fill}"{extra}/>'
    )


def _title(tip: str) -> str:
    return f"<title>{esc(tip)}</title>" if tip else ""


def _dash_attr(dash: str) -> str:
    return f' stroke-dasharray="{esc(dash)}"' if dash else ""


def no_data(message: str = "no data", width: float = 960, height: float = 120) -> str:
    """A placeholder chart saying why there is nothing to plot."""
    body = [
        _rect(0.5, 0.5, width - 1, height - 1, "#fafafa", f' stroke="{_GRID}"'),
        _text(width / 2, height / 2 + 4, message, "middle", f' fill="{_MUTED}"'),
    ]
    return _svg(width, height, body, message)


def _legend(items: Sequence[_LegendItem], x0: float, width: float) -> tuple[str, float]:
    """The legend laid out in rows from ``x0``; returns its SVG and its height."""
    if not items:
        return "", 0.0
    parts: list[str] = []
    x, y, row_h = x0, 14.0, 18.0
    for item in items:
        item_w = 26 + _text_w(item.name) + 14
        if x + item_w > width and x > x0:
            x, y = x0, y + row_h
        parts.append(_legend_swatch(item, x, y - 4))
        parts.append(_text(x + 24, y, item.name))
        x += item_w
    return "<g>" + "".join(parts) + "</g>", y + 8


def _legend_swatch(item: _LegendItem, x: float, y_mid: float) -> str:
    opacity = f' opacity="{item.opacity:g}"' if item.opacity < 1 else ""
    if item.kind == "line":
        return _line(
            x, y_mid, x + 18, y_mid, item.color, f' stroke-width="2"{_dash_attr(item.dash)}'
        )
    if item.kind == "dot":
        return f'<circle cx="{_c(x + 9)}" cy="{_c(y_mid)}" r="3.5" fill="{item.color}"/>'
    if item.kind == "rule":
        return _line(
            x + 9, y_mid - 7, x + 9, y_mid + 7, item.color,
            f' stroke-width="1.5"{_dash_attr(item.dash)}{opacity}',
        )  # fmt: skip
    return _rect(x + 3, y_mid - 6, 12, 12, item.color, opacity)


# --- time charts -------------------------------------------------------------------


def _clean(points: Sequence[Point]) -> list[tuple[float, float | None]]:
    """Points with a finite x; a non-finite y becomes a gap."""
    return [(x, y if _finite(y) else None) for x, y in points if _finite(x)]


def _x_values(panel: Panel) -> list[float]:
    values = [x for series in panel.series for x, _ in _clean(series.points)]
    if panel.stack is not None and panel.stack.layers:
        values.extend(e for e in panel.stack.edges if _finite(e))
    values.extend(v for band in panel.bands for span in band.spans for v in span if _finite(v))
    return values


def _y_values(panel: Panel) -> list[float]:
    values = [y for series in panel.series for _, y in _clean(series.points) if y is not None]
    if panel.stack is not None:
        for index in range(max(len(panel.stack.edges) - 1, 0)):
            values.append(sum(_bin_value(layer, index) for layer in panel.stack.layers))
        values.append(0.0)
    if panel.log_y:
        values = [v for v in values if v > 0]
    return values


def _bin_value(layer: Layer, index: int) -> float:
    if index >= len(layer.values):
        return 0.0
    value = layer.values[index]
    return value if _finite(value) and value > 0 else 0.0


@dataclass(frozen=True)
class _YAxis:
    ticks: list[float]
    log: bool

    def scale(self, top: float, bottom: float) -> _Scale:
        return _Scale(self.ticks[0], self.ticks[-1], bottom, top, self.log)


def _y_axis(panel: Panel) -> _YAxis | None:
    if panel.bands:
        return None
    values = _y_values(panel)
    if panel.y_range is not None:
        lo, hi = panel.y_range
        return _YAxis(log_ticks(lo, hi) if panel.log_y else nice_ticks(lo, hi, 6), panel.log_y)
    if not values:
        return None
    lo, hi = min(values), max(values)
    if hi - lo < panel.min_span and not panel.log_y:
        middle = (lo + hi) / 2
        lo, hi = middle - panel.min_span / 2, middle + panel.min_span / 2
    max_ticks = max(3, min(6, int(panel.height_px // 40) + 1))
    if panel.log_y:
        return _YAxis(log_ticks(lo, hi), True)
    if panel.integer_y or panel.stack is not None:
        lo = min(lo, 0.0)
    if panel.integer_y and math.ceil(hi) - math.floor(lo) <= 4:  # small counts: every one
        top = math.ceil(hi) + 1  # headroom, so that the maximum does not hide in the frame
        return _YAxis([float(v) for v in range(math.floor(lo), top + 1)], False)
    return _YAxis(nice_ticks(lo, hi, max_ticks, 1.0 if panel.integer_y else 0.0), False)


def _panel_height(panel: Panel) -> float:
    return len(panel.bands) * 16 + 4 if panel.bands else panel.height_px


def _legend_items(panels: Sequence[Panel], markers: Sequence[Marker]) -> list[_LegendItem]:
    items: list[_LegendItem] = []
    seen: set[tuple[str, str]] = set()

    def add(item: _LegendItem) -> None:
        if (item.name, item.color) not in seen:
            seen.add((item.name, item.color))
            items.append(item)

    for panel in panels:
        for series in panel.series:
            if series.legend:
                kind: Literal["line", "dot"] = "dot" if series.style == "dots" else "line"
                add(_LegendItem(kind, series.name, series.color, series.dash))
        if panel.stack is not None:
            for layer in panel.stack.layers:
                add(_LegendItem("box", layer.name, layer.color))
        if panel.bands and panel.band_legend:
            add(_LegendItem("box", panel.band_legend, panel.bands[0].color))
    for marker in markers:
        add(_LegendItem("rule", marker.group, marker.color, marker.dash, marker.opacity))
    return items


def time_chart(
    panels: Sequence[Panel],
    *,
    x_label: str,
    x_unit: str = "s",
    markers: Sequence[Marker] = (),
    x_range: tuple[float, float] | None = None,
    width: float = 960,
    label: str = "",
) -> str:
    """Panels stacked over one x axis, with markers across all of them and one legend."""
    x_values = [v for panel in panels for v in _x_values(panel)]
    if x_range is None and not x_values:
        return no_data(f"no data: {label}" if label else "no data", width)
    x_lo, x_hi = x_range if x_range is not None else (min(x_values), max(x_values))
    if x_hi <= x_lo:
        x_lo, x_hi = x_lo - 1, x_lo + 1  # a single instant still gets an axis
    axes = [_y_axis(panel) for panel in panels]
    left = _left_margin(panels, axes)
    right = width - 18
    legend_svg, legend_h = _legend(_legend_items(panels, markers), left, right)
    x_scale = _Scale(x_lo, x_hi, left, right)
    x_ticks = [
        t
        for t in nice_ticks(x_lo, x_hi, max(3, int((right - left) // 90)))
        if x_lo - 1e-9 <= t <= x_hi + 1e-9
    ]
    parts = [legend_svg]
    y = legend_h + 6
    boxes: list[tuple[float, float]] = []
    for panel, axis in zip(panels, axes, strict=True):
        height = _panel_height(panel)
        top = y + 18
        parts.append(_text(left, top - 6, panel.y_label, extra=f' fill="{_MUTED}"'))
        parts.append(
            _draw_panel(panel, axis, x_scale, x_ticks, (left, right, top, top + height), x_unit)
        )
        boxes.append((top, top + height))
        y = top + height + 8
    parts.extend(_draw_markers(markers, x_scale, boxes[0][0], boxes[-1][1], x_lo, x_hi))
    bottom = boxes[-1][1]
    for tick in x_ticks:
        parts.append(_text(x_scale(tick), bottom + 16, _tick_label(tick), "middle"))
    parts.append(_text((left + right) / 2, bottom + 36, x_label, "middle", f' fill="{_MUTED}"'))
    return _svg(width, bottom + 46, parts, label or x_label)


def _left_margin(panels: Sequence[Panel], axes: Sequence[_YAxis | None]) -> float:
    widths = [48.0]
    for panel, axis in zip(panels, axes, strict=True):
        if axis is not None:
            widths.extend(_text_w(_tick_label(t)) + 14 for t in axis.ticks)
        widths.extend(_text_w(_clip_text(b.label, 24)) + 14 for b in panel.bands)
    return min(max(widths), 240.0)


def _draw_panel(
    panel: Panel,
    axis: _YAxis | None,
    x_scale: _Scale,
    x_ticks: Sequence[float],
    box: tuple[float, float, float, float],
    x_unit: str,
) -> str:
    left, right, top, bottom = box
    parts = [f'<g><rect x="{_c(left)}" y="{_c(top)}" width="{_c(right - left)}" ']
    parts.append(f'height="{_c(bottom - top)}" fill="#ffffff" stroke="{_GRID}"/>')
    for tick in x_ticks:
        parts.append(_line(x_scale(tick), top, x_scale(tick), bottom, _GRID))
    if panel.bands:
        parts.append(_draw_bands(panel.bands, x_scale, left, top))
    elif axis is None:
        parts.append(
            _text((left + right) / 2, (top + bottom) / 2 + 4, "no data", "middle",
                  f' fill="{_MUTED}"')
        )  # fmt: skip
    else:
        y_scale = axis.scale(top, bottom)
        for tick in axis.ticks:
            y = y_scale(tick)
            parts.append(_line(left, y, right, y, _GRID))
            parts.append(_text(left - 6, y + 4, _tick_label(tick), "end"))
        if panel.stack is not None:
            parts.append(_draw_stack(panel.stack, x_scale, y_scale, x_unit))
        ordered = sorted(panel.series, key=lambda s: s.style != "dots")  # dots under lines
        parts.extend(_draw_series(series, x_scale, y_scale, x_unit) for series in ordered)
    parts.append(_line(left, bottom, right, bottom, _AXIS))
    parts.append(_line(left, top, left, bottom, _AXIS))
    parts.append("</g>")
    return "".join(parts)


def _segments(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    segments: list[list[tuple[float, float]]] = [[]]
    for x, y in points:
        if y is None:
            if segments[-1]:
                segments.append([])
        else:
            segments[-1].append((x, y))
    return [segment for segment in segments if segment]


def _typical_dx(points: Sequence[tuple[float, float | None]]) -> float:
    gaps = sorted(b[0] - a[0] for a, b in itertools.pairwise(points) if b[0] > a[0])
    return gaps[len(gaps) // 2] if gaps else 0.0


def _draw_series(series: Series, x_scale: _Scale, y_scale: _Scale, x_unit: str) -> str:
    points = _clean(series.points)
    if not points:
        return ""
    if series.style == "dots":
        return _draw_dots(series, points, x_scale, y_scale)
    step_dx = _typical_dx(points) if series.style == "step" else 0.0
    shapes, singles = [], []
    for segment in _segments(points):
        if len(segment) == 1 and series.style == "line":
            x, y = segment[0]
            singles.append(f'<circle cx="{_c(x_scale(x))}" cy="{_c(y_scale(y))}" r="2.5"/>')
        elif series.style == "step":
            shapes.append(f'<path d="{_step_path(segment, step_dx, x_scale, y_scale)}"/>')
        else:
            shapes.append(f'<polyline points="{_polyline(segment, x_scale, y_scale)}"/>')
    body = "".join(shapes)
    parts = [f'<g>{_title(series.name)}<g fill="none" stroke-linejoin="round">']
    if series.halo:  # a white edge keeps the line readable over dots and bars
        parts.append(f'<g stroke="#ffffff" stroke-width="{series.width_px + 3:g}">{body}</g>')
    opacity = f' stroke-opacity="{series.opacity:g}"' if series.opacity < 1 else ""
    parts.append(
        f'<g stroke="{series.color}" stroke-width="{series.width_px:g}"'
        f"{_dash_attr(series.dash)}{opacity}>{body}</g></g>"
    )
    if singles:
        parts.append(f'<g fill="{series.color}">{"".join(singles)}</g>')
    if len(points) <= _TIP_POINTS_MAX:
        parts.append(_hover_points(series, points, x_scale, y_scale, x_unit))
    parts.append("</g>")
    return "".join(parts)


def _polyline(segment: Sequence[tuple[float, float]], x_scale: _Scale, y_scale: _Scale) -> str:
    coords: list[str] = []
    for x, y in segment:
        pair = f"{_c(x_scale(x))},{_c(y_scale(y))}"
        if not coords or coords[-1] != pair:  # drop points that land on the same 0.1 px
            coords.append(pair)
    return " ".join(coords)


def _step_path(
    segment: Sequence[tuple[float, float]], dx: float, x_scale: _Scale, y_scale: _Scale
) -> str:
    x0, y0 = segment[0]
    path = [f"M{_c(x_scale(x0))} {_c(y_scale(y0))}"]
    for x, y in segment[1:]:
        path.append(f"H{_c(x_scale(x))}V{_c(y_scale(y))}")
    path.append(f"H{_c(x_scale(segment[-1][0] + dx))}")
    return "".join(path)


def _hover_points(
    series: Series,
    points: Sequence[tuple[float, float | None]],
    x_scale: _Scale,
    y_scale: _Scale,
    x_unit: str,
) -> str:
    parts = ['<g fill="transparent">']
    for index, (x, y) in enumerate(points):
        if y is None:
            continue
        tip = _point_tip(series, index, x, y, x_unit)
        parts.append(
            f'<circle cx="{_c(x_scale(x))}" cy="{_c(y_scale(y))}" r="4">{_title(tip)}</circle>'
        )
    parts.append("</g>")
    return "".join(parts)


def _point_tip(series: Series, index: int, x: float, y: float, x_unit: str) -> str:
    if series.tips is not None and index < len(series.tips):
        return series.tips[index]
    return f"{series.name}: {readable_number(y)} at {readable_number(x)} {x_unit}".strip()


def _draw_dots(
    series: Series,
    points: Sequence[tuple[float, float | None]],
    x_scale: _Scale,
    y_scale: _Scale,
) -> str:
    opacity = f' fill-opacity="{series.opacity:g}"' if series.opacity < 1 else ""
    parts = [f'<g fill="{series.color}"{opacity}>']
    for index, (x, y) in enumerate(points):
        if y is None:
            continue
        tip = series.tips[index] if series.tips is not None and index < len(series.tips) else ""
        parts.append(
            f'<circle cx="{_c(x_scale(x))}" cy="{_c(y_scale(y))}" r="2.2">{_title(tip)}</circle>'
        )
    parts.append("</g>")
    return "".join(parts)


def _draw_stack(stack: Stack, x_scale: _Scale, y_scale: _Scale, x_unit: str) -> str:
    parts: list[str] = ["<g>"]
    for index in range(max(len(stack.edges) - 1, 0)):
        x0, x1 = stack.edges[index], stack.edges[index + 1]
        if not (_finite(x0) and _finite(x1)):
            continue
        px0, px1 = x_scale(x0), x_scale(x1)
        gap = 0.6 if px1 - px0 >= 4 else 0.0  # separate wide bars; let narrow ones touch
        base = 0.0
        for layer in stack.layers:
            value = _bin_value(layer, index)
            if value <= 0:
                continue
            y_top, y_base = y_scale(base + value), y_scale(base)
            tip = (
                f"{layer.name}: {readable_number(value)} {stack.unit} "
                f"({readable_number(x0)}–{readable_number(x1)} {x_unit})"
            )
            parts.append(
                f'<rect x="{_c(px0 + gap / 2)}" y="{_c(y_top)}" width="{_c(px1 - px0 - gap)}" '
                f'height="{_c(y_base - y_top)}" fill="{layer.color}">{_title(tip)}</rect>'
            )
            base += value
    parts.append("</g>")
    return "".join(parts)


def _draw_bands(bands: Sequence[Band], x_scale: _Scale, left: float, top: float) -> str:
    parts: list[str] = ["<g>"]
    for row, band in enumerate(bands):
        y = top + 2 + row * 16
        parts.append(_text(left - 6, y + 11.5, _clip_text(band.label, 24), "end"))
        for x0, x1 in band.spans:
            if not (_finite(x0) and _finite(x1)):
                continue
            px0, px1 = x_scale(min(x0, x1)), x_scale(max(x0, x1))
            parts.append(
                f'<rect x="{_c(px0)}" y="{_c(y + 2)}" width="{_c(max(px1 - px0, 1.0))}" '
                f'height="12" fill="{band.color}">{_title(band.tip or band.label)}</rect>'
            )
    parts.append("</g>")
    return "".join(parts)


def _draw_markers(
    markers: Sequence[Marker], x_scale: _Scale, top: float, bottom: float, lo: float, hi: float
) -> list[str]:
    parts: list[str] = []
    for marker in markers:
        if not (_finite(marker.x) and lo <= marker.x <= hi):
            continue
        x = x_scale(marker.x)
        opacity = f' stroke-opacity="{marker.opacity:g}"' if marker.opacity < 1 else ""
        parts.append(
            f"<g>{_title(marker.tip)}"
            + _line(x, top, x, bottom, marker.color,
                    f' stroke-width="{marker.width_px:g}"{_dash_attr(marker.dash)}{opacity}')
            + _line(x, top, x, bottom, "transparent", ' stroke-width="6"')
            + "</g>"
        )  # fmt: skip
    return parts


# --- bar charts --------------------------------------------------------------------


def hbar_chart(
    bars: Sequence[Bar],
    *,
    x_label: str,
    width: float = 960,
    label: str = "",
    integer: bool = False,
) -> str:
    """Horizontal bars, one per row, labelled on the left and valued at the bar's end."""
    bars = [bar for bar in bars if _finite(bar.value) and bar.value >= 0]
    if not bars:
        return no_data(f"no data: {label}" if label else "no data", width)
    left = min(max(_text_w(_clip_text(bar.label, 40)) for bar in bars) + 16, width * 0.4)
    right = width - max(_text_w(bar.text) for bar in bars) - 16
    max_ticks = max(3, int((right - left) // 90))
    ticks = nice_ticks(0.0, max(bar.value for bar in bars), max_ticks, 1.0 if integer else 0.0)
    x_scale = _Scale(ticks[0], ticks[-1], left, right)
    row_h, top = 26.0, 8.0
    bottom = top + row_h * len(bars)
    parts: list[str] = []
    for tick in ticks:
        parts.append(_line(x_scale(tick), top, x_scale(tick), bottom, _GRID))
        parts.append(_text(x_scale(tick), bottom + 16, _tick_label(tick), "middle"))
    for row, bar in enumerate(bars):
        y = top + row * row_h
        tip = bar.tip or f"{bar.label}: {bar.text or readable_number(bar.value)}"
        parts.append(f"<g>{_title(tip)}")
        parts.append(_text(left - 8, y + 17, _clip_text(bar.label, 40), "end"))
        parts.append(_rect(left, y + 5, x_scale(bar.value) - left, row_h - 10, bar.color))
        parts.append(_text(x_scale(bar.value) + 6, y + 17, bar.text))
        parts.append("</g>")
    parts.append(_line(left, top, left, bottom, _AXIS))
    parts.append(_text((left + right) / 2, bottom + 36, x_label, "middle", f' fill="{_MUTED}"'))
    return _svg(width, bottom + 46, parts, label or x_label)


def column_chart(
    bars: Sequence[Bar],
    *,
    x_label: str,
    y_label: str,
    width: float = 960,
    height: float = 300,
    label: str = "",
    integer: bool = False,
) -> str:
    """Vertical bars over categories; category labels are thinned so they never overlap."""
    bars = [bar for bar in bars if _finite(bar.value) and bar.value >= 0]
    if not bars:
        return no_data(f"no data: {label}" if label else "no data", width)
    top_value = max(bar.value for bar in bars) or 1.0
    ticks = nice_ticks(0.0, top_value, 6, 1.0 if integer else 0.0)
    left = max(_text_w(_tick_label(t)) for t in ticks) + 16
    right, top, bottom = width - 12, 24.0, height - 44
    y_scale = _Scale(ticks[0], ticks[-1], bottom, top)
    column_w = (right - left) / len(bars)
    every = max(1, math.ceil((max(_text_w(b.label) for b in bars) + 8) / column_w))
    parts = [_text(left, top - 10, y_label, extra=f' fill="{_MUTED}"')]
    for tick in ticks:
        parts.append(_line(left, y_scale(tick), right, y_scale(tick), _GRID))
        parts.append(_text(left - 6, y_scale(tick) + 4, _tick_label(tick), "end"))
    for index, bar in enumerate(bars):
        x = left + index * column_w
        tip = bar.tip or f"{bar.label}: {bar.text or readable_number(bar.value)}"
        gap = min(2.0, column_w * 0.15)
        parts.append(
            f'<rect x="{_c(x + gap)}" y="{_c(y_scale(bar.value))}" '
            f'width="{_c(column_w - 2 * gap)}" height="{_c(bottom - y_scale(bar.value))}" '
            f'fill="{bar.color}">{_title(tip)}</rect>'
        )
        if bar.text and _text_w(bar.text, 11) + 4 <= column_w:
            parts.append(
                _text(x + column_w / 2, y_scale(bar.value) - 4, bar.text, "middle", _SMALL)
            )
        if index % every == 0:
            parts.append(_text(x + column_w / 2, bottom + 16, bar.label, "middle"))
    parts.append(_line(left, bottom, right, bottom, _AXIS))
    parts.append(_text((left + right) / 2, bottom + 36, x_label, "middle", f' fill="{_MUTED}"'))
    return _svg(width, height, parts, label or x_label)


# --- geometry on the sphere --------------------------------------------------------


def coverage_angle_deg(
    alt_km: float, min_elevation_deg: float, radius_km: float = EARTH_MEAN_RADIUS_KM
) -> float:
    """The earth-central angle from a station to the edge of its coverage.

    A satellite at ``alt_km`` is seen at ``min_elevation_deg`` or more when it is within
    this angle of the station: lambda = arccos(R cos(eps) / (R + h)) - eps.
    """
    eps = math.radians(min_elevation_deg)
    ratio = radius_km * math.cos(eps) / (radius_km + alt_km)
    if not (alt_km > 0 and -1 <= ratio <= 1):
        return 0.0
    return max(math.degrees(math.acos(ratio) - eps), 0.0)


def wrap_lon(lon_deg: float) -> float:
    """A longitude in [-180, 180)."""
    return (lon_deg + 180.0) % 360.0 - 180.0


def small_circle(
    lat_deg: float, lon_deg: float, radius_deg: float, n_points: int = 120
) -> list[LonLat]:
    """Points (lon, lat) at ``radius_deg`` of arc around a place, closed (first == last)."""
    if not (radius_deg > 0 and n_points >= 3):
        return []
    phi, lam, delta = (math.radians(v) for v in (lat_deg, lon_deg, radius_deg))
    points: list[LonLat] = []
    for index in range(n_points + 1):
        bearing = 2 * math.pi * (index % n_points) / n_points
        sin_lat = math.sin(phi) * math.cos(delta) + math.cos(phi) * math.sin(delta) * math.cos(
            bearing
        )
        lat = math.asin(max(-1.0, min(1.0, sin_lat)))
        lon = lam + math.atan2(
            math.sin(bearing) * math.sin(delta) * math.cos(phi),
            math.cos(delta) - math.sin(phi) * sin_lat,
        )
        points.append((wrap_lon(math.degrees(lon)), math.degrees(lat)))
    return points


def split_antimeridian(points: Sequence[LonLat]) -> list[list[LonLat]]:
    """Split a path of (lon, lat) where it crosses +-180 deg, closing each piece at the edge.

    A step of more than 180 deg in longitude is taken to be the short way round, across
    the antimeridian; the latitude there is interpolated linearly.
    """
    pieces: list[list[LonLat]] = []
    current: list[LonLat] = []
    for lon, lat in points:
        if not (_finite(lon) and _finite(lat)):
            continue
        if current and abs(lon - current[-1][0]) > 180:
            prev_lon, prev_lat = current[-1]
            edge = 180.0 if lon < prev_lon else -180.0
            unwrapped = lon + 360.0 if edge > 0 else lon - 360.0
            fraction = (edge - prev_lon) / (unwrapped - prev_lon)
            lat_edge = prev_lat + fraction * (lat - prev_lat)
            current.append((edge, lat_edge))
            pieces.append(current)
            current = [(-edge, lat_edge)]
        current.append((lon, lat))
    if current:
        pieces.append(current)
    return pieces


# --- the map -----------------------------------------------------------------------


def geo_map(
    tracks: Sequence[Track],
    sites: Sequence[Site],
    *,
    width: float = 960,
    label: str = "map",
) -> str:
    """An equirectangular world map (graticule every 30 deg) with tracks and sites.

    Tracks are drawn as polylines split at the antimeridian with their last point marked;
    sites as squares with their name and, if given, a closed coverage line.
    """
    left, right = 44.0, width - 16
    items = [_LegendItem("line", t.name, t.color, t.dash) for t in tracks]
    legend_svg, legend_h = _legend(items, left, right)
    top = legend_h + 10
    map_h = (right - left) / 2
    bottom = top + map_h
    lon_scale = _Scale(-180, 180, left, right)
    lat_scale = _Scale(-90, 90, bottom, top)
    parts = [legend_svg, _rect(left, top, right - left, map_h, "#f3f7fb", f' stroke="{_AXIS}"')]
    parts.append(_graticule(lon_scale, lat_scale))
    parts.extend(_draw_site_circle(site, lon_scale, lat_scale) for site in sites)
    parts.extend(_draw_track(track, lon_scale, lat_scale) for track in tracks)
    parts.extend(_draw_sites(sites, lon_scale, lat_scale, (left, top, right, bottom)))
    if not tracks and not sites:
        parts.append(_text((left + right) / 2, top + map_h / 2, "no positions", "middle"))
    return _svg(width, bottom + 24, parts, label)


def _graticule(lon_scale: _Scale, lat_scale: _Scale) -> str:
    parts = ['<g font-size="11">']
    for lon in range(-180, 181, 30):
        x = lon_scale(lon)
        parts.append(_line(x, lat_scale(90), x, lat_scale(-90), "#d5dde6"))
        parts.append(_text(x, lat_scale(-90) + 15, f"{lon}°", "middle", f' fill="{_MUTED}"'))
    for lat in range(-90, 91, 30):
        y = lat_scale(lat)
        stroke = "#b8c4d0" if lat == 0 else "#d5dde6"
        parts.append(_line(lon_scale(-180), y, lon_scale(180), y, stroke))
        parts.append(_text(lon_scale(-180) - 5, y + 4, f"{lat}°", "end", f' fill="{_MUTED}"'))
    parts.append("</g>")
    return "".join(parts)


def _draw_track(track: Track, lon_scale: _Scale, lat_scale: _Scale) -> str:
    pieces = split_antimeridian(track.points)
    if not pieces:
        return ""
    stroke = (
        f'fill="none" stroke="{track.color}" stroke-width="1.6" stroke-linejoin="round"'
        f"{_dash_attr(track.dash)}"
    )
    parts = [f"<g>{_title(track.name)}"]
    for piece in pieces:
        parts.append(f'<polyline points="{_polyline(piece, lon_scale, lat_scale)}" {stroke}/>')
    lon, lat = pieces[-1][-1]
    parts.append(
        f'<circle cx="{_c(lon_scale(lon))}" cy="{_c(lat_scale(lat))}" r="4.5" '
        f'fill="{track.color}" stroke="#ffffff" stroke-width="1.5">'
        f"{_title(f'{track.name}: last position {lat:.1f}°, {lon:.1f}°')}</circle></g>"
    )
    return "".join(parts)


def _draw_site_circle(site: Site, lon_scale: _Scale, lat_scale: _Scale) -> str:
    pieces = split_antimeridian(site.circle)
    if not pieces:
        return ""
    fill = "#55555514" if len(pieces) == 1 else "none"  # a split ring cannot be filled simply
    parts = [f"<g>{_title(site.tip or site.name)}"]
    for piece in pieces:
        parts.append(
            f'<polyline points="{_polyline(piece, lon_scale, lat_scale)}" fill="{fill}" '
            f'stroke="#555555" stroke-width="1" stroke-dasharray="3 2"/>'
        )
    parts.append("</g>")
    return "".join(parts)


_Box = tuple[float, float, float, float]  # left, top, right, bottom


def _overlaps(box: _Box, others: Iterable[_Box]) -> bool:
    return any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in others)


def _draw_sites(
    sites: Sequence[Site], lon_scale: _Scale, lat_scale: _Scale, frame: _Box
) -> list[str]:
    """Site squares with names placed greedily where they overlap no other name or square.

    A name that fits nowhere is left out; the square's tooltip still gives it.
    """
    places = [
        (site, lon_scale(wrap_lon(site.lon_deg)), lat_scale(site.lat_deg))
        for site in sites
        if _finite(site.lon_deg) and _finite(site.lat_deg)
    ]
    taken: list[_Box] = [(x - 5, y - 5, x + 5, y + 5) for _, x, y in places]
    parts: list[str] = []
    for site, x, y in places:
        parts.append(
            f"<g>{_title(site.tip or site.name)}"
            + _rect(x - 4, y - 4, 8, 8, _INK, ' stroke="#ffffff" stroke-width="1"')
            + _site_label(site.name, x, y, frame, taken)
            + "</g>"
        )
    return parts


def _site_label(name: str, x: float, y: float, frame: _Box, taken: list[_Box]) -> str:
    width = _text_w(name, 11)
    for dx, baseline_dy in ((7, -6), (7, 15), (-7, -6), (-7, 15)):
        left = x + dx if dx > 0 else x + dx - width
        box = (left, y + baseline_dy - 10, left + width, y + baseline_dy + 2)
        inside = frame[0] <= box[0] and box[2] <= frame[2] and frame[1] <= box[1]
        if inside and box[3] <= frame[3] and not _overlaps(box, taken):
            taken.append(box)
            halo = ' font-size="11" stroke="#ffffff" stroke-width="3" paint-order="stroke"'
            return _text(left, y + baseline_dy, name, extra=halo)
    return ""
