"""A ground station as a Ray actor: a thin shell around :class:`~ground.gateway.GatewayServer`."""

from __future__ import annotations

from typing import Any

import ray

from .gateway import GatewayConfig, GatewayServer
from .linkstate import LinkState, SatelliteInfo

__all__ = ["GatewayActor"]


class _GatewayActorBody:
    """Runs in the actor process; the server starts with the actor (see node/actor.py)."""

    def __init__(self, config: GatewayConfig) -> None:
        import asyncio

        self._server = GatewayServer(config)
        self._started = asyncio.get_running_loop().create_task(self._server.start())

    async def start(self) -> str:
        return await self._started

    async def publish(self, states: list[LinkState]) -> None:
        self._server.publish(states)

    async def set_clock(self, clock: Any) -> None:
        self._server.clock = clock

    async def update_satellites(self, satellites: dict[str, SatelliteInfo]) -> None:
        self._server.update_satellites(satellites)

    async def stats(self) -> dict[str, Any]:
        s = self._server.stats
        return {
            "station": self._server.config.station,
            "address": self._server.address,
            "requests": s.requests,
            "succeeded": s.succeeded,
            "failed": dict(s.failed),
            "in_flight": s.in_flight,
            "handovers": s.handovers,
            "uplink_bytes": s.uplink_bytes,
            "downlink_bytes": s.downlink_bytes,
            "ticks_received": self._server.timeline.received,
            "late_tick_lookups": self._server.timeline.late_lookups,
            "visible": self._visible(),
        }

    def _visible(self) -> int:
        state = self._server.timeline.at(self._server.clock.offset_s())
        return 0 if state is None else len(state.visible)

    async def stop(self, grace_s: float) -> None:
        await self._server.stop(grace_s)


class GatewayActor:
    """Handle to one ground-station gateway running as a Ray actor."""

    def __init__(self, handle: Any, config: GatewayConfig, address: str) -> None:
        self.handle = handle
        self.config = config
        self.address = address

    @property
    def station(self) -> str:
        return self.config.station

    @staticmethod
    def remote_class(num_cpus: float = 0.0, max_restarts: int = 0) -> Any:
        return ray.remote(_GatewayActorBody).options(
            num_cpus=num_cpus,
            max_restarts=max_restarts,
            max_concurrency=10_000,
            scheduling_strategy="SPREAD",  # as satellites: over the nodes of a cluster
        )
