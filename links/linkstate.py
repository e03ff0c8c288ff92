"""Link state as the data path sees it: the link graph of each tick, kept in time order.

The orchestrator publishes, per geometry tick, a :class:`TickLinks`: the laser links
usable at that instant (with their one-way delays) and the ground links of the stations
the receiving process serves. That is all the data path needs: routes are computed
from it where and when a request needs them (:mod:`orbitmesh.links.routes`), so what is
published grows with the constellation's links, not with the number of routes (an
all-pairs table of 1,584 compute satellites would be 2.5 million routes a tick).

A :class:`LinkTimeline` keeps the recent and upcoming ticks and answers "which tick
holds at simulated time t" without waiting on the orchestrator. :class:`Topology` is
what does not change during a run (node names, link rates), sent once. Pure data: no
Ray, no gRPC.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "KEEP_S",
    "LinkRates",
    "LinkTimeline",
    "Route",
    "StationLinks",
    "StationPart",
    "TerminalPlaces",
    "TickLinks",
    "Topology",
]


@dataclass(frozen=True)
class Route:
    """A path at one tick: node ids from source to target, and each link's figures."""

    hops: tuple[str, ...]
    delays_ms: tuple[float, ...]  # one-way propagation of each link (len(hops) - 1)
    rates_mbps: tuple[float, ...]
    #: Packet loss of each link beyond the run's own (weather on a ground link); empty:
    #: none anywhere.
    loss_rates: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.hops) < 2 or len(self.delays_ms) != len(self.hops) - 1:
            raise ValueError(f"a route needs n >= 2 hops and n - 1 links, got {self}")
        if len(self.rates_mbps) != len(self.delays_ms):
            raise ValueError(f"one rate per link, got {self}")
        if self.loss_rates and len(self.loss_rates) != len(self.delays_ms):
            raise ValueError(f"one loss rate per link (or none), got {self}")

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
        return Route(
            self.hops[::-1], self.delays_ms[::-1], self.rates_mbps[::-1], self.loss_rates[::-1]
        )


@dataclass(frozen=True, eq=False)
class LinkRates:
    """How fast each link carries: one rate for laser links, one for ground links, and
    the exceptions: a formation cluster's own links between its members, a terminal's
    own radio (direct-to-device rates are megabits, not gigabits)."""

    isl_mbps: float
    gsl_mbps: float
    #: Each satellite's cluster (index into ``cluster_mbps``, -1: none); None: no clusters.
    cluster_of: NDArray[np.int32] | None = None
    cluster_mbps: tuple[float, ...] = ()
    #: One rate per station in station order; empty: ``gsl_mbps`` for every station.
    station_mbps: tuple[float, ...] = ()

    def isl(self, a: int, b: int) -> float:
        """The laser link between satellites a and b."""
        if self.cluster_of is not None:
            k = int(self.cluster_of[a])
            if k >= 0 and k == int(self.cluster_of[b]):
                return self.cluster_mbps[k]
        return self.isl_mbps

    def gsl(self, station: int) -> float:
        """A ground link of station number ``station``."""
        return self.station_mbps[station] if self.station_mbps else self.gsl_mbps


@dataclass(frozen=True, eq=False)
class Topology:
    """What does not change during a run: who the nodes are and how fast links carry.

    Satellites are numbered in catalog order and stations in scenario order; the compute
    satellites' positions in that numbering are ``compute_index``, and every per-compute
    array of the data path (routes' delays, the fleet's status) follows that order.
    """

    satellite_ids: tuple[str, ...]
    station_names: tuple[str, ...]
    compute_index: NDArray[np.intp]
    isl_rate_mbps: float
    gsl_rate_mbps: float
    #: Routes longer than this are not searched (None: every route). See LinksSpec.
    route_horizon_ms: float | None = None
    #: Clusters' and terminals' own rates (LinkRates); the two rates above otherwise.
    cluster_of: NDArray[np.int32] | None = None
    cluster_rate_mbps: tuple[float, ...] = ()
    station_rate_mbps: tuple[float, ...] = ()

    @cached_property
    def rates(self) -> LinkRates:
        return LinkRates(
            self.isl_rate_mbps,
            self.gsl_rate_mbps,
            self.cluster_of,
            self.cluster_rate_mbps,
            self.station_rate_mbps,
        )

    @property
    def n_satellites(self) -> int:
        return len(self.satellite_ids)

    @cached_property
    def compute_ids(self) -> tuple[str, ...]:
        return tuple(self.satellite_ids[i] for i in self.compute_index.tolist())

    @cached_property
    def satellite_number(self) -> dict[str, int]:
        """Catalog index of every satellite id."""
        return {sid: i for i, sid in enumerate(self.satellite_ids)}

    @cached_property
    def compute_number(self) -> dict[str, int]:
        """Position of every compute satellite in the compute order."""
        return {sid: i for i, sid in enumerate(self.compute_ids)}

    @cached_property
    def station_number(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.station_names)}


_EMPTY = slice(0, 0)

