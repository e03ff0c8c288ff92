"""Watching the constellation while a load test runs: charge, heat, positions, contacts.

An :class:`Observer` runs beside the load generator, in threads of its own so that its
blocking gRPC calls never delay a request: one thread polls the satellites and the
stations under load at a fixed wall interval, and one per station follows its
``WatchContacts`` stream (rises, sets, handovers). With the emulation's hosts known, a
poll asks each satellite host for its members' brief status (charge, heat, sunlight: one
call per host) and follows the positions of only a few satellites, those first seen in
view of the stations under load: thousands of tracks would neither be cheap to poll nor
readable in a report. Everything it records is
stamped in wall seconds since the run's start (the load generator's clock), so the
report can lay requests, contacts and battery curves on one time axis.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from protos.orbitmesh.v1 import (
    ground_station_pb2,
    ground_station_pb2_grpc,
    host_pb2,
    host_pb2_grpc,
    satellite_pb2,
    satellite_pb2_grpc,
)

from .loadstats import Sample

__all__ = ["ContactEvent", "Observer", "SatelliteSample", "SimClockView"]

#: Satellites whose positions are followed when the fleet is read through its hosts.
TRACKED_SATELLITES = 12
#: Satellites one poll can afford to ask about: beyond this many the interval grows.
SATELLITES_PER_POLL_S = 2000.0

_KIND = {
    ground_station_pb2.CONTACT_KIND_RISE: "rise",
    ground_station_pb2.CONTACT_KIND_SET: "set",
    ground_station_pb2.CONTACT_KIND_HANDOVER: "handover",
}


@dataclass(frozen=True)
class SimClockView:
    """The emulation's clock as the endpoints file states it."""

    sim_start: datetime
    speed: float
    wall0: float | None  # time.time() at simulated time sim_start (None: unknown)

    def wall_of(self, sim_time: datetime) -> float | None:
        if self.wall0 is None:
            return None
        return self.wall0 + (sim_time - self.sim_start).total_seconds() / self.speed

    def sim_at(self, wall: float) -> datetime | None:
        if self.wall0 is None:
            return None
        return self.sim_start + timedelta(seconds=(wall - self.wall0) * self.speed)


@dataclass(frozen=True)
class SatelliteSample:
    at_s: float
    state_of_charge: float
    temperature_c: float
    lat_deg: float | None
    lon_deg: float | None
    alt_km: float | None
    sunlit: bool


@dataclass(frozen=True)
class ContactEvent:
    at_s: float
    station: str
    kind: str  # rise, set, handover
    satellite: str
    previous: str


@dataclass
class Observations:
    samples: list[Sample] = field(default_factory=list)
    satellites: dict[str, list[SatelliteSample]] = field(default_factory=dict)
    stations: dict[str, dict[str, float]] = field(default_factory=dict)
    events: list[ContactEvent] = field(default_factory=list)
    failed_polls: int = 0


