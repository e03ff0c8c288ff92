"""A satellite host as a Ray actor: a thin shell around :class:`~orbitmesh.node.host.SatelliteHost`.

The actor body is a plain class made remote at construction (as Ray's own
``ray.util.queue`` does), so resources and restart policy are injected, not hard-coded;
:class:`SatelliteHostActor` is the typed handle users hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import ray

from orbitmesh.hosting import HostPorts, HostStarted
from orbitmesh.links.fleet import FleetStatus
from orbitmesh.links.linkstate import TickLinks
from orbitmesh.links.rejoin import Rejoin
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
    #: None while a restarted host waits to be told its ports (``rejoin``).
    status: HostStatus | None
    #: Where its servers listen (None likewise).
    ports: HostPorts | None = None


class _SatelliteHostBody:
    """Runs in the actor process; every method runs on the actor's event loop.

    The servers start at construction (Ray runs an async actor's ``__init__`` on its
    event loop). A host Ray restarts after a crash waits instead for ``rejoin``: the
    orchestrator notices the new incarnation and gives it the ports its clients know, the
    running clock, its satellites' batteries and temperatures, the links and the fleet.
    """

    def __init__(self, config: HostConfig) -> None:
        import asyncio
        import uuid

        self.incarnation = uuid.uuid4().hex
        self._host = SatelliteHost(config)
        loop = asyncio.get_running_loop()
        self._started: asyncio.Future[dict[str, str]]
        if ray.get_runtime_context().was_current_actor_reconstructed:
            self._started = loop.create_future()
        else:
            self._started = loop.create_task(self._host.start())

    async def config(self) -> HostConfig:
        return self._host.config

    async def start(self) -> HostStarted:
        members = await self._started
        return HostStarted(members, self._host.address, ray.get_runtime_context().get_node_id())

    async def status(self) -> HostIncarnation:
        node_id = ray.get_runtime_context().get_node_id()
        if not self._started.done():
            return HostIncarnation(self.incarnation, node_id, None, None)
        await self._started
        return HostIncarnation(
            incarnation=self.incarnation,
            node_id=node_id,
            address=self._host.address,
            status=await self._host.status(),
            ports=self._host.ports(),
        )

    async def rejoin(self, rejoin: Rejoin) -> None:
        # Clock, state and links first: the servers start knowing them.
        host = self._host
        if rejoin.clock is not None:
            host.set_clock(rejoin.clock)
        host.restore(rejoin.states)
        if rejoin.ticks:
            host.publish(rejoin.ticks)
        if rejoin.fleet is not None:
            host.update_fleet(rejoin.fleet)
        if not self._started.done():
            self._started.set_result(await host.start(rejoin.ports))

    async def set_clock(self, clock: Any) -> None:
        self._host.set_clock(clock)

    async def publish(self, ticks: list[TickLinks]) -> None:
        self._host.publish(ticks)

    async def update_fleet(self, fleet: FleetStatus) -> None:
        self._host.update_fleet(fleet)

    async def snapshot(self, satellite_id: str) -> NodeSnapshot:
        return self._host.snapshot(satellite_id)

    async def stop_member(self, satellite_id: str, grace_s: float) -> None:
        await self._host.stop_member(satellite_id, grace_s)

    async def start_member(self, satellite_id: str, reset: Literal["warm", "cold"] = "warm") -> str:
        return await self._host.start_member(satellite_id, reset)

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
        # Options as the class's defaults: a caller may still add its own (a name).
        return ray.remote(**options)(_SatelliteHostBody)

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

    def start_member(
        self, satellite_id: str, timeout_s: float = 60.0, reset: Literal["warm", "cold"] = "warm"
    ) -> str:
        address: str = ray.get(
            self.handle.start_member.remote(satellite_id, reset), timeout=timeout_s
        )
        self.addresses[satellite_id] = address
        return address

    def stop(self, grace_s: float = 5.0, timeout_s: float = 60.0) -> None:
        """Drain in-flight calls (up to ``grace_s``), then end the actor."""
        ray.get(self.handle.stop.remote(grace_s), timeout=timeout_s)
        ray.kill(self.handle)

    def kill(self) -> None:
        """End the actor at once (no draining); for fault injection and clean-up."""
        ray.kill(self.handle, no_restart=True)
