"""The orchestrator as a Ray actor, and the handle the CLI and tests hold."""

from __future__ import annotations

from typing import Any

import ray

from orbitmesh.orchestrator.emulation import (
    RUN_NAMESPACE,
    Emulation,
    EmulationOptions,
    host_actor_name,
)

__all__ = [
    "ORCHESTRATOR_NAME",
    "ORCHESTRATOR_NAMESPACE",
    "EmulationFailed",
    "Orchestrator",
    "OrchestratorLost",
    "kill_hosts",
]

#: A running emulation's orchestrator is a named actor, so other drivers can find it.
ORCHESTRATOR_NAME = "orbitmesh-orchestrator"
ORCHESTRATOR_NAMESPACE = RUN_NAMESPACE


class _OrchestratorBody:
    def __init__(self, scenario: str, options: EmulationOptions) -> None:
        self._emulation = Emulation(scenario, options)

    async def start(self) -> dict[str, Any]:
        return await self._emulation.start()

    async def resume(self, endpoints: dict[str, Any]) -> dict[str, Any]:
        return await self._emulation.resume(endpoints)

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

    async def inject_fault(self, entry: dict[str, Any]) -> list[dict[str, Any]]:
        return self._emulation.inject_fault(entry)

    async def start_satellite(self, satellite_id: str) -> str:
        return await self._emulation.start_satellite(satellite_id)

    async def stop(self, grace_s: float) -> None:
        await self._emulation.stop(grace_s)

    async def pid(self) -> int:
        import os

        return os.getpid()


class OrchestratorLost(RuntimeError):
    """The orchestrator died and could not be replaced."""


class EmulationFailed(RuntimeError):
    """The emulation could not start; the message is the first line of why (from
    whichever actor failed)."""


def _root_cause(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while isinstance(cause, ray.exceptions.RayTaskError) and cause.cause is not None:
        cause = cause.cause
    text = str(cause or exc).strip()
    return text.splitlines()[0] if text else type(cause or exc).__name__


class Orchestrator:
    """Handle to a running emulation (its orchestrator actor).

    The satellite and gateway hosts are detached actors of their own, so they outlive an
    orchestrator that dies; :meth:`supervise` (called by ``orbitmesh up`` every second)
    notices a dead orchestrator and starts another that takes the hosts over."""

    def __init__(
        self,
        handle: Any,
        endpoints: dict[str, Any],
        *,
        scenario: str = "",
        options: EmulationOptions | None = None,
        actor_options: dict[str, Any] | None = None,
    ) -> None:
        self.handle = handle
        self.endpoints = endpoints
        self.scenario = scenario
        self.options = options or EmulationOptions()
        self._actor_options = actor_options or {}
        #: Orchestrators started to replace one that died.
        self.replacements = 0

    @staticmethod
    def _actor_options_for(name: str | None) -> dict[str, Any]:
        options: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 1000}
        if name is not None:
            options |= {"name": name, "namespace": ORCHESTRATOR_NAMESPACE}
        return options

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
        options = options or EmulationOptions()
        actor_options = cls._actor_options_for(name)
        remote: Any = ray.remote(_OrchestratorBody)
        handle = remote.options(**actor_options).remote(scenario, options)
        try:
            endpoints: dict[str, Any] = ray.get(handle.start.remote(), timeout=timeout_s)
        except ray.exceptions.RayTaskError as exc:
            ray.kill(handle)
            kill_hosts(options.run_id)
            raise EmulationFailed(_root_cause(exc)) from exc
        except BaseException:
            ray.kill(handle)
            kill_hosts(options.run_id)
            raise
        return cls(
            handle, endpoints, scenario=scenario, options=options, actor_options=actor_options
        )

    def alive(self, timeout_s: float = 10.0) -> bool:
        """Whether the orchestrator answers."""
        try:
            ray.get(self.handle.finished.remote(), timeout=timeout_s)
        except ray.exceptions.RayActorError:
            return False
        return True

    def supervise(self, timeout_s: float = 120.0) -> bool:
        """Replace a dead orchestrator with one that takes the running hosts over; True
        when it did. Raises :class:`OrchestratorLost` when the replacement fails."""
        if self.alive():
            return False
        ray.kill(self.handle, no_restart=True)
        remote: Any = ray.remote(_OrchestratorBody)
        handle = remote.options(**self._actor_options).remote(self.scenario, self.options)
        try:
            self.endpoints = ray.get(handle.resume.remote(self.endpoints), timeout=timeout_s)
        except Exception as exc:
            ray.kill(handle)
            raise OrchestratorLost(
                f"the orchestrator died and its replacement failed: {exc}"
            ) from exc
        self.handle = handle
        self.replacements += 1
        return True

    def status(self, timeout_s: float = 30.0) -> dict[str, Any]:
        result: dict[str, Any] = ray.get(self.handle.status.remote(), timeout=timeout_s)
        return result

    def current_endpoints(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """The endpoints document as it stands now (a host restarted when its old port was
        taken serves on a new one)."""
        result: dict[str, Any] = ray.get(self.handle.endpoints.remote(), timeout=timeout_s)
        self.endpoints = result
        return result

    def counters(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """Clock, tick and restart counters and current addresses (see Emulation.counters)."""
        result: dict[str, Any] = ray.get(self.handle.counters.remote(), timeout=timeout_s)
        return result

    def finished(self) -> bool:
        return bool(ray.get(self.handle.finished.remote()))

    def inject_fault(self, entry: dict[str, Any], timeout_s: float = 60.0) -> list[dict[str, Any]]:
        """Add one ``[[fault]]`` entry to the running emulation (from now unless ``at_s``);
        returns its events. Raises FaultError (inside Ray's RayTaskError) when invalid."""
        events: list[dict[str, Any]] = ray.get(
            self.handle.inject_fault.remote(entry), timeout=timeout_s
        )
        return events

    def stop_satellite(self, satellite_id: str, grace_s: float = 0.0) -> None:
        """Stop one satellite inside its running host (fault injection); the satellites
        sharing its host keep serving, and stations see it down at once."""
        ray.get(self.handle.stop_satellite.remote(satellite_id, grace_s), timeout=60.0)

    def start_satellite(self, satellite_id: str) -> str:
        """Start a stopped satellite again (on its old port when free); returns its address."""
        address: str = ray.get(self.handle.start_satellite.remote(satellite_id), timeout=60.0)
        return address

    def stop(self, grace_s: float = 5.0, timeout_s: float = 120.0) -> None:
        """Drain and stop every satellite and gateway, then the orchestrator; the hosts
        are ended even when the orchestrator cannot do it."""
        try:
            ray.get(self.handle.stop.remote(grace_s), timeout=timeout_s)
        finally:
            ray.kill(self.handle)
            kill_hosts(self.options.run_id)


def kill_hosts(run_id: str) -> int:
    """End every host actor of the run ``run_id`` still alive; returns how many."""
    from ray.util import list_named_actors

    prefix = host_actor_name(run_id, "")
    killed = 0
    for entry in list_named_actors(all_namespaces=True):
        if entry["namespace"] == RUN_NAMESPACE and entry["name"].startswith(prefix):
            try:
                ray.kill(ray.get_actor(entry["name"], namespace=RUN_NAMESPACE), no_restart=True)
                killed += 1
            except ValueError:  # ended meanwhile
                pass
    return killed