class Observer:
    def __init__(
        self,
        stations: Mapping[str, str],
        satellites: Mapping[str, str],
        clock: SimClockView,
        *,
        watch_stations: Sequence[str],
        interval_s: float = 0.5,
        timeout_s: float = 2.0,
        hosts: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._stations = dict(stations)
        self._satellites = dict(satellites)
        #: Satellite hosts' own addresses (None: poll every satellite itself).
        self._hosts = [
            str(h["address"])
            for h in (hosts or {}).values()
            if h.get("satellites") and h.get("address")
        ] or None
        # A small fleet is followed whole; a large one from its first satellites in view.
        small = len(self._satellites) <= TRACKED_SATELLITES
        self._tracked: list[str] = list(self._satellites) if small else []
        # A poll of thousands of satellites costs their hosts real CPU: poll less often.
        interval_s = max(interval_s, len(self._satellites) / SATELLITES_PER_POLL_S)
        self._clock = clock
        self._watch = list(watch_stations)
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.data = Observations()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._streams: list[Any] = []
        self._channels: dict[str, grpc.Channel] = {}
        self._origin_wall = time.time()

    def start(self, origin_wall: float) -> None:
        """Start watching; times are recorded relative to ``origin_wall`` (time.time())."""
        self._origin_wall = origin_wall
        for name in self._watch:
            self.data.stations[name] = self._station_info(name)
        poller = threading.Thread(target=self._poll_loop, name="observer-poll", daemon=True)
        self._threads.append(poller)
        for name in self._watch:
            self._threads.append(
                threading.Thread(
                    target=self._follow, args=(name,), name=f"observer-{name}", daemon=True
                )
            )
        for thread in self._threads:
            thread.start()

    def stop(self) -> Observations:
        self._stop.set()
        for stream in list(self._streams):
            stream.cancel()
        for thread in self._threads:
            thread.join(timeout=5.0)
        for channel in self._channels.values():
            channel.close()
        with self._lock:
            return self.data

    # ------------------------------------------------------------------ helpers

    def _channel(self, address: str) -> grpc.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = self._channels[address] = grpc.insecure_channel(address)
        return channel

    def _rel(self, wall: float) -> float:
        return wall - self._origin_wall

    def _station_info(self, name: str) -> dict[str, float]:
        stub = ground_station_pb2_grpc.GroundStationStub(self._channel(self._stations[name]))
        try:
            info = stub.Info(ground_station_pb2.InfoRequest(), timeout=self.timeout_s)
        except grpc.RpcError:
            return {}
        return {
            "lat_deg": info.position.lat_deg,
            "lon_deg": info.position.lon_deg,
            "min_elevation_deg": info.min_elevation_deg,
        }

    # ------------------------------------------------------------------ polling

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            started = time.time()
            self._poll_once()
            self._stop.wait(max(0.0, self.interval_s - (time.time() - started)))

    def _statuses(self) -> list[Any]:
        """Every satellite's status: through the hosts (brief, plus full status for the
        tracked few) or one by one."""
        if self._hosts is None:
            addresses = list(self._satellites.values())
            brief: list[Any] = []
        else:
            addresses = [self._satellites[s] for s in self._tracked if s in self._satellites]
            brief = []
            for address in self._hosts:
                stub = host_pb2_grpc.HostStub(self._channel(address))
                try:
                    reply = stub.Members(
                        host_pb2.MembersRequest(brief=True), timeout=self.timeout_s
                    )
                except grpc.RpcError:
                    with self._lock:
                        self.data.failed_polls += 1
                    continue
                brief.extend(reply.satellites)
        full = {}
        for address in addresses:
            stub = satellite_pb2_grpc.SatelliteStub(self._channel(address))
            try:
                status = stub.Status(satellite_pb2.StatusRequest(), timeout=self.timeout_s)
            except grpc.RpcError:
                with self._lock:
                    self.data.failed_polls += 1
                continue
            full[status.satellite_id] = status
        return [full.pop(s.satellite_id, s) for s in brief] + list(full.values())

    def _poll_once(self) -> None:
        at_s = self._rel(time.time())
        charge: dict[str, float] = {}
        sunlit: set[str] = set()
        for status in self._statuses():
            sid = status.satellite_id
            located = status.HasField("position")
            sample = SatelliteSample(
                at_s=at_s,
                state_of_charge=status.state_of_charge,
                temperature_c=status.temperature_c,
                lat_deg=status.position.lat_deg if located else None,
                lon_deg=status.position.lon_deg if located else None,
                alt_km=status.position.alt_km if located else None,
                sunlit=status.sunlit,
            )
            charge[sid] = status.state_of_charge
            if status.sunlit:
                sunlit.add(sid)
            if self._hosts is not None and sid not in self._tracked:
                continue  # in the aggregates only
            with self._lock:
                self.data.satellites.setdefault(sid, []).append(sample)
        in_view: set[str] = set()
        for name in self._watch:
            stub = ground_station_pb2_grpc.GroundStationStub(self._channel(self._stations[name]))
            try:
                visible = stub.Visible(ground_station_pb2.VisibleRequest(), timeout=self.timeout_s)
            except grpc.RpcError:
                with self._lock:
                    self.data.failed_polls += 1
                continue
            in_view.update(v.satellite_id for v in visible.satellites)
            for v in visible.satellites:
                if len(self._tracked) >= TRACKED_SATELLITES:
                    break
                if v.satellite_id in self._satellites and v.satellite_id not in self._tracked:
                    self._tracked.append(v.satellite_id)
        with self._lock:
            self.data.samples.append(Sample(at_s, frozenset(in_view), charge, frozenset(sunlit)))

    def _follow(self, name: str) -> None:
        stub = ground_station_pb2_grpc.GroundStationStub(self._channel(self._stations[name]))
        stream = stub.WatchContacts(ground_station_pb2.WatchContactsRequest())
        self._streams.append(stream)
        opened: datetime | None = None
        try:
            for event in stream:
                received = time.time()
                sim_time = event.sim_time.ToDatetime(tzinfo=UTC)
                wall = self._clock.wall_of(sim_time)
                kind = _KIND.get(event.kind, "unknown")
                if opened is None:
                    opened = sim_time
                if kind == "rise" and sim_time == opened:
                    # The stream opens with what is already in view: not a rise now.
                    continue
                with self._lock:
                    self.data.events.append(
                        ContactEvent(
                            at_s=self._rel(wall if wall is not None else received),
                            station=name,
                            kind=kind,
                            satellite=event.satellite_id,
                            previous=event.previous_satellite_id,
                        )
                    )
        except grpc.RpcError as exc:
            if exc.code() is not grpc.StatusCode.CANCELLED and not self._stop.is_set():
                with self._lock:
                    self.data.failed_polls += 1
