"""A satellite host as a Ray actor: a thin shell around :class:`~orbitmesh.node.host.SatelliteHost`.

The actor body is a plain class made remote at construction (as Ray's own
``ray.util.queue`` does), so resources and restart policy are injected, not hard-coded;
:class:`SatelliteHostActor` is the typed handle users hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ray

from orbitmesh.hosting import HostStarted
from orbitmesh.links.fleet import FleetStatus
from orbitmesh.links.linkstate import TickLinks
from orbitmesh.node.host import HostConfig, HostStatus, SatelliteHost
from orbitmesh.node.server import NodeConfig
from orbitmesh.node.state import NodeSnapshot

__all__ = ["HostIncarnation", "SatelliteHostActor"]


@dataclass(frozen=True)
class HostIncarnation:
    """A host's status with what identifies its process."""

    #: Changes when Ray restarts the actor.
    incarnation: str
    node_id: str
    #: The host's own ``orbitmesh.v1.Host`` service.
    address: str | None
    status: HostStatus


class _SatelliteHostBody:
    """Runs in the actor process; every method runs on the actor's event loop.

    The servers start at construction (Ray runs an async actor's ``__init__`` on its
    event loop), so a host Ray restarts after a crash serves again by itself; the
    orchestrator notices the new incarnation and restores its satellites' batteries,
    temperatures, clock and links.
    """

    def __init__(self, config: HostConfig) -> None:
        import asyncio
        import uuid

        self.incarnation = uuid.uuid4().hex
        self._host = SatelliteHost(config)
        self._started = asyncio.get_running_loop().create_task(self._host.start())

    async def start(self) -> HostStarted:
        members = await self._started
        return HostStarted(members, self._host.address, ray.get_runtime_context().get_node_id())

    async def status(self) -> HostIncarnation:
        await self._started
        return HostIncarnation(
            incarnation=self.incarnation,
            node_id=ray.get_runtime_context().get_node_id(),
            address=self._host.address,
            status=await self._host.status(),
        )

    async def set_clock(self, clock: Any) -> None:
        self._host.set_clock(clock)

    async def restore(self, states: dict[str, tuple[float, float]]) -> None:
        self._host.restore(states)

    async def publish(self, ticks: list[TickLinks]) -> None:
        self._host.publish(ticks)

    async def update_fleet(self, fleet: FleetStatus) -> None:
        self._host.update_fleet(fleet)

    async def snapshot(self, satellite_id: str) -> NodeSnapshot:
        return self._host.snapshot(satellite_id)

    async def stop_member(self, satellite_id: str, grace_s: float) -> None:
        await self._host.stop_member(satellite_id, grace_s)

    async def start_member(self, satellite_id: str) -> str:
        return await self._host.start_member(satellite_id)

    async def stop(self, grace_s: float) -> None:
        await self._host.stop(grace_s)

    async def pid(self) -> int:
        import os

        return os.getpid()


class SatelliteHostActor:
    """Handle to one satellite host: a Ray actor running several satellites' servers."""

    def __init__(self, handle: Any, config: HostConfig, started: HostStarted) -> None:
        self.handle = handle
        self.config = config
        #: Each satellite's address as of start-up.
        self.addresses = dict(started.members)
        #: The host's own ``orbitmesh.v1.Host`` service and Ray node, as of start-up.
        self.host_address = started.address
        self.node_id = started.node_id

    @property
    def host_id(self) -> str:
        return self.config.host_id

    @property
    def satellite_ids(self) -> list[str]:
        return [c.satellite_id for c in self.config.satellites]

    @staticmethod
    def remote_class(
        num_cpus: float = 0.0,
        resources: dict[str, float] | None = None,
        max_restarts: int = 0,
    ) -> Any:
        options: dict[str, Any] = {
            "num_cpus": num_cpus,
            "max_restarts": max_restarts,
            # gRPC calls and telemetry of every member interleave on one event loop;
            # Ray's own cap (1000) only bounds the orchestrator's calls.
            "max_concurrency": 1000,
            # On a cluster, spread hosts over the nodes (with their CPU reservations).
            "scheduling_strategy": "SPREAD",
        }
        if resources:
            options["resources"] = resources
        return ray.remote(_SatelliteHostBody).options(**options)

    @classmethod
    def create_many(
        cls,
        configs: Sequence[HostConfig],
        *,
        num_cpus: float = 0.0,
        resources: dict[str, float] | None = None,
        max_restarts: int = 0,
        timeout_s: float = 300.0,
    ) -> list[SatelliteHostActor]:
        """Start several hosts at once and wait until every satellite serves."""
        remote = cls.remote_class(num_cpus, resources, max_restarts)
        handles = [remote.remote(config) for config in configs]
        started = ray.get([h.start.remote() for h in handles], timeout=timeout_s)
        return [cls(h, c, s) for h, c, s in zip(handles, configs, started, strict=True)]

    @classmethod
    def create(cls, satellites: Sequence[NodeConfig], **options: Any) -> SatelliteHostActor:
        """One host running ``satellites``."""
        config = HostConfig("host-0", tuple(satellites))
        return cls.create_many([config], **options)[0]

    def snapshot(self, satellite_id: str, timeout_s: float = 30.0) -> NodeSnapshot:
        result: NodeSnapshot = ray.get(self.handle.snapshot.remote(satellite_id), timeout=timeout_s)
        return result

    def status(self, timeout_s: float = 30.0) -> HostIncarnation:
        result: HostIncarnation = ray.get(self.handle.status.remote(), timeout=timeout_s)
        return result

    def pid(self) -> int:
        result: int = ray.get(self.handle.pid.remote())
        return result

    def stop_member(self, satellite_id: str, grace_s: float = 5.0, timeout_s: float = 60.0) -> None:
        ray.get(self.handle.stop_member.remote(satellite_id, grace_s), timeout=timeout_s)

    def start_member(self, satellite_id: str, timeout_s: float = 60.0) -> str:
        address: str = ray.get(self.handle.start_member.remote(satellite_id), timeout=timeout_s)
        self.addresses[satellite_id] = address
        return address

    def stop(self, grace_s: float = 5.0, timeout_s: float = 60.0) -> None:
        """Drain in-flight calls (up to ``grace_s``), then end the actor."""
        ray.get(self.handle.stop.remote(grace_s), timeout=timeout_s)
        ray.kill(self.handle)

    def kill(self) -> None:
        """End the actor at once (no draining); for fault injection and clean-up."""
        ray.kill(self.handle, no_restart=True)
