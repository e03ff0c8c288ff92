"""A gateway host as a Ray actor: a thin shell around
:class:`~orbitmesh.ground.host.GatewayHost`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import ray

from orbitmesh.ground.host import GatewayHost, GatewayHostConfig
from orbitmesh.hosting import HostPorts, HostStarted
from orbitmesh.links.fleet import FleetStatus
from orbitmesh.links.linkstate import StationPart, TickLinks
from orbitmesh.links.rejoin import Rejoin

__all__ = ["GatewayHostActor", "GatewayIncarnation"]


@dataclass(frozen=True)
class GatewayIncarnation:
    """What identifies a gateway host's process, and where it serves."""

    #: Changes when Ray restarts the actor.
    incarnation: str
    node_id: str
    pid: int
    #: The host's own ``orbitmesh.v1.Host`` service (None while it waits for ``rejoin``).
    address: str | None
    ports: HostPorts | None
    #: Each station's address (empty likewise).
    members: dict[str, str]


class _GatewayHostBody:
    """Runs in the actor process; the servers start with the actor, and a restarted one
    waits for ``rejoin`` (see node/actor.py)."""

    def __init__(self, config: GatewayHostConfig) -> None:
        import asyncio
        import uuid

        self.incarnation = uuid.uuid4().hex
        self._host = GatewayHost(config)
        loop = asyncio.get_running_loop()
        self._started: asyncio.Future[dict[str, str]]
        if ray.get_runtime_context().was_current_actor_reconstructed:
            self._started = loop.create_future()
        else:
            self._started = loop.create_task(self._host.start())

    async def config(self) -> GatewayHostConfig:
        return self._host.config

    async def start(self) -> HostStarted:
        members = await self._started
        return HostStarted(members, self._host.address, ray.get_runtime_context().get_node_id())

    async def status(self) -> GatewayIncarnation:
        node_id = ray.get_runtime_context().get_node_id()
        if not self._started.done():
            return GatewayIncarnation(self.incarnation, node_id, os.getpid(), None, None, {})
        members = await self._started
        return GatewayIncarnation(
            self.incarnation, node_id, os.getpid(), self._host.address, self._host.ports(), members
        )

    async def rejoin(self, rejoin: Rejoin) -> None:
        host = self._host
        if rejoin.clock is not None:
            host.set_clock(rejoin.clock)
        if rejoin.ticks:
            host.publish(rejoin.ticks)
        if rejoin.fleet is not None:
            host.update_fleet(rejoin.fleet)
        if not self._started.done():
            self._started.set_result(await host.start(rejoin.ports))

    async def publish(self, ticks: list[TickLinks], parts: list[StationPart] | None = None) -> None:
        """New ticks; with ``parts``, the shared laser-link ticks and this host's
        stations' part of each (the laser links travel once for every host)."""
        if parts is not None:
            ticks = [t.with_station_part(p) for t, p in zip(ticks, parts, strict=True)]
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
        return ray.remote(**options)(_GatewayHostBody)
