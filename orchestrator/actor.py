"""The orchestrator as a Ray actor, and the handle the CLI and tests hold."""

from __future__ import annotations

from typing import Any

import ray

from orbitmesh.orchestrator.emulation import Emulation, EmulationOptions

__all__ = ["ORCHESTRATOR_NAME", "ORCHESTRATOR_NAMESPACE", "Orchestrator"]

#: A running emulation's orchestrator is a named actor, so other drivers can find it.
ORCHESTRATOR_NAME = "orbitmesh-orchestrator"
ORCHESTRATOR_NAMESPACE = "orbitmesh"


class _OrchestratorBody:
    def __init__(self, scenario: str, options: EmulationOptions) -> None:
        self._emulation = Emulation(scenario, options)

    async def start(self) -> dict[str, Any]:
        return await self._emulation.start()

    async def status(self) -> dict[str, Any]:
        return await self._emulation.status()

    async def endpoints(self) -> dict[str, Any]:
        return self._emulation.endpoints()

    async def satellite_snapshots(self) -> dict[str, dict[str, Any]]:
        return self._emulation.satellite_snapshots()

    async def counters(self) -> dict[str, Any]:
        return self._emulation.counters()

    async def finished(self) -> bool:
        return self._emulation.finished

    async def stop_satellite(self, satellite_id: str, grace_s: float) -> None:
        await self._emulation.stop_satellite(satellite_id, grace_s)

    async def start_satellite(self, satellite_id: str) -> str:
        return await self._emulation.start_satellite(satellite_id)

    async def stop(self, grace_s: float) -> None:
        await self._emulation.stop(grace_s)


class Orchestrator:
    """Handle to a running emulation (its orchestrator actor)."""

    def __init__(self, handle: Any, endpoints: dict[str, Any]) -> None:
        self.handle = handle
        self.endpoints = endpoints

    @classmethod
    def launch(
        cls,
        scenario: str,
        options: EmulationOptions | None = None,
        *,
        name: str | None = ORCHESTRATOR_NAME,
        timeout_s: float = 600.0,
    ) -> Orchestrator:
        """Create the orchestrator, which creates every satellite and gateway; returns when
        all of them serve."""
        actor_options: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 1000}
        if name is not None:
            actor_options |= {"name": name, "namespace": ORCHESTRATOR_NAMESPACE}
        remote: Any = ray.remote(_OrchestratorBody)
        handle = remote.options(**actor_options).remote(scenario, options or EmulationOptions())
        try:
            endpoints: dict[str, Any] = ray.get(handle.start.remote(), timeout=timeout_s)
        except BaseException:
            ray.kill(handle)
            raise
        return cls(handle, endpoints)

    def status(self, timeout_s: float = 30.0) -> dict[str, Any]:
        result: dict[str, Any] = ray.get(self.handle.status.remote(), timeout=timeout_s)
        return result

    def current_endpoints(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """The endpoints document as it stands now (hosts restarted since start-up serve
        on new ports)."""
        result: dict[str, Any] = ray.get(self.handle.endpoints.remote(), timeout=timeout_s)
        return result

    def counters(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """Clock, tick and restart counters and current addresses (see Emulation.counters)."""
        result: dict[str, Any] = ray.get(self.handle.counters.remote(), timeout=timeout_s)
        return result

    def finished(self) -> bool:
        return bool(ray.get(self.handle.finished.remote()))

    def stop_satellite(self, satellite_id: str, grace_s: float = 0.0) -> None:
        """Stop one satellite inside its running host (fault injection); the satellites
        sharing its host keep serving, and stations see it down at once."""
        ray.get(self.handle.stop_satellite.remote(satellite_id, grace_s), timeout=60.0)

    def start_satellite(self, satellite_id: str) -> str:
        """Start a stopped satellite again (on its old port when free); returns its address."""
        address: str = ray.get(self.handle.start_satellite.remote(satellite_id), timeout=60.0)
        return address

    def stop(self, grace_s: float = 5.0, timeout_s: float = 120.0) -> None:
        """Drain and stop every satellite and gateway, then the orchestrator."""
        try:
            ray.get(self.handle.stop.remote(grace_s), timeout=timeout_s)
        finally:
            ray.kill(self.handle)
