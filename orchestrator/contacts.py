"""Contact windows between ground stations and satellites.

Elevation is sampled for every station and satellite on a coarse grid (vectorised,
chunked in time to bound memory). Brackets where a pair crosses its mask are refined by
bisection to well under a millisecond, and near-misses (a sampled local maximum just
below the mask) are searched for a peak so that short grazing passes between two
samples are not lost. Maximum elevation comes from a golden-section search per window.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from orbitmesh.orchestrator.geometry import GeometryEngine
from orbitmesh.orchestrator.orbits import times_at

__all__ = ["Contact", "find_contacts"]

ProgressFn = Callable[[float, float], None]

#: Coarse sampling step; passes shorter than this are caught by the near-miss search.
COARSE_STEP_S = 10.0
#: A sampled local maximum within this many degrees under the mask gets a peak search.
NEAR_MISS_DEG = 3.0
_BISECTION_ROUNDS = 24  # a 10 s bracket shrinks to 0.6 microseconds
_GOLDEN_ROUNDS = 40
_CHUNK_SAMPLES = 64
#: Memory a chunk of the coarse pass may take: per station/satellite pair and sample, the
#: elevation sine and the masks and brackets derived from it (preflight.py's
#: CONTACT_PAIR_SAMPLE_BYTES); a million satellites over 16 stations get one new sample a
#: chunk.
CHUNK_BYTES = 2 * 2**30


def chunk_samples(n_sats: int, n_stations: int) -> int:
    """New coarse samples per chunk (two more are carried over from the chunk before)."""
    from orbitmesh.orchestrator.preflight import CONTACT_PAIR_SAMPLE_BYTES

    per_sample = CONTACT_PAIR_SAMPLE_BYTES * max(1, n_sats * n_stations)
    return int(min(_CHUNK_SAMPLES, max(1, CHUNK_BYTES // per_sample - 2)))


@njit(nogil=True, cache=True)
def _sin_elevations(
    positions_km: NDArray[np.float64],
    valid: NDArray[np.bool_],
    station_km: NDArray[np.float64],
    up: NDArray[np.float64],
    out: NDArray[np.float64],
) -> None:
    """Sine of every satellite's elevation from every station, (T, M, N); -2 where the
    satellite has no position. Stations' positions and up vectors are (T, M, 3): a
    terminal moves. One pass, no (T, M, N, 3) temporaries."""
    for t in range(positions_km.shape[0]):
        for m in range(station_km.shape[1]):
            sx, sy, sz = station_km[t, m, 0], station_km[t, m, 1], station_km[t, m, 2]
            ux, uy, uz = up[t, m, 0], up[t, m, 1], up[t, m, 2]
            for n in range(positions_km.shape[1]):
                if not valid[t, n]:
                    out[t, m, n] = -2.0
                    continue
                rx = positions_km[t, n, 0] - sx
                ry = positions_km[t, n, 1] - sy
                rz = positions_km[t, n, 2] - sz
                out[t, m, n] = (rx * ux + ry * uy + rz * uz) / np.sqrt(rx * rx + ry * ry + rz * rz)


@dataclass(frozen=True)
class Contact:
    station: int
    satellite: int
    start_s: float  # seconds since the scenario start
    end_s: float
    max_elevation_deg: float
    max_elevation_s: float
    start_clipped: bool  # already in contact when the searched interval began
    end_clipped: bool  # still in contact when the searched interval ended

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class _Evaluator:
    """Elevation sine of (station[k], satellite[k]) at offset[k], for refinement."""

    def __init__(self, engine: GeometryEngine) -> None:
        self.engine = engine

    def sin_elevation(
        self, station: NDArray[np.intp], sat: NDArray[np.intp], offset_s: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        if len(sat) == 0:
            return np.empty(0)
        pos = self.engine.propagator.itrs_km_pairs(
            sat, times_at(self.engine.start, offset_s), shifted=True
        )
        origin, up = self.engine.stations.frames_at(station, offset_s)
        rel = pos - origin
        out = np.einsum("ij,ij->i", rel, up) / np.linalg.norm(rel, axis=1)
        return np.asarray(np.nan_to_num(out, nan=-2.0), dtype=np.float64)


def _bisect(
    ev: _Evaluator,
    station: NDArray[np.intp],
    sat: NDArray[np.intp],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    sin_mask: NDArray[np.float64],
    rising: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """Crossing times inside [lo, hi]: rising pairs go below->above, setting the reverse."""
    lo, hi = lo.copy(), hi.copy()
    for _ in range(_BISECTION_ROUNDS):
        mid = 0.5 * (lo + hi)
        above = ev.sin_elevation(station, sat, mid) >= sin_mask
        # For a rise the crossing lies after mid if mid is still below.
        move_lo = np.where(rising, ~above, above)
        lo = np.where(move_lo, mid, lo)
        hi = np.where(move_lo, hi, mid)
    return 0.5 * (lo + hi)


def _golden_max(
    ev: _Evaluator,
    station: NDArray[np.intp],
    sat: NDArray[np.intp],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Time and sine of the maximum elevation in [lo, hi] (unimodal inside)."""
    r = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = lo.copy(), hi.copy()
    c = b - r * (b - a)
    d = a + r * (b - a)
    fc = ev.sin_elevation(station, sat, c)
    fd = ev.sin_elevation(station, sat, d)
    for _ in range(_GOLDEN_ROUNDS):
        left = fc > fd  # the maximum lies in [a, d]: drop (d, b]; else drop [a, c)
        b = np.where(left, d, b)
        a = np.where(left, a, c)
        # One interior point carries over; only the other one is evaluated.
        new_c = np.where(left, b - r * (b - a), d)
        new_d = np.where(left, c, a + r * (b - a))
        fp = ev.sin_elevation(station, sat, np.where(left, new_c, new_d))
        fc, fd = np.where(left, fp, fd), np.where(left, fc, fp)
        c, d = new_c, new_d
    t = 0.5 * (a + b)
    return t, ev.sin_elevation(station, sat, t)


