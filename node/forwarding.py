"""A satellite calling another satellite over emulated inter-satellite links.

Used by pipeline stages (a request that names the next stage) and by user apps
(``context.call``). The request crosses the current route between the two satellites
under the same link model as ground traffic: propagation on every hop, serialization at
the bottleneck, FIFO queueing behind this satellite's earlier bytes. The sending
satellite's radio is booked for the transmission.
"""

from __future__ import annotations

import time

from orbitmesh.clock import SimClock
from orbitmesh.links.choice import Policy, choose_satellite, pinned, policy_named, refusal
from orbitmesh.links.datapath import DataPathClient
from orbitmesh.links.linkstate import Route
from orbitmesh.links.linkview import LinkView
from orbitmesh.links.model import LinkModel, LinkParams, Transfer
from orbitmesh.links.routes import RouteSet
from orbitmesh.node.state import NodeState
from orbitmesh.protos.contract import Cause, Refused

__all__ = ["Forwarder"]


class Forwarder:
    def __init__(
        self,
        satellite_id: str,
        *,
        clock: SimClock,
        view: LinkView,
        state: NodeState,
        datapath: DataPathClient,
        link_params: LinkParams | None = None,
    ) -> None:
        self.satellite_id = satellite_id
        self.clock = clock
        self.view = view
        self.state = state
        self.datapath = datapath
        self.model = LinkModel(link_params or LinkParams())

    def routes(self) -> RouteSet | None:
        """Routes from this satellite to the other compute satellites now (None before
        the first tick)."""
        tick, _late = self.view.lookup(self.clock.offset_s())
        return None if tick is None else self.view.from_satellite(tick, self.satellite_id)

    def pick(
        self, model: str, *, satellite: str | None = None, policy: str | None = None
    ) -> tuple[str, Route]:
        """The satellite to call now, and the route to it."""
        routes = self.routes()
        fleet = self.view.fleet
        if satellite is not None:
            route = routes.get(satellite) if routes is not None else None
            pinned(
                fleet,
                satellite,
                route,
                unreachable=f"no route from {self.satellite_id} to {satellite} now",
            )
            assert route is not None  # pinned() refuses otherwise
            return satellite, route
        chosen = policy_named(policy, Policy.NEAREST)
        if routes is None:
            raise Refused(Cause.NO_CONTACT, f"{self.satellite_id} has no link state yet")
        choice = choose_satellite(routes.delay_ms, fleet, model, chosen)
        if choice.index is None:
            raise refusal(choice, model, within=f"reachable from {self.satellite_id} now")
        target = fleet.satellite_ids[choice.index]
        route = routes.get(target)
        assert route is not None  # chosen among the reachable
        return target, route

    async def call(
        self, target: str, route: Route, request: bytes, timeout_s: float | None
    ) -> tuple[bytes, Transfer]:
        """Send a serialized ModelInferRequest to ``target`` across ``route``; raises
        RemoteError with the target's status code and cause when it refuses."""
        sent_wall = time.time()
        transfer = self.model.transfer(route, len(request), self.clock.offset_s(sent_wall))
        self.state.transmit(len(request), route.rates_mbps[0])
        fleet = self.view.fleet
        i = fleet.index.get(target)
        if i is None or not fleet.up[i]:
            raise Refused(Cause.NODE_DOWN, f"satellite {target} is not serving")
        # It reaches the target when the laser links have carried it there; the hand-over
        # between processes happens meanwhile.
        arrive_at = sent_wall + self.clock.wall_seconds(transfer.total_ms / 1e3)
        reply = await self.datapath.call(
            fleet.datapaths[i], target, request, deliver_at=arrive_at, timeout_s=timeout_s
        )
        return reply, transfer
