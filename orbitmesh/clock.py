"""The one simulated clock: ``t_sim = start + speed * (wall - wall0)``.

Every process of an emulation (orchestrator, gateways, satellites) builds the same
:class:`SimClock` from the same three numbers, so they agree on simulated time without
talking to each other. Wall time is the Unix epoch clock, comparable across machines
kept in step by NTP.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["SimClock"]


@dataclass(frozen=True)
class SimClock:
    start: datetime  # simulated instant at wall0 (UTC)
    speed: float  # simulated seconds per wall second
    wall0: float  # Unix time at which the simulation started

    @classmethod
    def starting_now(cls, start: datetime, speed: float) -> SimClock:
        return cls(start=start, speed=speed, wall0=time.time())

    def offset_s(self, wall: float | None = None) -> float:
        """Simulated seconds since ``start`` at a wall time (default: now)."""
        return self.speed * ((time.time() if wall is None else wall) - self.wall0)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.offset_s())

    def wall_of(self, offset_s: float) -> float:
        """The wall time at which simulated offset ``offset_s`` is reached."""
        return self.wall0 + offset_s / self.speed

    def wall_seconds(self, sim_seconds: float) -> float:
        """How long a simulated duration lasts in wall time."""
        return sim_seconds / self.speed