def find_contacts(
    engine: GeometryEngine,
    start_s: float = 0.0,
    duration_s: float | None = None,
    *,
    coarse_step_s: float = COARSE_STEP_S,
    progress: ProgressFn | None = None,
) -> list[Contact]:
    """Every station/satellite contact window within [start_s, start_s + duration_s]."""
    duration = engine.scenario.time.duration_s if duration_s is None else duration_s
    if duration <= 0:
        raise ValueError(f"duration must be > 0 s, got {duration}")
    stations = engine.stations
    m, n = stations.size, engine.catalog.size
    if m == 0 or n == 0:
        return []
    end_s = start_s + duration
    steps = max(1, math.ceil(duration / coarse_step_s))
    grid = np.minimum(start_s + np.arange(steps + 1) * coarse_step_s, end_s)
    sin_mask = np.sin(np.radians(stations.mask_deg))
    near_sin = np.sin(np.radians(np.maximum(stations.mask_deg - NEAR_MISS_DEG, -90.0)))
    ev = _Evaluator(engine)
    # Event lists: (station, satellite, lo, hi) brackets.
    rises: list[NDArray[np.int64]] = []
    sets: list[NDArray[np.int64]] = []
    peaks: list[NDArray[np.int64]] = []
    open_at_start: NDArray[np.bool_] | None = None
    open_at_end: NDArray[np.bool_] | None = None
    prev: NDArray[np.float64] | None = None  # the last two samples of the previous chunk

    chunk = chunk_samples(n, m)
    for lo in range(0, len(grid), chunk):
        idx = np.arange(lo, min(lo + chunk, len(grid)))
        pos, valid = engine.positions(grid[idx])
        frames = [stations.frames(float(off)) for off in grid[idx]]
        station_km = np.ascontiguousarray(np.stack([f[0] for f in frames]), dtype=np.float64)
        up_unit = np.ascontiguousarray(np.stack([f[1][:, 2, :] for f in frames]))
        s = np.empty((len(idx), m, n))
        _sin_elevations(
            np.ascontiguousarray(pos), np.ascontiguousarray(valid), station_km, up_unit, s
        )
        if prev is not None:
            s = np.concatenate([prev, s])
            idx = np.concatenate([idx[:1] - len(prev) + np.arange(len(prev)), idx])
        else:
            open_at_start = s[0] >= sin_mask[:, None]
        above = s >= sin_mask[None, :, None]
        change = above[1:] != above[:-1]
        k, st, sat = np.nonzero(change)
        rising = above[k + 1, st, sat]
        rec = np.stack([st, sat, idx[k], idx[k + 1]], axis=1)
        # Drop brackets already found in the previous chunk (the carried samples).
        fresh = idx[k + 1] >= lo if prev is not None else np.ones(len(k), dtype=bool)
        rises.append(rec[rising & fresh])
        sets.append(rec[~rising & fresh])
        if len(s) >= 3:
            mid = s[1:-1]
            is_peak = (mid > s[:-2]) & (mid >= s[2:]) & (mid < sin_mask[None, :, None])
            is_peak &= mid >= near_sin[None, :, None]
            k2, st2, sat2 = np.nonzero(is_peak)
            fresh2 = idx[k2 + 2] >= lo if prev is not None else np.ones(len(k2), dtype=bool)
            peaks.append(np.stack([st2, sat2, idx[k2], idx[k2 + 2]], axis=1)[fresh2])
        prev = s[-2:]
        open_at_end = s[-1] >= sin_mask[:, None]
        if progress is not None:
            progress(float(grid[idx[-1]] - start_s), duration)

    assert open_at_start is not None and open_at_end is not None
    rise = np.concatenate(rises)
    fall = np.concatenate(sets)
    peak = np.concatenate(peaks)

    # Near-misses: find the true peak; if it clears the mask, it is a short pass.
    extra_rise: list[NDArray[np.float64]] = []
    extra_set: list[NDArray[np.float64]] = []
    if len(peak):
        st, sat = peak[:, 0], peak[:, 1]
        t_peak, s_peak = _golden_max(ev, st, sat, grid[peak[:, 2]], grid[peak[:, 3]])
        hit = s_peak >= sin_mask[st]
        if hit.any():
            st, sat, t_peak = st[hit], sat[hit], t_peak[hit]
            lo_t, hi_t = grid[peak[hit, 2]], grid[peak[hit, 3]]
            t_rise = _bisect(ev, st, sat, lo_t, t_peak, sin_mask[st], np.ones(len(st), dtype=bool))
            t_set = _bisect(ev, st, sat, t_peak, hi_t, sin_mask[st], np.zeros(len(st), dtype=bool))
            extra_rise.append(np.stack([st, sat, t_rise], axis=1))
            extra_set.append(np.stack([st, sat, t_set], axis=1))

    def refine(rec: NDArray[np.int64], is_rise: bool) -> NDArray[np.float64]:
        if len(rec) == 0:
            return np.empty((0, 3))
        st, sat = rec[:, 0], rec[:, 1]
        t = _bisect(
            ev, st, sat, grid[rec[:, 2]], grid[rec[:, 3]], sin_mask[st], np.full(len(st), is_rise)
        )
        return np.stack([st, sat, t], axis=1)

    all_rise = np.concatenate([refine(rise, True), *extra_rise])
    all_set = np.concatenate([refine(fall, False), *extra_set])
    starts_open = np.argwhere(open_at_start)
    ends_open = np.argwhere(open_at_end)
    all_rise = np.concatenate(
        [all_rise, np.column_stack([starts_open, np.full(len(starts_open), start_s)])]
    )
    all_set = np.concatenate(
        [all_set, np.column_stack([ends_open, np.full(len(ends_open), end_s)])]
    )

    # Pair rises and sets per (station, satellite) in time order.
    order_r = np.lexsort((all_rise[:, 2], all_rise[:, 1], all_rise[:, 0]))
    order_s = np.lexsort((all_set[:, 2], all_set[:, 1], all_set[:, 0]))
    all_rise, all_set = all_rise[order_r], all_set[order_s]
    if len(all_rise) != len(all_set) or not np.array_equal(all_rise[:, :2], all_set[:, :2]):
        raise RuntimeError(
            "contact search found unpaired rise/set events; please report this scenario"
        )
    st = all_rise[:, 0].astype(np.intp)
    sat = all_rise[:, 1].astype(np.intp)
    t0, t1 = all_rise[:, 2], all_set[:, 2]
    t_max, s_max = _window_maxima(ev, st, sat, t0, t1)
    elevation = np.degrees(np.arcsin(np.clip(s_max, -1.0, 1.0)))
    contacts = [
        Contact(
            station=int(st[i]),
            satellite=int(sat[i]),
            start_s=float(t0[i]),
            end_s=float(t1[i]),
            max_elevation_deg=float(elevation[i]),
            max_elevation_s=float(t_max[i]),
            start_clipped=bool(t0[i] <= start_s),
            end_clipped=bool(t1[i] >= end_s),
        )
        for i in range(len(st))
    ]
    contacts.sort(key=lambda c: (c.start_s, c.station, c.satellite))
    return contacts


def _window_maxima(
    ev: _Evaluator,
    station: NDArray[np.intp],
    sat: NDArray[np.intp],
    t0: NDArray[np.float64],
    t1: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Peak of each window: best of 16 samples, then a golden-section search around it."""
    if len(station) == 0:
        return np.empty(0), np.empty(0)
    samples = 16
    frac = np.linspace(0.0, 1.0, samples)
    times = t0[:, None] + (t1 - t0)[:, None] * frac[None, :]
    values = ev.sin_elevation(
        np.repeat(station, samples), np.repeat(sat, samples), times.ravel()
    ).reshape(-1, samples)
    best = np.argmax(values, axis=1)
    width = (t1 - t0) / (samples - 1)
    lo = np.maximum(t0, times[np.arange(len(t0)), best] - width)
    hi = np.minimum(t1, times[np.arange(len(t0)), best] + width)
    return _golden_max(ev, station, sat, lo, hi)