#: Simulated seconds a receiver keeps a tick after it ended. Requests look up the tick
#: holding now (and, for a reply, the next); older ones serve only late lookups. Kept
#: ticks hold their link state in Ray's object store (32 MB a tick for a million
#: satellites), so they are kept briefly.
KEEP_S = 30.0


@dataclass(frozen=True, eq=False)
class StationLinks:
    """Ground links of some stations at one instant: parallel arrays sorted by station,
    then by elevation (highest first)."""

    station: NDArray[np.int32]  # index in Topology.station_names
    satellite: NDArray[np.int32]  # catalog index
    elevation_deg: NDArray[np.float64]
    azimuth_deg: NDArray[np.float64]
    range_km: NDArray[np.float64]
    delay_ms: NDArray[np.float64]

    @classmethod
    def empty(cls) -> StationLinks:
        i, f = np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float64)
        return cls(i, i, f, f, f, f)

    def span(self, station: int) -> slice:
        """Where one station's links lie in the arrays."""
        return self._spans.get(station, _EMPTY)

    @cached_property
    def _spans(self) -> dict[int, slice]:
        stations, first, counts = np.unique(self.station, return_index=True, return_counts=True)
        return {
            int(s): slice(int(f), int(f + c))
            for s, f, c in zip(stations.tolist(), first, counts, strict=True)
        }

    def only(self, stations: Sequence[int]) -> StationLinks:
        """The links of the given stations alone (what one gateway host needs)."""
        keep = np.isin(self.station, np.asarray(stations, dtype=np.int32))
        return StationLinks(
            self.station[keep],
            self.satellite[keep],
            self.elevation_deg[keep],
            self.azimuth_deg[keep],
            self.range_km[keep],
            self.delay_ms[keep],
        )

    def __len__(self) -> int:
        return len(self.station)

    @property
    def nbytes(self) -> int:
        arrays = (
            self.station,
            self.satellite,
            self.elevation_deg,
            self.azimuth_deg,
            self.range_km,
            self.delay_ms,
        )
        return sum(a.nbytes for a in arrays)


@dataclass(frozen=True, eq=False)
class TerminalPlaces:
    """Where the moving terminals are at one instant, and which of them handed over to
    another satellite because they moved: standing where they were a tick before, they
    would have kept the satellite they had (parallel arrays, by station number)."""

    station: NDArray[np.int32]
    lat_deg: NDArray[np.float64]
    lon_deg: NDArray[np.float64]
    alt_m: NDArray[np.float64]
    handover_by_motion: NDArray[np.bool_]

    @classmethod
    def empty(cls) -> TerminalPlaces:
        f = np.empty(0, dtype=np.float64)
        return cls(np.empty(0, dtype=np.int32), f, f, f, np.empty(0, dtype=bool))

    def only(self, stations: Sequence[int]) -> TerminalPlaces:
        keep = np.isin(self.station, np.asarray(stations, dtype=np.int32))
        return TerminalPlaces(
            self.station[keep],
            self.lat_deg[keep],
            self.lon_deg[keep],
            self.alt_m[keep],
            self.handover_by_motion[keep],
        )

    def of(self, station: int) -> tuple[float, float, float, bool] | None:
        """A terminal's latitude, longitude (deg), height (m) and whether it handed over
        by its own motion at this tick; None for a station that does not move."""
        where = np.flatnonzero(self.station == station)
        if not len(where):
            return None
        k = int(where[0])
        return (
            float(self.lat_deg[k]),
            float(self.lon_deg[k]),
            float(self.alt_m[k]),
            bool(self.handover_by_motion[k]),
        )

    @property
    def nbytes(self) -> int:
        return sum(
            a.nbytes
            for a in (self.station, self.lat_deg, self.lon_deg, self.alt_m, self.handover_by_motion)
        )


@dataclass(frozen=True, eq=False)
class StationPart:
    """The part of a tick that concerns some stations (see TickLinks.station_part)."""

    ground: StationLinks
    stations_down: tuple[int, ...] = ()
    weather: tuple[tuple[int, float, float], ...] = ()
    places: TerminalPlaces = field(default_factory=TerminalPlaces.empty)


