"""Link state as the data path sees it: routes and satellite status, tick by tick.

The orchestrator publishes, for every ground station (and every compute satellite),
a :class:`LinkState` per geometry tick: the route to every compute satellite it can
reach, what it sees overhead, and the latest status of every compute satellite. A
:class:`LinkTimeline` keeps the recent and upcoming ticks and answers "which route
holds at simulated time t" without waiting on the orchestrator. Pure data: no Ray, no
gRPC, no numpy.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["LinkState", "LinkTimeline", "Route", "SatelliteInfo", "VisibleSatellite"]


@dataclass(frozen=True)
class Route:
    """A path at one tick: node ids from source to target, and each link's figures."""

    hops: tuple[str, ...]
    delays_ms: tuple[float, ...]  # one-way propagation of each link (len(hops) - 1)
    rates_mbps: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.hops) < 2 or len(self.delays_ms) != len(self.hops) - 1:
            raise ValueError(f"a route needs n >= 2 hops and n - 1 links, got {self}")
        if len(self.rates_mbps) != len(self.delays_ms):
            raise ValueError(f"one rate per link, got {self}")

    @property
    def delay_ms(self) -> float:
        return sum(self.delays_ms)

    @property
    def bottleneck_mbps(self) -> float:
        return min(self.rates_mbps)

    @property
    def links(self) -> tuple[tuple[str, str], ...]:
        return tuple(zip(self.hops, self.hops[1:], strict=False))

    @property
    def source(self) -> str:
        return self.hops[0]

    @property
    def target(self) -> str:
        return self.hops[-1]

    def reversed(self) -> Route:
        return Route(self.hops[::-1], self.delays_ms[::-1], self.rates_mbps[::-1])


@dataclass(frozen=True)
class VisibleSatellite:
    satellite_id: str
    elevation_deg: float
    azimuth_deg: float
    range_km: float
    delay_ms: float


@dataclass(frozen=True)
class SatelliteInfo:
    """What the data path knows about a compute satellite (from its last status)."""

    satellite_id: str
    address: str
    models: tuple[str, ...] = ()
    queue_depth: int = 0
    running: int = 0
    queue_capacity: int = 1
    state_of_charge: float = 1.0
    temperature_c: float = 20.0
    accepting_power: bool = True
    accepting_thermal: bool = True
    throttled: bool = False
    sunlit: bool = True


@dataclass(frozen=True)
class LinkState:
    """One tick of link state for one node (a ground station or a compute satellite)."""

    tick: int
    offset_s: float  # simulated seconds since the scenario start
    step_s: float
    routes: Mapping[str, Route] = field(default_factory=dict)  # target satellite -> route
    visible: tuple[VisibleSatellite, ...] = ()

    @property
    def end_s(self) -> float:
        return self.offset_s + self.step_s


class LinkTimeline:
    """The ticks a node has received, in time order; the latest tick at or before a time
    holds until the next one.

    A lookup past the end of the last tick still answers with the last tick (the data
    path never waits for geometry) and counts the lookup as *late*.
    """

    def __init__(self, keep_s: float = 120.0) -> None:
        self.keep_s = keep_s
        self._starts: list[float] = []
        self._states: list[LinkState] = []
        self.late_lookups = 0
        self.received = 0

    def add(self, states: Iterable[LinkState]) -> None:
        for state in states:
            self.received += 1
            i = bisect.bisect_left(self._starts, state.offset_s)
            if i < len(self._starts) and self._starts[i] == state.offset_s:
                self._states[i] = state  # a republished tick (e.g. fresher satellite status)
            else:
                self._starts.insert(i, state.offset_s)
                self._states.insert(i, state)

    def prune(self, now_s: float) -> None:
        """Forget ticks that ended more than ``keep_s`` before ``now_s``."""
        cut = bisect.bisect_right(self._starts, now_s - self.keep_s) - 1
        if cut > 0:
            del self._starts[:cut]
            del self._states[:cut]

    def at(self, offset_s: float) -> LinkState | None:
        i = bisect.bisect_right(self._starts, offset_s) - 1
        if i < 0:
            return None
        state = self._states[i]
        if i == len(self._states) - 1 and offset_s >= state.end_s:
            self.late_lookups += 1
        return state

    def route(self, target: str, offset_s: float) -> Route | None:
        state = self.at(offset_s)
        return None if state is None else state.routes.get(target)

    @property
    def horizon_s(self) -> float:
        """Simulated time up to which ticks are known (-inf when none)."""
        return self._states[-1].end_s if self._states else float("-inf")

    def __len__(self) -> int:
        return len(self._states)
