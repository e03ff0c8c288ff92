"""When an open-loop load test sends its requests: arrival schedules (pure).

A schedule is a request rate over time, ``rate_per_s(t_s)`` for ``0 <= t_s < duration_s``,
and the arrival instants it implies. The deterministic schedules put the k-th arrival
where the expected count reaches k (``Λ(t_k) = k`` with ``Λ`` the integral of the rate),
so a constant 10/s sends at 0, 0.1, 0.2, ... s; ``poisson`` draws exponential gaps
instead, the arrival process of many independent users.

- ``const``: ``rps`` throughout;
- ``step``: ``steps`` equal plateaus rising from ``rps / steps`` to ``rps``;
- ``ramp``: linear from ``start_rps`` to ``rps``;
- ``poisson``: a Poisson process of rate ``rps`` (seeded, repeatable).

Arrivals are generated lazily: a long run at a high rate never holds them all.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Schedule", "ScheduleKind"]


class ScheduleKind(StrEnum):
    CONST = "const"
    STEP = "step"
    RAMP = "ramp"
    POISSON = "poisson"


@dataclass(frozen=True)
class Schedule:
    kind: ScheduleKind
    rps: float
    duration_s: float
    steps: int = 5
    start_rps: float | None = None  # ramp: the rate at t = 0 (default rps / 10)
    seed: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.rps) and self.rps > 0):
            problems.append(f"rps must be a positive number, got {self.rps}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            problems.append(f"duration must be a positive number of seconds, got {self.duration_s}")
        if self.steps < 1:
            problems.append(f"steps must be at least 1, got {self.steps}")
        if self.start_rps is not None and not (
            math.isfinite(self.start_rps) and self.start_rps >= 0
        ):
            problems.append(f"start rps must be a number >= 0, got {self.start_rps}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def ramp_start_rps(self) -> float:
        return self.rps / 10 if self.start_rps is None else self.start_rps

    def rate_per_s(self, t_s: float) -> float:
        """The intended request rate at ``t_s`` seconds into the schedule."""
        if self.kind is ScheduleKind.STEP:
            step = min(self.steps - 1, int(t_s / self.duration_s * self.steps))
            return self.rps * (step + 1) / self.steps
        if self.kind is ScheduleKind.RAMP:
            r0 = self.ramp_start_rps
            return r0 + (self.rps - r0) * min(1.0, t_s / self.duration_s)
        return self.rps

    def expected_count(self, t_s: float) -> float:
        """``Λ(t)``: requests the schedule intends to send in ``[0, t_s)``."""
        t_s = min(max(t_s, 0.0), self.duration_s)
        if self.kind is ScheduleKind.STEP:
            plateau_s = self.duration_s / self.steps
            full = min(self.steps, int(t_s / plateau_s))
            count = sum(self.rps * (i + 1) / self.steps * plateau_s for i in range(full))
            if full < self.steps:
                count += self.rps * (full + 1) / self.steps * (t_s - full * plateau_s)
            return count
        if self.kind is ScheduleKind.RAMP:
            r0 = self.ramp_start_rps
            return r0 * t_s + (self.rps - r0) * t_s * t_s / (2 * self.duration_s)
        return self.rps * t_s

    def arrivals(self) -> Iterator[float]:
        """Arrival instants in seconds from the start, increasing, all < duration."""
        if self.kind is ScheduleKind.POISSON:
            yield from self._poisson()
        elif self.kind is ScheduleKind.CONST:
            k = 0
            while (t := k / self.rps) < self.duration_s:
                yield t
                k += 1
        elif self.kind is ScheduleKind.STEP:
            yield from self._step()
        else:
            yield from self._ramp()

    def _poisson(self) -> Iterator[float]:
        rng = random.Random(self.seed)
        t = rng.expovariate(self.rps)
        while t < self.duration_s:
            yield t
            t += rng.expovariate(self.rps)

    def _step(self) -> Iterator[float]:
        plateau_s = self.duration_s / self.steps
        before = 0.0  # arrivals due before the current plateau (fractional)
        k = 0
        for i in range(self.steps):
            rate = self.rps * (i + 1) / self.steps
            start_s = i * plateau_s
            while (t := start_s + (k - before) / rate) < start_s + plateau_s:
                yield t
                k += 1
            before += rate * plateau_s

    def _ramp(self) -> Iterator[float]:
        r0, r1, d = self.ramp_start_rps, self.rps, self.duration_s
        a = (r1 - r0) / (2 * d)  # Λ(t) = a t² + r0 t
        k = 0
        while True:
            if k == 0:
                t = 0.0
            elif a == 0:
                t = k / r0
            else:
                # The positive root of a t² + r0 t - k = 0, in the form that stays exact
                # when a is tiny (no cancellation between r0 and the square root).
                t = 2 * k / (r0 + math.sqrt(r0 * r0 + 4 * a * k))
            if t >= d:
                return
            yield t
            k += 1