@dataclass(frozen=True, eq=False)
class TickLinks:
    """The link graph of one tick as a receiving process needs it.

    Laser links are undirected (``isl_a < isl_b``), listed once with their one-way
    delay; ``ground`` holds the ground links of the stations the receiver serves (none
    for satellites: a path between satellites never passes through a station).

    Faults (orchestrator/faults.py) are applied before publication: the laser links they
    cut are moved from ``isl_*`` to ``cut_*`` (so that a route lost to a fault can be told
    from one that never existed), a station that is down loses its ground links and is
    listed in ``stations_down``, and ``weather`` attenuates a station's ground links.
    """

    tick: int
    offset_s: float  # simulated seconds since the scenario start
    step_s: float
    isl_a: NDArray[np.int32]
    isl_b: NDArray[np.int32]
    isl_delay_ms: NDArray[np.float64]
    ground: StationLinks = field(default_factory=StationLinks.empty)
    cut_a: NDArray[np.int32] = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    cut_b: NDArray[np.int32] = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    cut_delay_ms: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    #: Stations (by number) out of service.
    stations_down: tuple[int, ...] = ()
    #: (station number, fraction of the ground links' rate left, added packet loss).
    weather: tuple[tuple[int, float, float], ...] = ()
    #: Labels of the faults active in this tick (``fault[2] reboot shell1-0-0``).
    faults: tuple[str, ...] = ()
    #: Where the moving terminals of the receiver's stations are (docs/scenarios.md).
    places: TerminalPlaces = field(default_factory=TerminalPlaces.empty)

    @property
    def end_s(self) -> float:
        return self.offset_s + self.step_s

    @property
    def nbytes(self) -> int:
        """Bytes of array data this tick carries (what publishing it moves)."""
        arrays = (
            self.isl_a,
            self.isl_b,
            self.isl_delay_ms,
            self.cut_a,
            self.cut_b,
            self.cut_delay_ms,
        )
        return sum(a.nbytes for a in arrays) + self.ground.nbytes + self.places.nbytes

    def for_stations(self, stations: Sequence[int]) -> TickLinks:
        return self.with_station_part(self.station_part(stations))

    def station_part(self, stations: Sequence[int]) -> StationPart:
        """What this tick says of ``stations`` only (a gateway host's share)."""
        mine = set(stations)
        return StationPart(
            ground=self.ground.only(stations),
            stations_down=tuple(s for s in self.stations_down if s in mine),
            weather=tuple(w for w in self.weather if w[0] in mine),
            places=self.places.only(stations),
        )

    def with_station_part(self, part: StationPart) -> TickLinks:
        """This tick's laser links with ``part`` for its stations: a gateway host gets
        the laser links every host shares (published once) and its own part beside."""
        return replace(
            self,
            ground=part.ground,
            stations_down=part.stations_down,
            weather=part.weather,
            places=part.places,
        )

    def weather_of(self, station: int) -> tuple[float, float]:
        """The fraction of a station's ground-link rate left and the loss added."""
        for number, rate_factor, loss_rate in self.weather:
            if number == station:
                return rate_factor, loss_rate
        return 1.0, 0.0

    def with_cuts_restored(self) -> TickLinks:
        """This tick as it would be without the laser links faults cut."""
        return replace(
            self,
            isl_a=np.concatenate([self.isl_a, self.cut_a]),
            isl_b=np.concatenate([self.isl_b, self.cut_b]),
            isl_delay_ms=np.concatenate([self.isl_delay_ms, self.cut_delay_ms]),
            cut_a=self.cut_a[:0],
            cut_b=self.cut_b[:0],
            cut_delay_ms=self.cut_delay_ms[:0],
        )

    def same_as(self, other: TickLinks) -> bool:
        """Equal in every published figure (for replay checks)."""
        pairs = (
            (self.isl_a, other.isl_a),
            (self.isl_b, other.isl_b),
            (self.isl_delay_ms, other.isl_delay_ms),
            (self.ground.station, other.ground.station),
            (self.ground.satellite, other.ground.satellite),
            (self.ground.elevation_deg, other.ground.elevation_deg),
            (self.ground.azimuth_deg, other.ground.azimuth_deg),
            (self.ground.range_km, other.ground.range_km),
            (self.ground.delay_ms, other.ground.delay_ms),
        )
        return (
            (self.tick, self.offset_s, self.step_s) == (other.tick, other.offset_s, other.step_s)
        ) and all(np.array_equal(a, b) for a, b in pairs)


class LinkTimeline:
    """The ticks a process has received, in time order; the latest tick at or before a
    time holds until the next one.

    A lookup past the end of the last tick still answers with the last tick (the data
    path never waits for geometry) and says it was *late*; callers count that.
    """

    def __init__(self, keep_s: float = KEEP_S) -> None:
        self.keep_s = keep_s
        self._starts: list[float] = []
        self._ticks: list[TickLinks] = []
        self.received = 0

    def add(self, ticks: Iterable[TickLinks]) -> None:
        for tick in ticks:
            self.received += 1
            i = bisect.bisect_left(self._starts, tick.offset_s)
            if i < len(self._starts) and self._starts[i] == tick.offset_s:
                self._ticks[i] = tick  # a republished tick (a restarted receiver)
            else:
                self._starts.insert(i, tick.offset_s)
                self._ticks.insert(i, tick)

    def prune(self, now_s: float) -> None:
        """Forget ticks that ended more than ``keep_s`` before ``now_s``."""
        cut = bisect.bisect_right(self._starts, now_s - self.keep_s) - 1
        if cut > 0:
            del self._starts[:cut]
            del self._ticks[:cut]

    def lookup(self, offset_s: float) -> tuple[TickLinks | None, bool]:
        """The tick holding at ``offset_s``, and whether the lookup was late (past the
        end of the last tick received)."""
        i = bisect.bisect_right(self._starts, offset_s) - 1
        if i < 0:
            return None, False
        tick = self._ticks[i]
        return tick, i == len(self._ticks) - 1 and offset_s >= tick.end_s

    def __len__(self) -> int:
        return len(self._ticks)
