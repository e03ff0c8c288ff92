"""Cumulative duration histograms, kept where requests finish and read by scrapers (pure).

A :class:`Histogram` counts observations into fixed buckets with the Prometheus meaning
of a bucket: an observation ``v`` falls in every bucket whose upper bound ``le >= v``.
Bounds are fixed for the life of a process so that successive reads can be subtracted,
and a :class:`HistogramSnapshot` is what leaves the process (in a status message, over
Ray): cumulative counts, total count and sum.

Shared by satellites (queue + inference time of served requests) and ground gateways
(wall time per request, by outcome).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_BOUNDS_S", "Histogram", "HistogramSnapshot"]

#: Upper bounds in seconds: half a millisecond (a cheap inference) to half a minute (a
#: long queue or a multi-hop pipeline), about three buckets per decade.
DEFAULT_BOUNDS_S: Final[tuple[float, ...]] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


@dataclass(frozen=True)
class HistogramSnapshot:
    """A histogram's counts at one moment, cumulative per bucket."""

    upper_bounds_s: tuple[float, ...]
    #: Observations ``<= upper_bounds_s[i]``, one per bound.
    cumulative_counts: tuple[int, ...]
    #: All observations (the implicit ``+Inf`` bucket).
    count: int
    sum_s: float

    @classmethod
    def empty(cls, upper_bounds_s: Sequence[float] = DEFAULT_BOUNDS_S) -> HistogramSnapshot:
        bounds = tuple(upper_bounds_s)
        return cls(bounds, (0,) * len(bounds), 0, 0.0)


class Histogram:
    """Counts of durations in fixed buckets, plus their sum."""

    def __init__(self, upper_bounds_s: Sequence[float] = DEFAULT_BOUNDS_S) -> None:
        bounds = tuple(float(b) for b in upper_bounds_s)
        if not bounds or any(not math.isfinite(b) for b in bounds):
            raise ValueError(f"upper bounds must be finite and non-empty, got {bounds}")
        if any(a >= b for a, b in itertools.pairwise(bounds)):
            raise ValueError(f"upper bounds must increase strictly, got {bounds}")
        self.upper_bounds_s = bounds
        # Per-bucket (not cumulative) counts; the last slot holds what exceeds every bound.
        self._counts = [0] * (len(bounds) + 1)
        self._sum_s = 0.0

    def observe(self, value_s: float) -> None:
        if not math.isfinite(value_s):
            raise ValueError(f"cannot observe {value_s}")
        # bisect_left: a value equal to a bound belongs to that bound's bucket (le is <=).
        self._counts[bisect.bisect_left(self.upper_bounds_s, value_s)] += 1
        self._sum_s += value_s

    @property
    def count(self) -> int:
        return sum(self._counts)

    def snapshot(self) -> HistogramSnapshot:
        cumulative: list[int] = []
        running = 0
        for n in self._counts[:-1]:
            running += n
            cumulative.append(running)
        return HistogramSnapshot(
            upper_bounds_s=self.upper_bounds_s,
            cumulative_counts=tuple(cumulative),
            count=running + self._counts[-1],
            sum_s=self._sum_s,
        )
