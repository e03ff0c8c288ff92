"""The running emulation: hosts of satellites and gateways, and the tick loop feeding them.

:class:`Emulation` runs inside the orchestrator's Ray actor (orchestrator/actor.py). It
deals the compute satellites and ground-station gateways into host actors
(orchestrator/placement.py), owns the simulated clock, computes geometry ticks ahead of
that clock in a worker thread (so the actor stays responsive when geometry is slow) and
publishes them with one call per host per batch: the laser links to every host, and to
each gateway host the ground links of its own stations. It polls every host for its
satellites' status once a second, passes the fleet's status on, restores the satellites
of a restarted host, and can stop and start one satellite inside a live host. Ticks
computed after their simulated time has begun are counted as late.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import ray

from orbitmesh.clock import SimClock
from orbitmesh.ground.actor import GatewayHostActor, GatewayIncarnation
from orbitmesh.ground.gateway import GatewayConfig
from orbitmesh.ground.host import GatewayHostConfig
from orbitmesh.heap import release_freed_heap
from orbitmesh.hosting import HostPorts, HostStarted
from orbitmesh.links.fleet import FleetStatus, SatelliteInfo
from orbitmesh.links.linkstate import TickLinks, Topology
from orbitmesh.links.model import LinkParams
from orbitmesh.links.rejoin import Rejoin
from orbitmesh.node.actor import HostIncarnation, SatelliteHostActor
from orbitmesh.node.host import HostStatus
from orbitmesh.node.power import PowerState
from orbitmesh.node.thermal import ThermalState
from orbitmesh.orchestrator.faultplan import FaultPlan, SatelliteFault
from orbitmesh.orchestrator.faults import FAULT_KINDS, FaultError
from orbitmesh.orchestrator.geometry import GeometryEngine
from orbitmesh.orchestrator.launch import node_configs
from orbitmesh.orchestrator.placement import (
    Placement,
    PlacementSpec,
    deal,
    host_configs,
    placement_json,
)
from orbitmesh.orchestrator.publish import tick_links, topology
from orbitmesh.orchestrator.scenario import Scenario, load_scenario
from orbitmesh.orchestrator.trace import TraceReader, TraceWriter
from orbitmesh.protos.serving import Security

__all__ = ["RUN_NAMESPACE", "Emulation", "EmulationOptions", "host_actor_name"]

#: Nice value of the orchestrator's geometry thread. It computes ticks seconds ahead of
#: the clock in bursts (a batch of a million satellites' ticks holds a core for a second
#: or more); at the same priority it takes that core from gateways and satellites
#: answering requests now. At 10 the kernel lets the data path run first whenever both
#: want a core, and the geometry has the rest (it needs a quarter of one at 10^6).
GEOMETRY_NICE = 10


def _background_priority() -> None:
    """Lower the calling thread's priority (Linux: nice is per thread); threads it
    starts (the route searches' workers) inherit it. Where that is refused, the thread
    keeps its priority."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), GEOMETRY_NICE)


#: The Ray namespace of an emulation's named actors (its orchestrator and hosts).
RUN_NAMESPACE = "orbitmesh"

#: Ticks computed in one hand-off to the worker thread and sent to a host in one call:
#: as many as a quarter second of wall time holds, within these bounds. Larger batches
#: amortise the hand-off and the actor calls (at speed 200, batches of 50 publish twice
#: as many ticks a second as batches of 10); smaller ones hold the first tick of a batch
#: (computed first, published last) back for less (a tick takes 3-7 ms here).
_PUBLISH_BATCH_MIN, _PUBLISH_BATCH_MAX = 10, 50
_PUBLISH_BATCH_WALL_S = 0.25
#: Where simulated time stands while the emulation starts (far before time 0).
_NOT_STARTED_S = 1e7
#: Simulated time 0 comes this long after every actor has been given the clock.
_CLOCK_LEAD_S = 0.25
#: Geometry is computed at least this much wall time ahead of the clock, whatever the
#: speed: at speed 200 the default 10 simulated seconds are only 50 ms of wall, less
#: than one pause of a busy machine.
_MIN_AHEAD_WALL_S = 1.0
#: A host that does not answer a status call within this long counts as down.
_STATUS_TIMEOUT_S = 10.0
#: Satellites polled a second at most: integrating a satellite's battery and heat for a
#: poll costs its host about 20 us, taken from the requests it serves.
SATELLITES_POLLED_PER_S = 500.0


@dataclass(frozen=True)
class EmulationOptions:
    speed: float | None = None  # None: the scenario's
    duration_s: float | None = None  # None: the scenario's
    #: Geometry is computed this many simulated seconds ahead of the clock.
    ahead_s: float = 10.0
    host: str = "127.0.0.1"
    record: Path | None = None
    replay: Path | None = None
    #: Times Ray restarts a satellite host that died.
    satellite_restarts: int = 3
    #: Times Ray restarts a gateway host that died.
    gateway_restarts: int = 3
    #: Names this run's host actors (detached, so that they outlive an orchestrator that
    #: dies: a new one takes them over).
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    #: Seconds between two polls of every satellite (None: one second per
    #: ``SATELLITES_POLLED_PER_S`` satellites, at least one).
    status_interval_s: float | None = None
    model_cache: Path | None = None
    #: Satellites and stations per host process (None: the scenario's [placement]).
    satellites_per_host: int | None = None
    stations_per_host: int | None = None
    #: TLS and the bearer token of every server (None: plaintext; docs/security.md).
    security: Security | None = None

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be a positive number, got {value}"
            for name, value in (
                ("speed", self.speed),
                ("duration_s", self.duration_s),
                ("ahead_s", self.ahead_s),
                ("status_interval_s", self.status_interval_s),
            )
            if value is not None and not (math.isfinite(value) and value > 0)
        ]
        for name in ("satellite_restarts", "gateway_restarts"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("satellites_per_host", "stations_per_host"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"{name} must be at least 1, got {value}")
        if self.record is not None and self.record == self.replay:
            # Recording a replay is how a replay is checked, but not over its own source.
            problems.append("record and replay name the same file")
        if problems:
            raise ValueError("; ".join(problems))


class Emulation:
    def __init__(self, scenario: str, options: EmulationOptions) -> None:
        self.scenario_ref = scenario
        self.options = options
        self.scenario: Scenario | None = None
        self.engine: GeometryEngine | None = None
        self.topology: Topology | None = None
        self.placement: Placement | None = None
        self.clock: SimClock | None = None
        self.sat_hosts: dict[str, SatelliteHostActor] = {}
        self.gw_hosts: dict[str, GatewayHostActor] = {}
        #: Which host runs each satellite.
        self.host_of: dict[str, str] = {}
        self.addresses: dict[str, str] = {}
        self.station_addresses: dict[str, str] = {}
        #: Each satellite host's last status, and where its rows go in compute order.
        self.host_status: dict[str, HostStatus] = {}
        self._rows: dict[str, np.ndarray] = {}
        #: Each host's process (satellite and gateway hosts): changes when Ray restarts it.
        self.incarnations: dict[str, str] = {}
        #: Where each host's servers listen: a restarted host binds them again.
        self.ports: dict[str, HostPorts] = {}
        self.pids: dict[str, int] = {}
        self.node_ids: dict[str, str] = {}
        #: Where each host's own ``orbitmesh.v1.Host`` service answers.
        self.host_addresses: dict[str, str | None] = {}
        self._sent_gist: tuple[Any, ...] | None = None
        #: Ticks published that still hold or are to come: a restarted host gets them again.
        self._window: list[TickLinks] = []
        #: The same ticks as geometry gave them, before faults: an injected fault is
        #: applied to them again.
        self._raw_window: list[TickLinks] = []
        #: Every fault of the run (None when replaying: the trace carries them).
        self.faults: FaultPlan | None = None
        #: Satellite faults to apply (from the plan, or from a replayed trace).
        self._satellite_faults: list[SatelliteFault] = []
        #: Compute satellites down because of a fault, with the fault's label.
        self.down_by_fault: dict[str, str] = {}
        #: Satellite faults applied so far (recorded with a trace).
        self.fault_log: list[SatelliteFault] = []
        self._fault_wakeup = asyncio.Event()
        #: Satellites not serving: stopped on purpose, or on a host that does not answer.
        self.down: set[str] = set()
        self.restarts: Counter[str] = Counter()
        #: Restarts of each gateway host seen by this orchestrator.
        self.gateway_restarts: Counter[str] = Counter()
        #: Whether this orchestrator took over a running emulation (``resume``).
        self.resumed = False
        self.ticks_published = 0
        self.ticks_late = 0
        #: What publishing costs, per tick of the last batch: geometry and faults (ms of
        #: the worker thread), handing to Ray (ms of the event loop), bytes put in Ray's
        #: object store for all receivers.
        self.publish_cost: dict[str, float] = {"compute_ms": 0.0, "send_ms": 0.0, "mb": 0.0}
        self._next_tick = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._writer: TraceWriter | None = None
        self._reader: TraceReader | None = None
        self.end_s = 0.0
        #: The thread the ticks are computed in, at background priority (see
        #: GEOMETRY_NICE): the geometry works seconds ahead of the clock, the data path
        #: answers requests now.
        self._geometry = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="geometry", initializer=_background_priority
        )

    # ------------------------------------------------------------------ start

    async def _load(self) -> tuple[Scenario, GeometryEngine, Topology]:
        """The scenario, its geometry and topology: the same for a resumed orchestrator."""
        loop = asyncio.get_running_loop()
        scenario = await loop.run_in_executor(None, load_scenario, self.scenario_ref)
        engine = await loop.run_in_executor(None, GeometryEngine, scenario)
        self.scenario, self.engine = scenario, engine
        topo = self.topology = topology(engine)
        self.end_s = (
            self.options.duration_s
            if self.options.duration_s is not None
            else scenario.time.duration_s
        )
        if self.options.replay is not None:
            self._reader = TraceReader(self.options.replay)
            self._reader.check(scenario.name, engine.stations.names, list(engine.catalog.ids))
            # The trace carries the faults of the recorded run: its ticks as published,
            # its satellites' faults as applied.
            self._satellite_faults = [
                SatelliteFault.from_json(f) for f in self._reader.satellite_faults
            ]
        else:
            self.faults = FaultPlan.of_run(
                scenario.faults,
                seed=scenario.fault_seed,
                catalog=engine.catalog,
                topology=topo,
                duration_s=self.end_s,
            )
            self._satellite_faults = self.faults.satellite_faults()
        return scenario, engine, topo

    def _named(self, remote_class: Any, host_id: str) -> Any:
        """A host's actor class, detached and named for this run: a host must outlive an
        orchestrator that dies (Ray ends the actors an actor owns with it), and the
        orchestrator that takes over finds it by name."""
        return remote_class.options(
            name=host_actor_name(self.options.run_id, host_id),
            namespace=RUN_NAMESPACE,
            lifetime="detached",
        )

    async def start(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        scenario, engine, topo = await self._load()
        speed = self.options.speed or scenario.time.speed
        # Until everything serves, simulated time stands far before 0; the real clock is
        # sent to every actor once they are all up, so time 0 is when the run can begin.
        clock = SimClock(start=scenario.time.start, speed=speed, wall0=time.time() + _NOT_STARTED_S)
        self.clock = clock
        configs = await loop.run_in_executor(
            None,
            lambda: node_configs(
                engine,
                clock,
                duration_s=self.end_s,
                host=self.options.host,
                model_cache=self.options.model_cache,
                security=self.options.security,
            ),
        )
        link_params = LinkParams(loss_rate=scenario.links.loss_rate, seed=scenario.links.loss_seed)
        # Terminals' gateways stand where each terminal starts; where it is at each tick
        # is in the ground links the orchestrator publishes.
        stations = engine.stations
        places = [(g.lat_deg, g.lon_deg, g.alt_m) for g in scenario.ground_stations]
        if stations.terminals is not None:
            lat, lon, alt = stations.terminals.geodetic(0.0)
            places += zip(lat.tolist(), lon.tolist(), alt.tolist(), strict=True)
        gateway_configs = [
            GatewayConfig(
                station=name,
                lat_deg=places[j][0],
                lon_deg=places[j][1],
                alt_m=places[j][2],
                min_elevation_deg=float(stations.mask_deg[j]),
                clock=clock,
                link_params=link_params,
                max_message_bytes=scenario.nodes.node.max_message_bytes,
                host=self.options.host,
                security=self.options.security,
            )
            for j, name in enumerate(stations.names)
        ]
        spec: PlacementSpec = scenario.placement.with_overrides(
            self.options.satellites_per_host, self.options.stations_per_host
        )
        placement = self.placement = Placement.resolve(
            spec,
            satellites=len(configs),
            stations=len(gateway_configs),
            cluster_cpus=float(ray.cluster_resources().get("CPU", 1.0)),  # type: ignore[no-untyped-call]
            available_cpus=float(ray.available_resources().get("CPU", 0.0)),  # type: ignore[no-untyped-call]
        )
        sat_configs = host_configs(configs, placement.satellites_per_host, topology=topo)
        gw_configs = [
            GatewayHostConfig(f"gw-host-{k}", members, topo)
            for k, members in enumerate(deal(gateway_configs, placement.stations_per_host))
        ]
        sat_cls = SatelliteHostActor.remote_class(
            num_cpus=placement.cpus_per_host, max_restarts=self.options.satellite_restarts
        )
        gw_cls = GatewayHostActor.remote_class(
            num_cpus=placement.cpus_per_host, max_restarts=self.options.gateway_restarts
        )
        sat_handles = [self._named(sat_cls, c.host_id).remote(c) for c in sat_configs]
        gw_handles = [self._named(gw_cls, c.host_id).remote(c) for c in gw_configs]
        sat_started: list[HostStarted] = await asyncio.gather(
            *(h.start.remote() for h in sat_handles)
        )
        gw_started: list[HostStarted] = await asyncio.gather(
            *(h.start.remote() for h in gw_handles)
        )
        for handle, host_config, started in zip(sat_handles, sat_configs, sat_started, strict=True):
            self.sat_hosts[host_config.host_id] = SatelliteHostActor(handle, host_config, started)
            for sid in started.members:
                self.host_of[sid] = host_config.host_id
        for handle, gw_config, started in zip(gw_handles, gw_configs, gw_started, strict=True):
            self.gw_hosts[gw_config.host_id] = GatewayHostActor(handle, gw_config, started)
        for host_id, started in zip(
            [*self.sat_hosts, *self.gw_hosts], [*sat_started, *gw_started], strict=True
        ):
            self.host_addresses[host_id] = started.address
            self.node_ids[host_id] = started.node_id
        # In the catalog's (and the scenario's) order: hosts deal them out.
        members = {k: v for started in sat_started + gw_started for k, v in started.members.items()}
        self.addresses = {sid: members[sid] for sid in topo.compute_ids}
        self.station_addresses = {name: members[name] for name in topo.station_names}
        if self.options.record is not None:
            self._writer = TraceWriter(
                self.options.record, scenario.name, engine.stations.names, list(engine.catalog.ids)
            )
        await self._poll_status()
        # Time 0 waits until the first ticks can be ready: one tick is timed (and
        # thrown away) to see how long the first batch takes to compute. A million
        # satellites need a quarter of a second a tick, ten ticks before time 0.
        began = time.perf_counter()
        await asyncio.get_running_loop().run_in_executor(None, self._compute_many, [0])
        first = math.ceil(self.options.ahead_s / scenario.time.step_s) + 1
        lead_s = max(_CLOCK_LEAD_S, 1.5 * first * (time.perf_counter() - began))
        self.clock = SimClock(start=scenario.time.start, speed=speed, wall0=time.time() + lead_s)
        await asyncio.gather(
            *(h.handle.set_clock.remote(self.clock) for h in self.sat_hosts.values()),
            *(h.handle.set_clock.remote(self.clock) for h in self.gw_hosts.values()),
        )
        # Only the first few ticks before time 0: the whole lookahead (a second of wall
        # or more) would not be computed within the clock's start-up lead.
        await self._publish_due(ahead_s=self.options.ahead_s)
        await asyncio.sleep(max(0.0, self.clock.wall0 - time.time()))  # return once time 0 came
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._tick_loop()),
            loop.create_task(self._status_loop()),
            loop.create_task(self._fault_loop()),
        ]
        return self.endpoints()

    async def resume(self, endpoints: dict[str, Any]) -> dict[str, Any]:
        """Take over a running emulation whose orchestrator died: its hosts (detached,
        named for the run) kept serving on the ticks they had; find them, read the clock
        and placement from the endpoints document ``up`` wrote, ask each host who it is,
        give a host Ray restarted meanwhile what it needs, and publish on from now.

        A recording (``record``) is not continued: the ticks of the dead orchestrator's
        last batch never reached the file.
        """
        scenario, _engine, topo = await self._load()
        self.resumed = True
        self.options = replace(self.options, record=None)
        self.clock = SimClock(
            start=datetime.fromisoformat(str(endpoints["sim_start"]).replace("Z", "+00:00")),
            speed=float(endpoints["speed"]),
            wall0=float(endpoints["wall0"]),
        )
        self.end_s = float(endpoints["duration_s"])
        self.placement = Placement(**endpoints["placement"])
        self.addresses = {sid: endpoints["satellites"][sid] for sid in topo.compute_ids}
        self.station_addresses = dict(endpoints["ground_stations"]) | dict(
            endpoints.get("terminals") or {}
        )
        for host_id, info in endpoints["hosts"].items():
            handle: Any = ray.get_actor(
                host_actor_name(self.options.run_id, host_id), namespace=RUN_NAMESPACE
            )
            config = await handle.config.remote()
            self.host_addresses[host_id] = info.get("address")
            if "satellites" in info:
                members = {sid: self.addresses[sid] for sid in info["satellites"]}
                started = HostStarted(members, info.get("address"), info.get("node_id") or "")
                self.sat_hosts[host_id] = SatelliteHostActor(handle, config, started)
                for sid in members:
                    self.host_of[sid] = host_id
            else:
                members = {name: self.station_addresses[name] for name in info["stations"]}
                started = HostStarted(members, info.get("address"), info.get("node_id") or "")
                self.gw_hosts[host_id] = GatewayHostActor(handle, config, started)
        # The tick holding now and those after it go out again (hosts replace what they
        # hold); the ones before count as published by the orchestrator that died.
        now_s = max(0.0, self.clock.offset_s())
        self._next_tick = int(now_s // scenario.time.step_s)
        self.ticks_published = self._next_tick
        self._raw_window = self._geometry_many([self._next_tick])
        self._window = [self._faulted(t) for t in self._raw_window]
        self._next_tick += 1
        self.ticks_published += 1
        await self._poll_status()
        self._send(self._window)
        await self._publish_due()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._tick_loop()),
            loop.create_task(self._status_loop()),
            loop.create_task(self._fault_loop()),
        ]
        return self.endpoints()

    def _gateway_addresses(self) -> dict[str, dict[str, str]]:
        """Stations' gateways, and terminals' where the scenario has any."""
        assert self.scenario is not None
        moving = {tid for spec in self.scenario.terminals for tid in spec.ids}
        out = {
            "ground_stations": {k: v for k, v in self.station_addresses.items() if k not in moving}
        }
        if moving:
            out["terminals"] = {k: v for k, v in self.station_addresses.items() if k in moving}
        return out

    def endpoints(self) -> dict[str, Any]:
        assert self.scenario is not None and self.clock is not None
        assert self.placement is not None
        return {
            "scenario": self.scenario.name,
            **self._gateway_addresses(),
            "satellites": dict(self.addresses),
            "speed": self.clock.speed,
            "sim_start": self.clock.start.isoformat().replace("+00:00", "Z"),
            "wall0": self.clock.wall0,
            "duration_s": self.end_s,
            "placement": dict(placement_json(self.placement)),
            "hosts": self.hosts(),
            "run_id": self.options.run_id,
            # Where other drivers join the run (`orbitmesh fault`).
            "ray_address": ray.get_runtime_context().gcs_address,
        }

    def hosts(self) -> dict[str, dict[str, Any]]:
        """Each host's members and where it runs."""
        out: dict[str, dict[str, Any]] = {}
        for host_id, host in self.sat_hosts.items():
            out[host_id] = {
                "address": self.host_addresses.get(host_id),
                "satellites": host.satellite_ids,
                "pid": self.pids.get(host_id),
                "node_id": self.node_ids.get(host_id),
            }
        for host_id, gw in self.gw_hosts.items():
            out[host_id] = {
                "address": self.host_addresses.get(host_id),
                "stations": gw.stations,
                "pid": self.pids.get(host_id),
                "node_id": self.node_ids.get(host_id),
            }
        return out

    # ------------------------------------------------------------------ ticks

    def _tick_offset(self, index: int) -> float:
        assert self.scenario is not None
        return index * self.scenario.time.step_s

    @property
    def _ahead_s(self) -> float:
        assert self.clock is not None
        return max(self.options.ahead_s, _MIN_AHEAD_WALL_S * self.clock.speed)

    @property
    def _publish_batch(self) -> int:
        assert self.clock is not None and self.scenario is not None
        ticks = int(_PUBLISH_BATCH_WALL_S * self.clock.speed / self.scenario.time.step_s)
        return min(max(ticks, _PUBLISH_BATCH_MIN), _PUBLISH_BATCH_MAX)

    def _geometry_many(self, indices: list[int]) -> list[TickLinks]:
        # One hand-off to the worker thread per batch, not per tick: at high speed the
        # hand-off and the event loop's turn cost as much as the geometry itself.
        assert self.engine is not None
        if self._reader is not None:
            return [self._reader.tick(index) for index in indices]
        engine = self.engine
        ticks = engine.ticks([self._tick_offset(i) for i in indices], routes=False)
        return [tick_links(engine, tick, i) for i, tick in zip(indices, ticks, strict=True)]

    def _faulted(self, tick: TickLinks) -> TickLinks:
        return tick if self.faults is None else self.faults.tick(tick)

    def _compute_many(self, indices: list[int]) -> tuple[list[TickLinks], list[TickLinks]]:
        """The ticks as geometry gives them, and as faults leave them (published)."""
        raw = self._geometry_many(indices)
        faulted = [self._faulted(t) for t in raw]
        # A batch frees hundreds of MB of arrays at a million satellites; without this
        # the orchestrator's own memory climbed in steps for minutes (soak, issue 12).
        release_freed_heap()
        return raw, faulted

    async def _publish_due(self, ahead_s: float | None = None) -> None:
        assert self.clock is not None
        loop = asyncio.get_running_loop()
        ahead = self._ahead_s if ahead_s is None else ahead_s
        horizon = min(self.clock.offset_s() + ahead, self.end_s)
        while not self._stopping and self._tick_offset(self._next_tick) <= horizon:
            # Compute what is due (up to a batch), then send each host its share in one
            # call: at high speed a tick lasts a few milliseconds of wall time.
            size = self._publish_batch
            indices: list[int] = []
            while (
                len(indices) < size and self._tick_offset(self._next_tick + len(indices)) <= horizon
            ):
                indices.append(self._next_tick + len(indices))
            began = time.perf_counter()
            raw, computed = await loop.run_in_executor(self._geometry, self._compute_many, indices)
            computed_at = time.perf_counter()
            now_s = self.clock.offset_s()
            for tick in computed:
                if tick.offset_s < now_s:
                    self.ticks_late += 1
                if self._writer is not None:
                    self._writer.add(tick)
            self._next_tick += len(indices)
            self.ticks_published += len(indices)
            self._window = [t for t in self._window if t.end_s >= now_s] + computed
            self._raw_window = [t for t in self._raw_window if t.end_s >= now_s] + raw
            sent_mb = self._send(computed)
            per_tick = 1.0 / len(indices)
            self.publish_cost = {
                "compute_ms": (computed_at - began) * 1e3 * per_tick,
                "send_ms": (time.perf_counter() - computed_at) * 1e3 * per_tick,
                "mb": sent_mb * per_tick,
            }

    def _send(self, ticks: list[TickLinks]) -> float:
        """One call per host: laser links to all, each gateway host its stations' ground
        links. Returns the megabytes handed to Ray."""
        topo = self.topology
        assert topo is not None
        # The laser links are the same for every host: serialised once (a million
        # satellites: 32 MB a tick); a gateway host gets its stations' part beside.
        theirs = [t.for_stations(()) for t in ticks]
        shared = ray.put(theirs)
        sent = sum(t.nbytes for t in theirs)
        for host in self.sat_hosts.values():
            host.handle.publish.remote(shared)
        for gw in self.gw_hosts.values():
            mine = [topo.station_number[name] for name in gw.stations]
            parts = [t.station_part(mine) for t in ticks]
            sent += sum(p.ground.nbytes for p in parts)
            gw.handle.publish.remote(shared, parts)
        return sent / 2**20

    async def _tick_loop(self) -> None:
        assert self.clock is not None and self.scenario is not None
        step_wall = self.scenario.time.step_s / self.clock.speed
        while not self._stopping and self._tick_offset(self._next_tick) <= self.end_s:
            # Refill once half the lead is used up: fewer, larger publications keep the
            # data path's processes undisturbed most of the time.
            known_s = self._tick_offset(self._next_tick) - self.clock.offset_s()
            if known_s <= self._ahead_s / 2:
                await self._publish_due()
            await asyncio.sleep(max(0.05, min(step_wall, 0.5)))

    # ------------------------------------------------------------------ satellites' health

    async def _poll_host(self, host_id: str, host: SatelliteHostActor) -> None:
        try:
            report: HostIncarnation = await asyncio.wait_for(
                host.handle.status.remote(), timeout=_STATUS_TIMEOUT_S
            )
            previous = self.incarnations.get(host_id)
            if report.status is None or (previous is not None and previous != report.incarnation):
                # Ray restarted it: it waits for its ports, clock, state and links.
                await self._rejoin(host, report)
                report = await asyncio.wait_for(
                    host.handle.status.remote(), timeout=_STATUS_TIMEOUT_S
                )
                for sid in host.satellite_ids:
                    self.restarts[sid] += 1
                    if sid in self.down_by_fault:  # it came back with the others
                        await host.handle.stop_member.remote(sid, 0.0)
        except Exception:
            self.down.update(host.satellite_ids)
            return
        status = report.status
        if status is None:  # pragma: no cover - rejoin started its servers
            self.down.update(host.satellite_ids)
            return
        self.incarnations[host_id] = report.incarnation
        self.host_addresses[host_id] = report.address
        if report.ports is not None:
            self.ports[host_id] = report.ports
        self.pids[host_id] = status.pid
        self.node_ids[host_id] = report.node_id
        self.host_status[host_id] = status
        if host_id not in self._rows:
            assert self.topology is not None
            number = self.topology.compute_number
            self._rows[host_id] = np.array([number[s] for s in status.satellite_ids], dtype=np.intp)
        for sid, address in zip(status.satellite_ids, status.addresses, strict=True):
            if address is None:
                self.down.add(sid)
            else:
                self.addresses[sid] = address
                self.down.discard(sid)

    async def _poll_gateway(self, host_id: str, gw: GatewayHostActor) -> None:
        """A gateway host Ray restarted gets the ports its stations had, the clock, its
        stations' links and the fleet."""
        try:
            report: GatewayIncarnation = await asyncio.wait_for(
                gw.handle.status.remote(), timeout=_STATUS_TIMEOUT_S
            )
            previous = self.incarnations.get(host_id)
            if report.ports is None or (previous is not None and previous != report.incarnation):
                topo = self.topology
                assert topo is not None
                mine = [topo.station_number[name] for name in gw.stations]
                await gw.handle.rejoin.remote(
                    Rejoin(
                        ports=self.ports.get(host_id),
                        clock=self.clock,
                        ticks=[t.for_stations(mine) for t in self._window],
                        fleet=self.fleet(),
                    )
                )
                report = await asyncio.wait_for(
                    gw.handle.status.remote(), timeout=_STATUS_TIMEOUT_S
                )
                self.gateway_restarts[host_id] += 1
        except Exception:
            return
        self.incarnations[host_id] = report.incarnation
        self.node_ids[host_id] = report.node_id
        self.pids[host_id] = report.pid
        if report.ports is not None:
            self.ports[host_id] = report.ports
            self.host_addresses[host_id] = report.address
            self.station_addresses.update(report.members)

    async def _poll_status(self, *, spread_s: float = 0.0) -> None:
        """Ask every satellite host for its members' status, then tell every host what
        changed.

        ``spread_s`` spaces the questions out over that long: a burst of calls at once
        would stall the data path's processes on a small machine.
        """
        hosts = list(self.sat_hosts.items())
        if spread_s <= 0:
            await asyncio.gather(*(self._poll_host(hid, h) for hid, h in hosts))
        else:
            gap_s = spread_s / max(1, len(hosts))
            for host_id, host in hosts:
                await self._poll_host(host_id, host)
                await asyncio.sleep(gap_s)
        self._send_fleet()
        # A gateway host only says who it is (its stations' counters are read over gRPC).
        await asyncio.gather(*(self._poll_gateway(hid, gw) for hid, gw in self.gw_hosts.items()))

    def fleet(self) -> FleetStatus:
        """The fleet's status as the data path is told it (compute order)."""
        topo = self.topology
        assert topo is not None
        ids = topo.compute_ids
        n = len(ids)
        # A satellite whose host has not answered yet is what SatelliteInfo assumes.
        d = SatelliteInfo("", "")
        queue_depth = np.full(n, d.queue_depth, dtype=np.int64)
        running = np.full(n, d.running, dtype=np.int64)
        capacity = np.full(n, d.queue_capacity, dtype=np.int64)
        soc = np.full(n, d.state_of_charge)
        temperature = np.full(n, d.temperature_c)
        power_ok = np.full(n, d.accepting_power)
        thermal_ok = np.full(n, d.accepting_thermal)
        throttled = np.full(n, d.throttled)
        sunlit = np.full(n, d.sunlit)
        models: dict[str, np.ndarray] = {}
        for host_id, status in self.host_status.items():
            rows, v = self._rows[host_id], status.vitals
            queue_depth[rows] = v.queue_depth
            running[rows] = v.running
            capacity[rows] = v.queue_capacity
            soc[rows] = v.state_of_charge
            temperature[rows] = v.temperature_c
            power_ok[rows] = v.power_is(PowerState.NOMINAL)
            thermal_ok[rows] = ~v.thermal_is(ThermalState.OVERHEATED)
            throttled[rows] = v.thermal_is(ThermalState.THROTTLED)
            sunlit[rows] = v.sunlit
            for row, carried in zip(rows.tolist(), status.models, strict=True):
                for model in carried:
                    models.setdefault(model, np.zeros(n, dtype=bool))[row] = True
        datapath = {h: status.datapath or "" for h, status in self.host_status.items()}
        return FleetStatus(
            satellite_ids=ids,
            addresses=tuple(self.addresses[sid] for sid in ids),
            datapaths=tuple(datapath.get(self.host_of[sid], "") for sid in ids),
            models=dict(sorted(models.items())),
            up=np.array([sid not in self.down for sid in ids], dtype=bool),
            queue_depth=queue_depth,
            running=running,
            queue_capacity=capacity,
            state_of_charge=soc,
            temperature_c=temperature,
            accepting_power=power_ok,
            accepting_thermal=thermal_ok,
            throttled=throttled,
            sunlit=sunlit,
        )

    def _vitals(self) -> dict[str, Any]:
        """Every polled satellite's vitals by id (for status and tests)."""
        return {
            sid: status.vitals.row(i)
            for status in self.host_status.values()
            for i, sid in enumerate(status.satellite_ids)
        }

    def _send_fleet(self, *, force: bool = False) -> None:
        fleet = self.fleet()
        # What selection depends on, coarsely: only a change here is worth telling.
        gist = (
            fleet.addresses,
            fleet.datapaths,
            tuple((m, mask.tobytes()) for m, mask in fleet.models.items()),
            fleet.up.tobytes(),
            fleet.queue_depth.tobytes(),
            fleet.accepting_power.tobytes(),
            fleet.accepting_thermal.tobytes(),
            fleet.throttled.tobytes(),
            fleet.sunlit.tobytes(),
            np.round(fleet.state_of_charge, 2).tobytes(),
            np.round(fleet.temperature_c).tobytes(),
        )
        if gist == self._sent_gist and not force:
            return
        self._sent_gist = gist
        shared = ray.put(fleet)
        for host in self.sat_hosts.values():
            host.handle.update_fleet.remote(shared)
        for gw in self.gw_hosts.values():
            gw.handle.update_fleet.remote(shared)

    async def _rejoin(self, host: SatelliteHostActor, report: HostIncarnation) -> None:
        """Ray restarted a host: its satellites came back with their first configuration,
        so give them the ports their clients know, the running clock, the batteries and
        temperatures of their last status, the links they had been sent and the fleet."""
        last = self.host_status.get(host.host_id)
        states = (
            {
                sid: (float(last.vitals.battery_wh[i]), float(last.vitals.temperature_c[i]))
                for i, sid in enumerate(last.satellite_ids)
            }
            if last is not None
            else {}
        )
        await host.handle.rejoin.remote(
            Rejoin(
                ports=self.ports.get(host.host_id),
                clock=self.clock,
                ticks=[t.for_stations(()) for t in self._window],
                fleet=self.fleet(),
                states=states,
            )
        )
        self._sent_gist = None

    @property
    def status_interval_s(self) -> float:
        if self.options.status_interval_s is not None:
            return self.options.status_interval_s
        return max(1.0, len(self.addresses) / SATELLITES_POLLED_PER_S)

    async def _status_loop(self) -> None:
        while not self._stopping:
            await self._poll_status(spread_s=self.status_interval_s)

    # ------------------------------------------------------------------ faults on purpose

    def _due_down(self, now_s: float) -> dict[str, SatelliteFault]:
        """Compute satellites a fault holds down at ``now_s``, with the fault that began
        last."""
        down: dict[str, SatelliteFault] = {}
        for fault in self._satellite_faults:
            if fault.at_s > now_s:
                break
            if fault.satellite not in self.host_of:
                continue  # not a compute satellite: only its laser links go (ticks)
            if fault.edge == "start":
                down[fault.satellite] = fault
            elif down.get(fault.satellite, fault).label == fault.label:
                down.pop(fault.satellite, None)
        return down

    async def _fault_loop(self) -> None:
        """Hold the satellites the faults name down, and bring them back when their
        faults end. Level-triggered: what should be down now is compared with what is,
        so an orchestrator that takes a run over, or a host that restarted, converges."""
        assert self.clock is not None
        while not self._stopping:
            now_s = self.clock.offset_s()
            due = self._due_down(now_s)
            for sid in sorted(set(self.down_by_fault) - set(due)):
                reset = next(
                    (f.reset for f in reversed(self._satellite_faults) if f.satellite == sid),
                    "warm",
                )
                await self._fault_edge(
                    SatelliteFault(now_s, sid, "end", "reboot", reset, self.down_by_fault[sid])
                )
            for sid, fault in sorted(due.items()):
                if self.down_by_fault.get(sid) != fault.label:
                    await self._fault_edge(replace(fault, at_s=now_s))
            upcoming = [f.at_s for f in self._satellite_faults if f.at_s > now_s]
            wait_s = (min(upcoming) - now_s) / self.clock.speed if upcoming else 1.0
            self._fault_wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._fault_wakeup.wait(), timeout=max(0.01, min(wait_s, 1.0))
                )

    async def _fault_edge(self, fault: SatelliteFault) -> None:
        sid = fault.satellite
        try:
            if fault.edge == "start":
                if sid not in self.down_by_fault:
                    await self.stop_satellite(sid)
                self.down_by_fault[sid] = fault.label
            else:
                self.down_by_fault.pop(sid, None)
                await self.start_satellite(sid, fault.reset)
        except Exception:  # its host is down: the next round tries again
            return
        self.fault_log.append(fault)

    def inject_fault(self, entry: dict[str, Any]) -> list[dict[str, Any]]:
        """Add a fault while the run goes on (``orbitmesh fault``): the ``[[fault]]``
        format, starting now unless ``at_s`` says when. The ticks already published are
        sent again with it. Raises FaultError with one line per problem."""
        assert self.clock is not None and self.topology is not None
        if self.faults is None:
            raise FaultError(["fault: a replay carries the faults of its recording"])
        now_s = self.clock.offset_s()
        events = self.faults.inject(entry, now_s)
        self._satellite_faults = self.faults.satellite_faults()
        self._window = [self.faults.tick(t) for t in self._raw_window]
        if self._writer is not None:
            for tick in self._window:
                self._writer.update(tick)
        self._send(self._window)
        self._fault_wakeup.set()
        return [
            {"label": e.label, "start_s": e.start_s, "end_s": e.end_s, "kind": e.kind}
            for e in events
        ]

    def _fault_counts(self) -> dict[str, dict[str, int]]:
        """Faults in effect now and begun so far, by kind (every kind listed)."""
        assert self.clock is not None
        now_s = self.clock.offset_s()
        active: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)
        begun: dict[str, int] = dict.fromkeys(FAULT_KINDS, 0)
        if self.faults is not None:
            for event in self.faults.events:
                if event.start_s <= now_s:
                    begun[event.kind] += 1
                    active[event.kind] += event.active(now_s)
        else:  # a replay: its satellite faults as applied
            for fault in self.fault_log:
                if fault.edge == "start":
                    begun[fault.kind] += 1
            for label in self.down_by_fault.values():
                active[label.split()[1]] += 1
        return {"faults_active": active, "faults_begun": begun}

    def fault_status(self) -> dict[str, Any]:
        """The faults active now and those begun so far, by kind."""
        assert self.clock is not None
        now_s = self.clock.offset_s()
        if self.faults is not None:
            active = [e.label for e in self.faults.active(now_s)]
            begun = self.faults.counts(now_s)
        else:
            tick = self._window[0] if self._window else None
            active = sorted({*(tick.faults if tick else ()), *self.down_by_fault.values()})
            begun = dict(Counter(f.kind for f in self.fault_log if f.edge == "start"))
        return {"active": active, "begun": begun, "satellites_down": dict(self.down_by_fault)}

    async def stop_satellite(self, satellite_id: str, grace_s: float = 0.0) -> None:
        """Stop one satellite inside its live host (its host-mates keep serving)."""
        host = self._host(satellite_id)
        self.down.add(satellite_id)
        self._send_fleet(force=True)
        await host.handle.stop_member.remote(satellite_id, grace_s)

    async def start_satellite(self, satellite_id: str, reset: str = "warm") -> str:
        """Start a stopped satellite again with the battery and heat it stopped with;
        ``reset="cold"`` also reloads its weights (radiation upsets gone)."""
        host = self._host(satellite_id)
        address: str = await host.handle.start_member.remote(satellite_id, reset)
        self.addresses[satellite_id] = address
        self.down.discard(satellite_id)
        self._send_fleet(force=True)
        return address

    def _host(self, satellite_id: str) -> SatelliteHostActor:
        host_id = self.host_of.get(satellite_id)
        if host_id is None:
            raise KeyError(f"no compute satellite {satellite_id!r} in this emulation")
        return self.sat_hosts[host_id]

    # ------------------------------------------------------------------ status and stop

    async def status(self) -> dict[str, Any]:
        assert self.clock is not None
        station_stats = await asyncio.gather(
            *(gw.handle.stats.remote() for gw in self.gw_hosts.values()), return_exceptions=True
        )
        vitals = list(self._vitals().values())
        power = Counter(v.power_state.value for v in vitals)
        thermal = Counter(v.thermal_state.value for v in vitals)
        refused: Counter[str] = Counter()
        for v in vitals:
            refused.update(v.refused)
        return {
            "sim_offset_s": self.clock.offset_s(),
            "sim_time": self.clock.now().isoformat().replace("+00:00", "Z"),
            "speed": self.clock.speed,
            "duration_s": self.end_s,
            "satellites": len(self.addresses),
            "satellites_up": len(self.addresses) - len(self.down),
            "power_states": dict(power),
            "thermal_states": dict(thermal),
            "sunlit": sum(1 for v in vitals if v.sunlit),
            "served": sum(v.served for v in vitals),
            "late_inferences": sum(v.late for v in vitals),
            "refused": dict(refused),
            "restarts": dict(self.restarts),
            "gateway_restarts": dict(self.gateway_restarts),
            "faults": self.fault_status(),
            "resumed": self.resumed,
            "ticks_published": self.ticks_published,
            "ticks_late": self.ticks_late,
            "publish_cost": dict(self.publish_cost),
            "stations": [s for batch in station_stats if isinstance(batch, list) for s in batch],
        }

    def counters(self) -> dict[str, Any]:
        """The orchestrator's own figures and everyone's current address, without asking
        any other actor: cheap enough for every metrics scrape."""
        assert self.clock is not None
        return {
            "sim_offset_s": self.clock.offset_s(),
            "speed": self.clock.speed,
            "duration_s": self.end_s,
            "ticks_published": self.ticks_published,
            "ticks_late": self.ticks_late,
            "publish_cost": dict(self.publish_cost),
            "restarts": {sid: self.restarts.get(sid, 0) for sid in self.addresses},
            **self._fault_counts(),
            "satellites_down": sorted(self.down),
            "satellites": dict(self.addresses),
            **self._gateway_addresses(),
            "hosts": dict(self.host_addresses),
        }

    def satellite_snapshots(self) -> dict[str, dict[str, Any]]:
        """Last polled figures of every satellite (for tests and the status table)."""
        return {
            sid: {
                "host": self.host_of[sid],
                "pid": self.pids.get(self.host_of[sid]),
                "address": self.addresses.get(sid),
                "battery_wh": v.battery_wh,
                "temperature_c": v.temperature_c,
                "state_of_charge": v.state_of_charge,
                "power_state": v.power_state.value,
                "thermal_state": v.thermal_state.value,
                "sunlit": v.sunlit,
                "queue_depth": v.queue_depth,
                "served": v.served,
                "late_inferences": v.late,
                "refused": dict(v.refused),
                "down": sid in self.down,
            }
            for sid, v in self._vitals().items()
        }

    @property
    def finished(self) -> bool:
        """The clock has passed the end and every tick up to it went out (late ones too,
        so that a recording made on a busy machine still holds the whole run)."""
        assert self.clock is not None
        published_all = self._tick_offset(self._next_tick) > self.end_s
        return published_all and self.clock.offset_s() >= self.end_s

    async def stop(self, grace_s: float = 5.0) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._geometry.shutdown(wait=False)
        stops = [gw.handle.stop.remote(grace_s) for gw in self.gw_hosts.values()]
        stops += [host.handle.stop.remote(grace_s) for host in self.sat_hosts.values()]
        await asyncio.gather(*stops, return_exceptions=True)
        # Detached actors outlive their creator: end them here.
        for handle in [gw.handle for gw in self.gw_hosts.values()] + [
            host.handle for host in self.sat_hosts.values()
        ]:
            ray.kill(handle, no_restart=True)
        if self._writer is not None:
            self._writer.satellite_faults = [f.as_json() for f in self.fault_log]
            self._writer.close()


def host_actor_name(run_id: str, host_id: str) -> str:
    """The Ray name of one host actor of a run (in :data:`RUN_NAMESPACE`)."""
    return f"{run_id}.{host_id}"
