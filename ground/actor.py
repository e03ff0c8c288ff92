"""A gateway host as a Ray actor: a thin shell around :class:`~ground.host.GatewayHost`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ray

from .fleet import FleetStatus
from .gateway import GatewayConfig
from .host import GatewayHost, GatewayHostConfig
from .linkstate import TickLinks, Topology

__all__ = ["GatewayHostActor", "gateway_host_configs"]


class _GatewayHostBody:
    """Runs in the actor process; the servers start with the actor (see node/actor.py)."""

    def __init__(self, config: GatewayHostConfig) -> None:
        import asyncio

        self._host = GatewayHost(config)
        self._started = asyncio.get_running_loop().create_task(self._host.start())

    async def start(self) -> dict[str, str]:
        return await self._started

    async def address(self) -> str | None:
        """Where the host's own ``orbitmesh.v1.Host`` service answers."""
        await self._started
        return self._host.address

    async def publish(self, ticks: list[TickLinks]) -> None:
        self._host.publish(ticks)

    async def set_clock(self, clock: Any) -> None:
        self._host.set_clock(clock)

    async def update_fleet(self, fleet: FleetStatus) -> None:
        self._host.update_fleet(fleet)

    async def stats(self) -> list[dict[str, Any]]:
        return self._host.stats()

    async def node_id(self) -> str:
        return str(ray.get_runtime_context().get_node_id())

    async def stop(self, grace_s: float) -> None:
        await self._host.stop(grace_s)


class GatewayHostActor:
    """Handle to one gateway host: a Ray actor running several stations' gateways."""

    def __init__(
        self, handle: Any, config: GatewayHostConfig, addresses: Mapping[str, str]
    ) -> None:
        self.handle = handle
        self.config = config
        self.addresses = dict(addresses)

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


def gateway_host_configs(
    gateways: Sequence[GatewayConfig], per_host: int, *, topology: Topology | None
) -> list[GatewayHostConfig]:
    """Stations dealt into hosts of at most ``per_host`` (as satellites are)."""
    if per_host < 1:
        raise ValueError(f"per_host must be at least 1, got {per_host}")
    count = -(-len(gateways) // per_host)
    return [
        GatewayHostConfig(f"gw-host-{k}", tuple(gateways[k::count]), topology) for k in range(count)
    ]
