"""The running emulation: satellites, gateways and the tick loop that feeds them.

:class:`Emulation` runs inside the orchestrator's Ray actor (orchestrator/actor.py). It
builds every compute satellite and ground-station gateway as Ray actors, owns the
simulated clock, computes geometry ticks ahead of that clock in a worker thread (so the
actor stays responsive when geometry is slow), and publishes each station's and each
satellite's share of every tick. It polls satellites for status once a second, passes
that on to the gateways, and restores a restarted satellite's battery and temperature.
Ticks computed after their simulated time has begun are counted as late.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ground.actor import GatewayActor
from ground.gateway import GatewayConfig
from ground.links import LinkParams
from ground.linkstate import LinkState, SatelliteInfo
from node.actor import ActorStatus, SatelliteActor
from node.power import PowerState
from node.state import NodeSnapshot
from node.thermal import ThermalState

from .clock import SimClock
from .geometry import GeometryEngine
from .launch import node_configs
from .publish import satellite_link_states, station_link_states
from .scenario import Scenario, load_scenario
from .trace import TraceReader, TraceWriter

__all__ = ["Emulation", "EmulationOptions"]

#: Ticks computed in one hand-off to the worker thread and sent to a node in one call:
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


@dataclass(frozen=True)
class EmulationOptions:
    speed: float | None = None  # None: the scenario's
    duration_s: float | None = None  # None: the scenario's
    #: Geometry is computed this many simulated seconds ahead of the clock.
    ahead_s: float = 10.0
    host: str = "127.0.0.1"
    record: Path | None = None
    replay: Path | None = None
    satellite_restarts: int = 3
    status_interval_s: float = 1.0
    model_cache: Path | None = None

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
        if self.satellite_restarts < 0:
            problems.append(f"satellite_restarts must be >= 0, got {self.satellite_restarts}")
        if self.record is not None and self.record == self.replay:
            # Recording a replay is how a replay is checked, but not over its own source.
            problems.append("record and replay name the same file")
        if problems:
            raise ValueError("; ".join(problems))


def _info(
    satellite: SatelliteActor, address: str, snap: NodeSnapshot | None, models: tuple[str, ...]
) -> SatelliteInfo:
    if snap is None:
        return SatelliteInfo(
            satellite.satellite_id,
            address,
            models=models,
            queue_capacity=satellite.config.node.queue_depth,
        )
    return SatelliteInfo(
        satellite_id=snap.satellite_id,
        address=address,
        models=models,
        queue_depth=snap.queue_depth,
        running=snap.running,
        queue_capacity=snap.queue_capacity,
        state_of_charge=snap.state_of_charge,
        temperature_c=snap.temperature_c,
        accepting_power=snap.power_state is PowerState.NOMINAL,
        accepting_thermal=snap.thermal_state is not ThermalState.OVERHEATED,
        throttled=snap.thermal_state is ThermalState.THROTTLED,
        sunlit=snap.sunlit,
    )


def _gist(info: SatelliteInfo) -> tuple[object, ...]:
    """What selection depends on, coarsely: a change here is worth telling everyone."""
    return (
        info.address,
        info.models,
        info.queue_depth,
        info.accepting_power,
        info.accepting_thermal,
        info.throttled,
        info.sunlit,
        round(info.state_of_charge, 2),
        round(info.temperature_c),
    )


class Emulation:
    def __init__(self, scenario: str, options: EmulationOptions) -> None:
        self.scenario_ref = scenario
        self.options = options
        self.scenario: Scenario | None = None
        self.engine: GeometryEngine | None = None
        self.clock: SimClock | None = None
        self.satellites: dict[str, SatelliteActor] = {}
        self.gateways: dict[str, GatewayActor] = {}
        self.addresses: dict[str, str] = {}
        self.snapshots: dict[str, NodeSnapshot] = {}
        self.incarnations: dict[str, str] = {}
        self.pids: dict[str, int] = {}
        self.models: dict[str, tuple[str, ...]] = {}
        self._sent_gist: dict[str, tuple[object, ...]] = {}
        #: What each satellite was last sent and still needs: a restarted one gets it again.
        self._sat_window: dict[str, list[LinkState]] = {}
        self.down: set[str] = set()
        self.restarts: Counter[str] = Counter()
        self.ticks_published = 0
        self.ticks_late = 0
        self._next_tick = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._writer: TraceWriter | None = None
        self._reader: TraceReader | None = None
        self.end_s = 0.0

    # ------------------------------------------------------------------ start

    async def start(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        scenario = await loop.run_in_executor(None, load_scenario, self.scenario_ref)
        engine = await loop.run_in_executor(None, GeometryEngine, scenario)
        self.scenario, self.engine = scenario, engine
        speed = self.options.speed or scenario.time.speed
        self.end_s = (
            self.options.duration_s
            if self.options.duration_s is not None
            else scenario.time.duration_s
        )
        if self.options.replay is not None:
            self._reader = TraceReader(self.options.replay)
            self._reader.check(scenario.name, engine.stations.names, list(engine.catalog.ids))
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
            ),
        )
        link_params = LinkParams(loss_rate=scenario.links.loss_rate, seed=scenario.links.loss_seed)
        gateway_configs = [
            GatewayConfig(
                station=spec.name,
                lat_deg=spec.lat_deg,
                lon_deg=spec.lon_deg,
                alt_m=spec.alt_m,
                min_elevation_deg=spec.min_elevation_deg,
                clock=clock,
                link_params=link_params,
                max_message_bytes=scenario.nodes.node.max_message_bytes,
                host=self.options.host,
            )
            for spec in scenario.ground_stations
        ]
        sat_cls = SatelliteActor.remote_class(max_restarts=self.options.satellite_restarts)
        gw_cls = GatewayActor.remote_class()
        sat_handles = [sat_cls.remote(c) for c in configs]
        gw_handles = [gw_cls.remote(c) for c in gateway_configs]
        sat_addresses = await asyncio.gather(*(h.start.remote() for h in sat_handles))
        gw_addresses = await asyncio.gather(*(h.start.remote() for h in gw_handles))
        for handle, config, address in zip(sat_handles, configs, sat_addresses, strict=True):
            self.satellites[config.satellite_id] = SatelliteActor(handle, config, address)
            self.addresses[config.satellite_id] = address
        for handle, gw_config, address in zip(
            gw_handles, gateway_configs, gw_addresses, strict=True
        ):
            self.gateways[gw_config.station] = GatewayActor(handle, gw_config, address)
        if self.options.record is not None:
            self._writer = TraceWriter(
                self.options.record, scenario.name, engine.stations.names, list(engine.catalog.ids)
            )
        await self._poll_status()
        self.clock = SimClock(
            start=scenario.time.start, speed=speed, wall0=time.time() + _CLOCK_LEAD_S
        )
        await asyncio.gather(
            *(s.handle.set_clock.remote(self.clock) for s in self.satellites.values()),
            *(g.handle.set_clock.remote(self.clock) for g in self.gateways.values()),
        )
        # Only the first few ticks before time 0: the whole lookahead (a second of wall
        # or more) would not be computed within the clock's start-up lead.
        await self._publish_due(ahead_s=self.options.ahead_s)
        await asyncio.sleep(max(0.0, self.clock.wall0 - time.time()))  # return once time 0 came
        self._tasks = [
            asyncio.get_running_loop().create_task(self._tick_loop()),
            asyncio.get_running_loop().create_task(self._status_loop()),
        ]
        return self.endpoints()

    def endpoints(self) -> dict[str, Any]:
        assert self.scenario is not None and self.clock is not None
        return {
            "scenario": self.scenario.name,
            "ground_stations": {name: gw.address for name, gw in self.gateways.items()},
            "satellites": dict(self.addresses),
            "speed": self.clock.speed,
            "sim_start": self.clock.start.isoformat().replace("+00:00", "Z"),
            "wall0": self.clock.wall0,
            "duration_s": self.end_s,
        }

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

    def _compute_many(
        self, indices: list[int]
    ) -> list[tuple[dict[str, LinkState], dict[str, LinkState]]]:
        # One hand-off to the worker thread per batch, not per tick: at high speed the
        # hand-off and the event loop's turn cost as much as the geometry itself.
        return [self._compute(index) for index in indices]

    def _compute(self, index: int) -> tuple[dict[str, LinkState], dict[str, LinkState]]:
        """One tick's share for every station and satellite (runs in a worker thread)."""
        assert self.engine is not None
        if self._reader is not None:
            return self._reader.tick(index)
        tick = self.engine.tick(self._tick_offset(index))
        stations = station_link_states(self.engine, tick, index)
        sats = satellite_link_states(self.engine, tick, index) if self.satellites else {}
        return stations, sats

    async def _publish_due(self, ahead_s: float | None = None) -> None:
        assert self.clock is not None
        loop = asyncio.get_running_loop()
        ahead = self._ahead_s if ahead_s is None else ahead_s
        horizon = min(self.clock.offset_s() + ahead, self.end_s)
        while not self._stopping and self._tick_offset(self._next_tick) <= horizon:
            # Compute what is due (up to a batch), then send each node its share in one
            # call: at high speed a tick lasts a few milliseconds of wall time.
            size = self._publish_batch
            indices: list[int] = []
            while (
                len(indices) < size and self._tick_offset(self._next_tick + len(indices)) <= horizon
            ):
                indices.append(self._next_tick + len(indices))
            computed = await loop.run_in_executor(None, self._compute_many, indices)
            now_s = self.clock.offset_s()
            for index, (stations, sats) in zip(indices, computed, strict=True):
                if self._tick_offset(index) < now_s:
                    self.ticks_late += 1
                if self._writer is not None:
                    self._writer.add(index, stations, sats)
            self._next_tick += len(indices)
            self.ticks_published += len(indices)
            for name, gateway in self.gateways.items():
                gateway.handle.publish.remote([stations[name] for stations, _ in computed])
            for sid, satellite in self.satellites.items():
                states = [sats[sid] for _, sats in computed if sid in sats]
                window = self._sat_window.setdefault(sid, [])
                window[:] = [s for s in window if s.end_s >= now_s]
                window.extend(states)
                if states and sid not in self.down:
                    satellite.handle.publish_links.remote(states)

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

    async def _poll_status(self, *, spread_s: float = 0.0) -> None:
        """Ask every satellite for its status, then tell gateways what changed.

        ``spread_s`` spaces the questions out over that long: a burst of a hundred
        status calls at once would stall the data path's processes on a small machine.
        """

        async def one(sid: str, satellite: SatelliteActor) -> None:
            try:
                status: ActorStatus = await asyncio.wait_for(
                    satellite.handle.status.remote(), timeout=10.0
                )
            except Exception:
                self.down.add(sid)
                return
            previous = self.incarnations.get(sid)
            restarted = previous is not None and previous != status.incarnation
            if restarted:
                await self._rejoin(sid, satellite)
                status = await satellite.handle.status.remote()
            self.incarnations[sid] = status.incarnation
            self.pids[sid] = status.pid
            self.models[sid] = status.models
            self.down.discard(sid)
            if status.address is not None:
                self.addresses[sid] = status.address
            self.snapshots[sid] = status.snapshot
            if restarted:
                self.restarts[sid] += 1

        if spread_s <= 0:
            await asyncio.gather(*(one(sid, sat) for sid, sat in self.satellites.items()))
        else:
            gap_s = spread_s / max(1, len(self.satellites))
            for sid, sat in list(self.satellites.items()):
                await one(sid, sat)
                await asyncio.sleep(gap_s)
        infos = {
            sid: _info(
                sat,
                self.addresses[sid],
                self.snapshots.get(sid),
                self.models.get(sid, tuple(sat.config.models)),
            )
            for sid, sat in self.satellites.items()
            if sid not in self.down
        }
        digest = {sid: _gist(info) for sid, info in infos.items()}
        if digest == self._sent_gist:
            return  # nothing a selection would decide differently on
        self._sent_gist = digest
        for gateway in self.gateways.values():
            gateway.handle.update_satellites.remote(infos)
        for sid, satellite in self.satellites.items():
            if sid not in self.down:
                satellite.handle.update_satellites.remote(infos)

    async def _rejoin(self, sid: str, satellite: SatelliteActor) -> None:
        """Ray restarted a satellite: it came back with its first configuration, so give
        it the running clock, the battery and temperature of its last status, the links
        it had been sent, and (on the next status round) its neighbours again."""
        if self.clock is not None:
            await satellite.handle.set_clock.remote(self.clock)
        last = self.snapshots.get(sid)
        if last is not None:
            await satellite.handle.restore.remote(last.battery_wh, last.temperature_c)
        window = self._sat_window.get(sid)
        if window:
            await satellite.handle.publish_links.remote(list(window))
        self._sent_gist = {}

    async def _status_loop(self) -> None:
        while not self._stopping:
            await self._poll_status(spread_s=self.options.status_interval_s)

    # ------------------------------------------------------------------ status and stop

    async def status(self) -> dict[str, Any]:
        assert self.clock is not None
        gateway_stats = await asyncio.gather(
            *(gw.handle.stats.remote() for gw in self.gateways.values()), return_exceptions=True
        )
        power = Counter(s.power_state.value for s in self.snapshots.values())
        thermal = Counter(s.thermal_state.value for s in self.snapshots.values())
        return {
            "sim_offset_s": self.clock.offset_s(),
            "sim_time": self.clock.now().isoformat().replace("+00:00", "Z"),
            "speed": self.clock.speed,
            "duration_s": self.end_s,
            "satellites": len(self.satellites),
            "satellites_up": len(self.satellites) - len(self.down),
            "power_states": dict(power),
            "thermal_states": dict(thermal),
            "sunlit": sum(1 for s in self.snapshots.values() if s.sunlit),
            "served": sum(s.served for s in self.snapshots.values()),
            "refused": dict(sum((Counter(s.refused) for s in self.snapshots.values()), Counter())),
            "restarts": dict(self.restarts),
            "ticks_published": self.ticks_published,
            "ticks_late": self.ticks_late,
            "stations": [g for g in gateway_stats if isinstance(g, dict)],
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
            "restarts": {sid: self.restarts.get(sid, 0) for sid in self.satellites},
            "satellites_down": sorted(self.down),
            "satellites": dict(self.addresses),
            "ground_stations": {name: gw.address for name, gw in self.gateways.items()},
        }

    def satellite_snapshots(self) -> dict[str, dict[str, Any]]:
        """Last polled figures of every satellite (for tests and the status table)."""
        return {
            sid: {
                "pid": self.pids.get(sid),
                "address": self.addresses.get(sid),
                "battery_wh": snap.battery_wh,
                "temperature_c": snap.temperature_c,
                "state_of_charge": snap.state_of_charge,
                "power_state": snap.power_state.value,
                "thermal_state": snap.thermal_state.value,
                "sunlit": snap.sunlit,
                "queue_depth": snap.queue_depth,
                "served": snap.served,
                "refused": dict(snap.refused),
                "down": sid in self.down,
            }
            for sid, snap in self.snapshots.items()
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
        stops = [gw.handle.stop.remote(grace_s) for gw in self.gateways.values()]
        stops += [sat.handle.stop.remote(grace_s) for sat in self.satellites.values()]
        await asyncio.gather(*stops, return_exceptions=True)
        if self._writer is not None:
            self._writer.close()
