"""A satellite calling another satellite over emulated inter-satellite links.

Used by pipeline stages (a request that names the next stage) and by user apps
(``context.call``). The request crosses the current route between the two satellites
under the same link model as ground traffic: propagation on every hop, serialization at
the bottleneck, FIFO queueing behind this satellite's earlier bytes. The sending
satellite's radio is booked for the transmission.
"""

from __future__ import annotations

import time

import grpc

from ground.links import LinkModel, LinkParams, Transfer
from ground.linkstate import Route
from ground.linkview import LinkView
from ground.routes import RouteSet
from ground.selection import Policy, choose_satellite
from ground.timing import sleep_until
from orchestrator.causes import CAUSE_METADATA_KEY, Cause
from orchestrator.clock import SimClock

from .inference import Refused
from .state import NodeState

__all__ = ["ForwardFailed", "Forwarder"]

INFERENCE_METHOD = "/inference.GRPCInferenceService/ModelInfer"


class ForwardFailed(Exception):
    """The next satellite answered with an error; carries its code, details and cause."""

    def __init__(self, code: grpc.StatusCode, details: str, cause: str | None) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.cause = cause


def _raw(data: bytes) -> bytes:
    return data


class Forwarder:
    def __init__(
        self,
        satellite_id: str,
        *,
        clock: SimClock,
        view: LinkView,
        state: NodeState,
        link_params: LinkParams | None = None,
    ) -> None:
        self.satellite_id = satellite_id
        self.clock = clock
        self.view = view
        self.state = state
        self.model = LinkModel(link_params or LinkParams())
        self._channels: dict[str, grpc.aio.Channel] = {}

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
            i = fleet.index.get(satellite)
            if i is None:
                raise Refused(
                    Cause.NOT_FOUND, f"no compute satellite {satellite!r} in this emulation"
                )
            if not fleet.up[i]:
                raise Refused(Cause.NODE_DOWN, f"satellite {satellite} is not serving")
            route = routes.get(satellite) if routes is not None else None
            if route is None:
                raise Refused(
                    Cause.NO_CONTACT, f"no route from {self.satellite_id} to {satellite} now"
                )
            return satellite, route
        try:
            chosen = Policy(policy or Policy.NEAREST)
        except ValueError:
            raise Refused(Cause.INVALID, f"unknown policy {policy!r}") from None
        if routes is None:
            raise Refused(Cause.NO_CONTACT, f"{self.satellite_id} has no link state yet")
        choice = choose_satellite(routes.delay_ms, fleet, model, chosen)
        if choice.index is None:
            reason = Cause(choice.reason or "no-contact")
            raise Refused(
                reason,
                f"no other satellite can run {model!r} for {self.satellite_id} now ({reason})",
            )
        target = fleet.satellite_ids[choice.index]
        route = routes.get(target)
        assert route is not None  # chosen among the reachable
        return target, route

    async def call(
        self, target: str, route: Route, request: bytes, timeout_s: float | None
    ) -> tuple[bytes, Transfer]:
        """Send a serialized ModelInferRequest to ``target`` across ``route``."""
        sent_wall = time.time()
        transfer = self.model.transfer(route, len(request), self.clock.offset_s(sent_wall))
        self.state.transmit(len(request), route.rates_mbps[0])
        await sleep_until(sent_wall + transfer.total_ms / 1e3 / self.clock.speed)
        fleet = self.view.fleet
        i = fleet.index.get(target)
        if i is None or not fleet.up[i]:
            raise Refused(Cause.NODE_DOWN, f"satellite {target} is not serving")
        call = self._channel(fleet.addresses[i]).unary_unary(
            INFERENCE_METHOD, request_serializer=_raw, response_deserializer=_raw
        )
        try:
            reply = await call(request, timeout=timeout_s)
        except grpc.aio.AioRpcError as exc:
            cause = next(
                (str(v) for k, v in exc.trailing_metadata() or () if k == CAUSE_METADATA_KEY), None
            )
            raise ForwardFailed(exc.code(), exc.details() or "", cause) from None
        return bytes(reply), transfer

    def _channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = grpc.aio.insecure_channel(address)
        return channel

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
