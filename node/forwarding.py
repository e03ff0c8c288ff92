"""A satellite calling another satellite over emulated inter-satellite links.

Used by pipeline stages (a request that names the next stage) and by user apps
(``context.call``). The request crosses the current route between the two satellites
under the same link model as ground traffic: propagation on every hop, serialization at
the bottleneck, FIFO queueing behind this satellite's earlier bytes. The sending
satellite's radio is booked for the transmission.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import grpc

from ground.links import LinkModel, LinkParams, Transfer
from ground.linkstate import LinkTimeline, Route, SatelliteInfo
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
        links: LinkTimeline,
        satellites: Callable[[], Mapping[str, SatelliteInfo]],
        state: NodeState,
        link_params: LinkParams | None = None,
    ) -> None:
        self.satellite_id = satellite_id
        self.clock = clock
        self.links = links
        self.satellites = satellites
        self.state = state
        self.model = LinkModel(link_params or LinkParams())
        self._channels: dict[str, grpc.aio.Channel] = {}

    def pick(
        self, model: str, *, satellite: str | None = None, policy: str | None = None
    ) -> tuple[str, Route]:
        """The satellite to call now, and the route to it."""
        now = self.clock.offset_s()
        state = self.links.at(now)
        routes = state.routes if state is not None else {}
        sats = self.satellites()
        if satellite is not None:
            if satellite not in sats:
                raise Refused(
                    Cause.NOT_FOUND, f"no compute satellite {satellite!r} in this emulation"
                )
            route = routes.get(satellite)
            if route is None:
                raise Refused(
                    Cause.NO_CONTACT, f"no route from {self.satellite_id} to {satellite} now"
                )
            return satellite, route
        try:
            chosen = Policy(policy or Policy.NEAREST)
        except ValueError:
            raise Refused(Cause.INVALID, f"unknown policy {policy!r}") from None
        others = {sid: info for sid, info in sats.items() if sid != self.satellite_id}
        choice = choose_satellite(routes, others, model, chosen)
        if choice.satellite is None or choice.route is None:
            reason = Cause(choice.reason or "no-contact")
            raise Refused(
                reason,
                f"no other satellite can run {model!r} for {self.satellite_id} now ({reason})",
            )
        return choice.satellite, choice.route

    async def call(
        self, target: str, route: Route, request: bytes, timeout_s: float | None
    ) -> tuple[bytes, Transfer]:
        """Send a serialized ModelInferRequest to ``target`` across ``route``."""
        sent_wall = time.time()
        transfer = self.model.transfer(route, len(request), self.clock.offset_s(sent_wall))
        self.state.transmit(len(request), route.rates_mbps[0])
        await sleep_until(sent_wall + transfer.total_ms / 1e3 / self.clock.speed)
        info = self.satellites().get(target)
        if info is None:
            raise Refused(Cause.NODE_DOWN, f"satellite {target} is not serving")
        call = self._channel(info.address).unary_unary(
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
