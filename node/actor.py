"""The satellite as a Ray actor: a thin shell around :class:`~node.server.SatelliteServer`.

The actor body is a plain class made remote at construction (as Ray's own
``ray.util.queue`` does), so resources and restart policy are injected, not hard-coded;
:class:`SatelliteActor` is the typed handle users hold, with sync and ``*_async`` twins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ray

from .server import NodeConfig, SatelliteServer
from .state import NodeSnapshot

__all__ = ["ActorStatus", "SatelliteActor"]


@dataclass(frozen=True)
class ActorStatus:
    #: Changes when Ray restarts the actor.
    incarnation: str
    address: str | None
    pid: int
    #: Everything it serves, ONNX models and the user app.
    models: tuple[str, ...]
    snapshot: NodeSnapshot


class _SatelliteActorBody:
    """Runs in the actor process; every method runs on the actor's event loop.

    The server starts at construction (Ray runs an async actor's ``__init__`` on its
    event loop), so a satellite Ray restarts after a crash serves again by itself; the
    orchestrator notices the new incarnation and restores its battery and temperature.
    """

    def __init__(self, config: NodeConfig) -> None:
        import asyncio
        import uuid

        self.incarnation = uuid.uuid4().hex
        self._server = SatelliteServer(config)
        self._started = asyncio.get_running_loop().create_task(self._server.start())

    async def start(self) -> str:
        return await self._started

    async def status(self) -> ActorStatus:
        """What the orchestrator polls."""
        import os

        await self._started
        return ActorStatus(
            incarnation=self.incarnation,
            address=self._server.address,
            pid=os.getpid(),
            models=tuple(self._server.model_names),
            snapshot=self._server.snapshot(),
        )

    async def set_clock(self, clock: Any) -> None:
        self._server.set_clock(clock)

    async def restore(self, battery_wh: float, temperature_c: float) -> None:
        self._server.state.restore(battery_wh=battery_wh, temperature_c=temperature_c)

    async def publish_links(self, states: list[Any]) -> None:
        """Routes to the other compute satellites, tick by tick (for satellite-to-satellite
        traffic)."""
        self._server.publish_links(states)

    async def update_satellites(self, satellites: dict[str, Any]) -> None:
        self._server.update_satellites(satellites)

    async def address(self) -> str | None:
        return self._server.address

    async def snapshot(self) -> NodeSnapshot:
        return self._server.snapshot()

    async def stop(self, grace_s: float) -> None:
        await self._server.stop(grace_s)

    async def pid(self) -> int:
        import os

        return os.getpid()


class SatelliteActor:
    """Handle to one compute satellite running as a Ray actor and serving gRPC."""

    def __init__(self, handle: Any, config: NodeConfig, address: str) -> None:
        self.handle = handle
        self.config = config
        self.address = address

    @property
    def satellite_id(self) -> str:
        return self.config.satellite_id

    @staticmethod
    def remote_class(
        num_cpus: float = 0.0,
        resources: dict[str, float] | None = None,
        max_restarts: int = 0,
        name: str | None = None,
    ) -> Any:
        options: dict[str, Any] = {
            "num_cpus": num_cpus,
            "max_restarts": max_restarts,
            # gRPC calls and telemetry interleave on one event loop; Ray's default cap for
            # async actors (1000) is far above what a satellite's queue admits.
            "max_concurrency": 1000,
            # On a cluster, spread satellites over the nodes: with no CPUs reserved, Ray's
            # default would pack them all onto the node that asks.
            "scheduling_strategy": "SPREAD",
        }
        if resources:
            options["resources"] = resources
        if name:
            options["name"] = name
        return ray.remote(_SatelliteActorBody).options(**options)

    @classmethod
    def create_many(
        cls,
        configs: Sequence[NodeConfig],
        *,
        num_cpus: float = 0.0,
        resources: dict[str, float] | None = None,
        max_restarts: int = 0,
        timeout_s: float = 300.0,
    ) -> list[SatelliteActor]:
        """Start several satellites at once and wait until every one serves."""
        handles = [
            cls.remote_class(num_cpus, resources, max_restarts, None).remote(config)
            for config in configs
        ]
        addresses = ray.get([h.start.remote() for h in handles], timeout=timeout_s)
        return [cls(h, c, a) for h, c, a in zip(handles, configs, addresses, strict=True)]

    @classmethod
    def create(cls, config: NodeConfig, **options: Any) -> SatelliteActor:
        return cls.create_many([config], **options)[0]

    def snapshot(self, timeout_s: float = 30.0) -> NodeSnapshot:
        result: NodeSnapshot = ray.get(self.handle.snapshot.remote(), timeout=timeout_s)
        return result

    async def snapshot_async(self) -> NodeSnapshot:
        result: NodeSnapshot = await self.handle.snapshot.remote()
        return result

    def pid(self) -> int:
        result: int = ray.get(self.handle.pid.remote())
        return result

    def stop(self, grace_s: float = 5.0, timeout_s: float = 60.0) -> None:
        """Drain in-flight calls (up to ``grace_s``), then end the actor."""
        ray.get(self.handle.stop.remote(grace_s), timeout=timeout_s)
        ray.kill(self.handle)

    async def stop_async(self, grace_s: float = 5.0) -> None:
        await self.handle.stop.remote(grace_s)
        ray.kill(self.handle)

    def kill(self) -> None:
        """End the actor at once (no draining); for fault injection and clean-up."""
        ray.kill(self.handle, no_restart=True)
