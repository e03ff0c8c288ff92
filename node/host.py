"""Many satellites in one process: the plain class behind a satellite host actor.

A satellite stays an independent node: its own gRPC endpoint (inference, telemetry,
health, reflection), queue, concurrency limit, battery, heat, books and app instance,
and it can be stopped and started again on its own. What its host shares is what does
not depend on the satellite: the process and its imports, one event loop, the open
ONNX Runtime sessions (one per model, each satellite still queued and slowed on its
own), and one view of the links and the fleet (one stream of ticks per host, not per
satellite). One satellite per host is the same code with one member.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import grpc

from orbitmesh.clock import SimClock
from orbitmesh.hosting import HostPorts, port_of, start_on
from orbitmesh.links.datapath import DataPathClient, DataPathServer, RemoteError
from orbitmesh.links.fleet import FleetStatus
from orbitmesh.links.linkstate import TickLinks, Topology
from orbitmesh.links.linkview import LinkView
from orbitmesh.links.shortest import warm_up
from orbitmesh.links.timing import in_slices, quiet_garbage_collector, sleep_until
from orbitmesh.node.models.onnx_session import providers_for
from orbitmesh.node.runtime import LoadedModel
from orbitmesh.node.server import NodeConfig, SatelliteServer, release_startup_memory
from orbitmesh.node.servicer import vitals_message
from orbitmesh.node.state import NodeSnapshot, VitalsTable
from orbitmesh.protos.orbitmesh.v1 import host_pb2
from orbitmesh.protos.serving import advertised_address, start_host_server

_log = logging.getLogger(__name__)

__all__ = ["VITALS_MAX_AGE_S", "HostConfig", "HostStatus", "SatelliteHost"]

#: A brief status older than this is computed afresh rather than answered from the
#: orchestrator's last poll.
VITALS_MAX_AGE_S = 5.0


@dataclass(frozen=True)
class HostConfig:
    """The satellites one host process runs, and the run's fixed topology."""

    host_id: str
    satellites: tuple[NodeConfig, ...]
    topology: Topology | None = None

    def __post_init__(self) -> None:
        ids = [c.satellite_id for c in self.satellites]
        if len(set(ids)) != len(ids):
            raise ValueError(f"host {self.host_id}: a satellite is listed twice")


@dataclass(frozen=True)
class HostStatus:
    """Every member's status, one row per satellite in ``satellite_ids`` order."""

    host_id: str
    pid: int
    #: Where the host's data path listens (links/datapath.py).
    datapath: str | None
    satellite_ids: tuple[str, ...]
    #: None while a satellite is stopped.
    addresses: tuple[str | None, ...]
    models: tuple[tuple[str, ...], ...]
    vitals: VitalsTable


