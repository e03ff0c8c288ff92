"""A gateway host as a Ray actor: a thin shell around
:class:`~orbitmesh.ground.host.GatewayHost`."""

from __future__ import annotations

from typing import Any

import ray

from orbitmesh.ground.host import GatewayHost, GatewayHostConfig
from orbitmesh.hosting import HostStarted
from orbitmesh.links.fleet import FleetStatus
from orbitmesh.links.linkstate import TickLinks

__all__ = ["GatewayHostActor"]


class _GatewayHostBody:
    """Runs in the actor process; the servers start with the actor (see node/actor.py)."""

    def __init__(self, config: GatewayHostConfig) -> None:
        import asyncio

        self._host = GatewayHost(config)
        self._started = asyncio.get_running_loop().create_task(self._host.start())

    async def start(self) -> HostStarted:
        members = await self._started
        return HostStarted(members, self._host.address, ray.get_runtime_context().get_node_id())

    async def publish(self, ticks: list[TickLinks]) -> None:
        self._host.publish(ticks)

    async def set_clock(self, clock: Any) -> None:
        self._host.set_clock(clock)

    async def update_fleet(self, fleet: FleetStatus) -> None:
        self._host.update_fleet(fleet)

    async def stats(self) -> list[dict[str, Any]]:
        return self._host.stats()

    async def stop(self, grace_s: float) -> None:
        await self._host.stop(grace_s)


class GatewayHostActor:
    """Handle to one gateway host: a Ray actor running several stations' gateways."""

    def __init__(self, handle: Any, config: GatewayHostConfig, started: HostStarted) -> None:
        self.handle = handle
        self.config = config
        #: Each station's address, the host's own service and its Ray node, as of start-up.
        self.addresses = dict(started.members)
        self.host_address = started.address
        self.node_id = started.node_id

    @property
    def host_id(self) -> str:
        return self.config.host_id

    @property
    def stations(self) -> list[str]:
        return [g.station for g in self.config.gateways]

    @staticmethod
    def remote_class(
        num_cpus: float = 0.0, resources: dict[str, float] | None = None, max_restarts: int = 0
    ) -> Any:
        options: dict[str, Any] = {
            "num_cpus": num_cpus,
            "max_restarts": max_restarts,
            "max_concurrency": 10_000,
            "scheduling_strategy": "SPREAD",  # as satellite hosts: over the nodes of a cluster
        }
        if resources:
            options["resources"] = resources
        return ray.remote(_GatewayHostBody).options(**options)
