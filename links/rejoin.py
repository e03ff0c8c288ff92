"""What a host Ray restarted after a crash is given to serve as its previous incarnation
did: satellite and gateway hosts take the same message from the orchestrator."""

from __future__ import annotations

from dataclasses import dataclass, field

from orbitmesh.clock import SimClock
from orbitmesh.hosting import HostPorts
from orbitmesh.links.fleet import FleetStatus
from orbitmesh.links.linkstate import TickLinks

__all__ = ["Rejoin"]


@dataclass(frozen=True)
class Rejoin:
    #: Where the previous incarnation listened: clients keep the addresses they know.
    ports: HostPorts | None
    clock: SimClock | None
    #: The ticks that still hold or are to come (a gateway host: with its stations' links).
    ticks: list[TickLinks]
    fleet: FleetStatus | None
    #: Battery (Wh) and temperature (degC) of each satellite at the last poll.
    states: dict[str, tuple[float, float]] = field(default_factory=dict)