class SatelliteHost:
    def __init__(self, config: HostConfig) -> None:
        self.config = config
        self.configs = {c.satellite_id: c for c in config.satellites}
        self.view = LinkView(config.topology)
        self.sessions: dict[tuple[str, Path], LoadedModel] = {}
        #: Where its sessions run, said at start-up (``[node] execution_provider``).
        self.execution = ""
        #: The run's security (every member has the same; None: plaintext).
        self.security = config.satellites[0].security if config.satellites else None
        credentials = None if self.security is None else self.security.credentials()
        #: Calls to other satellites (pipelines, apps), shared by every member.
        self.datapath = DataPathClient(credentials)
        self._listener = DataPathServer(self._serve, self.security)
        self.datapath_address: str | None = None
        self.clock: SimClock | None = None
        self.members = {sid: self._server_for(c) for sid, c in self.configs.items()}
        self.stopped: set[str] = set()
        self.last_status: HostStatus | None = None
        self._last_status_wall = 0.0
        self._server: Any = None
        #: Where this host's own ``orbitmesh.v1.Host`` service answers.
        self.address: str | None = None
        #: Loading the compiled route searches in the background (see start()).
        self._warm: asyncio.Future[None] | None = None

    @property
    def host_id(self) -> str:
        return self.config.host_id

    async def start(self, ports: HostPorts | None = None) -> dict[str, str]:
        """Start every member's server and the host's own; returns each satellite's
        address. ``ports``: where a previous incarnation listened (a port taken meanwhile
        is replaced by a free one)."""
        wanted = ports.members if ports is not None else {}
        addresses = await asyncio.gather(
            *(start_on(m.start, wanted.get(sid, 0)) for sid, m in self.members.items())
        )
        bind = self.config.satellites[0].host if self.config.satellites else "127.0.0.1"
        servicer = _HostServicer(self)
        self._server, self.address = await start_on(
            lambda port: start_host_server(servicer, bind, port, self.security),
            ports.host if ports else 0,
        )
        datapath_port = await start_on(
            lambda port: self._listener.start(bind, port), ports.datapath if ports else 0
        )
        self.datapath_address = advertised_address(bind, datapath_port)
        # A satellite searches routes only to forward (pipelines, apps): load the compiled
        # searches beside serving rather than on the first forward.
        self._warm = asyncio.get_running_loop().run_in_executor(None, warm_up)
        self.execution = self._report_execution()
        # Once per process, after the last member started (not once per satellite).
        release_startup_memory()
        quiet_garbage_collector(collect=False)
        return dict(zip(self.members, addresses, strict=True))

    def _report_execution(self) -> str:
        """Where this host's sessions run, said once at start-up: the provider asked
        for, and the one ONNX Runtime gave (a CUDA session without a device runs on the
        CPU)."""
        wanted = self.config.satellites[0].node.execution_provider
        _, note = providers_for(wanted)
        used = sorted(
            {
                model.session.get_providers()[0]
                for member in self.members.values()
                for model in member.runtime.models.values()
            }
        )
        line = f"host {self.config.host_id}: {note}; sessions on {', '.join(used) or 'none'}"
        fell_back = wanted == "cuda" and "CUDAExecutionProvider" not in used
        _log.log(logging.WARNING if fell_back else logging.INFO, line)
        return line

    def ports(self) -> HostPorts:
        """Where this host's servers listen (a restarted host binds them again)."""
        return HostPorts(
            members={sid: m.port for sid, m in self.members.items() if m.port},
            host=port_of(self.address),
            datapath=self._listener.port or 0,
        )

    def _server_for(self, config: NodeConfig) -> SatelliteServer:
        return SatelliteServer(
            config, view=self.view, sessions=self.sessions, datapath=self.datapath
        )

    async def _serve(
        self, satellite_id: str, request: bytes, deliver_at: float, time_remaining_s: float | None
    ) -> bytes:
        """One request from the data path: it waits until it reaches the satellite, and
        that wait comes out of the caller's deadline."""
        received = time.time()
        if deliver_at > received:
            await sleep_until(deliver_at)
            if time_remaining_s is not None:
                time_remaining_s -= time.time() - received
        member = self.members.get(satellite_id)
        if member is None or satellite_id in self.stopped:
            # As a stopped gRPC server answers: UNAVAILABLE without a cause.
            raise RemoteError(
                grpc.StatusCode.UNAVAILABLE, f"satellite {satellite_id} is not serving"
            )
        return await member.infer_bytes(request, time_remaining_s)

    def member(self, satellite_id: str) -> SatelliteServer:
        try:
            return self.members[satellite_id]
        except KeyError:
            raise KeyError(f"satellite {satellite_id!r} is not on host {self.host_id}") from None

    async def status(self) -> HostStatus:
        """Every member's vitals, computed a few at a time so that requests to the
        satellites of this host are not held up by a poll of hundreds."""
        members = self.members
        vitals = await in_slices(list(members.values()), lambda m: m.state.vitals())
        self.last_status = HostStatus(
            host_id=self.host_id,
            pid=os.getpid(),
            datapath=self.datapath_address,
            satellite_ids=tuple(members),
            addresses=tuple(
                None if sid in self.stopped else m.address for sid, m in members.items()
            ),
            models=tuple(tuple(m.model_names) for m in members.values()),
            vitals=VitalsTable.of(vitals),
        )
        self._last_status_wall = time.time()
        return self.last_status

    async def recent_status(self, max_age_s: float = VITALS_MAX_AGE_S) -> HostStatus:
        """The last status if it is recent (the orchestrator polls every few seconds),
        else a fresh one: a second poller costs the host nothing."""
        if self.last_status is not None and time.time() - self._last_status_wall <= max_age_s:
            return self.last_status
        return await self.status()

    def snapshot(self, satellite_id: str) -> NodeSnapshot:
        return self.member(satellite_id).snapshot()

    def set_clock(self, clock: SimClock) -> None:
        self.clock = clock
        for m in self.members.values():
            m.set_clock(clock)

    def restore(self, states: Mapping[str, tuple[float, float]]) -> None:
        """Battery (Wh) and temperature (degC) of satellites from a previous incarnation."""
        for sid, (battery_wh, temperature_c) in states.items():
            self.member(sid).state.restore(battery_wh=battery_wh, temperature_c=temperature_c)

    def publish(self, ticks: Sequence[TickLinks]) -> None:
        now = self.clock.offset_s() if self.clock is not None else ticks[0].offset_s
        self.view.publish(ticks, now)

    def update_fleet(self, fleet: FleetStatus) -> None:
        self.view.fleet = fleet

    async def stop_member(self, satellite_id: str, grace_s: float = 5.0) -> None:
        """Stop one satellite's servers (in-flight calls get ``grace_s``); the others
        keep serving."""
        member = self.member(satellite_id)
        self.stopped.add(satellite_id)
        await member.stop(grace_s)

    async def start_member(self, satellite_id: str, reset: Literal["warm", "cold"] = "warm") -> str:
        """Start a stopped satellite again: a new incarnation on the same port (when it
        is free), with the battery charge and temperature it stopped with, and its
        radiation history: a ``cold`` reset also reloads the weights (their upsets are
        gone), a ``warm`` one keeps them."""
        old = self.member(satellite_id)
        if satellite_id not in self.stopped:
            raise RuntimeError(f"satellite {satellite_id} is running")
        if reset not in ("warm", "cold"):
            raise ValueError(f"reset must be 'warm' or 'cold', got {reset!r}")
        fresh = self._server_for(self.configs[satellite_id])
        if self.clock is not None:
            fresh.set_clock(self.clock)
        old.state.advance()
        fresh.state.restore(
            battery_wh=old.state.battery.energy_wh, temperature_c=old.state.heat.temperature_c
        )
        radiation = old.state.radiation
        if radiation is not None:
            # The same history (events so far, earlier reboots), rebooted now.
            fresh.state.radiation = radiation
            radiation.reboot(old.state.clock(), cold=reset == "cold")
        address = await start_on(fresh.start, old.port or 0)
        self.members[satellite_id] = fresh
        self.stopped.discard(satellite_id)
        return address

    async def stop(self, grace_s: float = 5.0) -> None:
        await asyncio.gather(
            *(m.stop(grace_s) for sid, m in self.members.items() if sid not in self.stopped)
        )
        if self._server is not None:
            await self._server.stop(0)
            self._server = None
        await self._listener.stop()
        await self.datapath.close()


class _HostServicer:
    """``orbitmesh.v1.Host`` for a satellite host: every running member's status."""

    def __init__(self, host: SatelliteHost) -> None:
        self.host = host

    async def Members(self, request: Any, context: Any) -> Any:  # noqa: N802 (protocol names)
        host = self.host
        reply = host_pb2.HostMembers(host_id=host.host_id, pid=os.getpid())
        if request.brief:
            status = await host.recent_status()
            serving = [a is not None for a in status.addresses]
            start = (host.clock or host.config.satellites[0].clock).start
            reply.vitals.CopyFrom(
                vitals_message(status.satellite_ids, status.vitals, serving, start)
            )
            return reply
        running = [m for sid, m in host.members.items() if sid not in host.stopped]
        reply.satellites.extend(await in_slices(running, lambda m: m.status_message()))
        return reply
