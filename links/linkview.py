"""What one process of the data path knows of the constellation, shared by its members.

A host (a process running many satellites, or many ground-station gateways) receives
one stream of ticks and one fleet status from the orchestrator, whatever the number of
nodes it runs; every member reads routes from the same :class:`LinkView`, so a route
searched for one member is not searched again for another at the same tick. Pure: no
Ray, no gRPC.
"""

from __future__ import annotations

from collections.abc import Iterable

from orbitmesh.links.fleet import FleetStatus
from orbitmesh.links.linkstate import KEEP_S, LinkTimeline, TickLinks, Topology
from orbitmesh.links.routes import RouteFinder, RouteSet

__all__ = ["LinkView"]


class LinkView:
    def __init__(self, topology: Topology | None = None, keep_s: float = KEEP_S) -> None:
        self.topology = topology
        self.timeline = LinkTimeline(keep_s=keep_s)
        self.finder = RouteFinder(topology) if topology is not None else None
        #: Latest status of every compute satellite (replaced whole on each update).
        self.fleet = FleetStatus.empty()

    def publish(self, ticks: Iterable[TickLinks], now_s: float) -> None:
        """New ticks (in time order); ticks long past are forgotten."""
        self.timeline.add(ticks)
        self.timeline.prune(now_s)

    def lookup(self, offset_s: float) -> tuple[TickLinks | None, bool]:
        """The tick holding at ``offset_s`` and whether the lookup was late."""
        return self.timeline.lookup(offset_s)

    def from_station(
        self, tick: TickLinks, station: str, *, within_ms: float | None = None
    ) -> RouteSet | None:
        if self.finder is None:
            return None
        return self.finder.from_station(tick, station, within_ms=within_ms)

    def from_satellite(self, tick: TickLinks, satellite_id: str) -> RouteSet | None:
        return None if self.finder is None else self.finder.from_satellite(tick, satellite_id)
