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

It also counts its calls that were answered and those that failed
(:meth:`Observer.health`, :meth:`ObserverProcess.health` while it runs): polls that all
fail are one of the signs that the emulation under load died
(:mod:`orbitmesh.ground.load.liveness`).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from orbitmesh.ground.contactevents import ContactChange, contact_changes
from orbitmesh.ground.load.loadstats import Sample
from orbitmesh.ground.vitals import VitalsRow, vitals_rows
from orbitmesh.protos.orbitmesh.v1 import (
    ground_station_pb2,
    ground_station_pb2_grpc,
    host_pb2,
    host_pb2_grpc,
    satellite_pb2,
    satellite_pb2_grpc,
)
from orbitmesh.protos.serving import Credentials, channel_to

__all__ = [
    "ContactEvent",
    "ContactViews",
    "Observer",
    "ObserverProcess",
    "SatelliteSample",
    "SimClockView",
]

#: Satellites whose positions are followed when the fleet is read through its hosts.
TRACKED_SATELLITES = 12
#: Satellites a second the whole fleet's charge and sunlight are read at, at most: each
#: costs its host about 50 us of CPU, taken from the requests under test.
SATELLITES_PER_POLL_S = 400.0
#: Stations whose contacts are followed as streams; beyond this many, contact events are
#: read off the stations' views at every poll instead (a stream each would cost the
#: gateways and the observer more than the load they watch).
STREAMED_STATIONS = 12
#: Stations a second the views of the stations under load are read at, at most (about
#: 0.1 ms of a gateway host's CPU each).
STATIONS_PER_POLL_S = 100.0

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
    #: A handover at a moving terminal caused by its own motion (docs/scenarios.md).
    by_motion: bool = False


@dataclass
class Observations:
    samples: list[Sample] = field(default_factory=list)
    satellites: dict[str, list[SatelliteSample]] = field(default_factory=dict)
    stations: dict[str, dict[str, float]] = field(default_factory=dict)
    events: list[ContactEvent] = field(default_factory=list)
    failed_polls: int = 0


class ContactViews:
    """Contact events from successive views of stations (pure, see
    ground/contactevents.py). The first view of a station only sets what is already in
    view, and a view of the same tick again changes nothing."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[datetime, list[str]]] = {}

    def update(
        self, station: str, sim_time: datetime, visible: Sequence[str]
    ) -> list[ContactChange]:
        """(kind, satellite, previous) of each change since the station's last view."""
        last = self._last.get(station)
        if last is not None and sim_time <= last[0]:
            return []  # the same tick again
        self._last[station] = (sim_time, list(visible))
        return [] if last is None else contact_changes(last[1], visible)


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
        credentials: Credentials | None = None,
    ) -> None:
        self._stations = dict(stations)
        #: TLS and the token for secured servers (None: plaintext).
        self._credentials = credentials
        self._satellites = dict(satellites)
        #: Satellite hosts' own addresses (None: poll every satellite itself).
        self._hosts = [
            str(h["address"])
            for h in (hosts or {}).values()
            if h.get("satellites") and h.get("address")
        ] or None
        watched = set(watch_stations)
        self._station_hosts = [
            str(h["address"])
            for h in (hosts or {}).values()
            if watched & set(h.get("stations") or ()) and h.get("address")
        ] or None
        # A small fleet is followed whole; a large one from its first satellites in view.
        small = len(self._satellites) <= TRACKED_SATELLITES
        self._tracked: list[str] = list(self._satellites) if small else []
        # A poll of thousands of satellites costs their hosts real CPU: poll less often.
        self.fleet_interval_s = max(interval_s, len(self._satellites) / SATELLITES_PER_POLL_S)
        self._fleet_polled_s = -float("inf")
        self.stations_interval_s = max(interval_s, len(watch_stations) / STATIONS_PER_POLL_S)
        self._stations_polled_s = -float("inf")
        self._in_view: frozenset[str] = frozenset()
        self._charge: dict[str, float] = {}
        self._sunlit: frozenset[str] = frozenset()
        self._streams_on = len(watch_stations) <= STREAMED_STATIONS
        self._views = ContactViews()
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
        self._answered_polls = 0

    def start(self, origin_wall: float) -> None:
        """Start watching; times are recorded relative to ``origin_wall`` (time.time())."""
        self._origin_wall = origin_wall
        for name in self._watch:
            self.data.stations[name] = self._station_info(name)
        poller = threading.Thread(target=self._poll_loop, name="observer-poll", daemon=True)
        self._threads.append(poller)
        for name in self._watch if self._streams_on else ():
            self._threads.append(
                threading.Thread(
                    target=self._follow, args=(name,), name=f"observer-{name}", daemon=True
                )
            )
        for thread in self._threads:
            thread.start()

    def health(self) -> tuple[int, int]:
        """(calls answered, calls failed) since the start: its polls of the emulation."""
        with self._lock:
            return self._answered_polls, self.data.failed_polls

    def _answered(self) -> None:
        with self._lock:
            self._answered_polls += 1

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
            channel = self._channels[address] = channel_to(address, self._credentials)
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

    def _pace(self) -> None:
        """Wait a little before the next call of a poll: calls spread over the interval
        instead of hitting every host at once (a burst a request under test would meet)."""
        calls = len(self._tracked) + len(self._hosts or ()) + len(self._station_hosts or ())
        self._stop.wait(self.interval_s / max(1, calls + 1))

    def _statuses(self, fleet: bool) -> list[tuple[str, float, float, bool, Any]]:
        """(id, charge, temperature, sunlit, position or None) of satellites: through the
        hosts (the whole fleet's vitals when ``fleet``, the tracked few in full) or one
        by one."""
        if self._hosts is None:
            addresses = list(self._satellites.values())
            brief: list[VitalsRow] = []
        else:
            addresses = [self._satellites[s] for s in self._tracked if s in self._satellites]
            brief = []
            for address in self._hosts if fleet else ():
                self._pace()
                reply = self._members(address)
                if reply is not None:
                    brief.extend(r for r in vitals_rows(reply.vitals) if r.serving)
        full: dict[str, tuple[str, float, float, bool, Any]] = {}
        for address in addresses:
            stub = satellite_pb2_grpc.SatelliteStub(self._channel(address))
            if self._hosts is not None:
                self._pace()
            try:
                status = stub.Status(satellite_pb2.StatusRequest(), timeout=self.timeout_s)
            except grpc.RpcError:
                with self._lock:
                    self.data.failed_polls += 1
                continue
            self._answered()
            full[status.satellite_id] = (
                status.satellite_id,
                status.state_of_charge,
                status.temperature_c,
                status.sunlit,
                status.position,
            )
        rows = [
            full.pop(
                r.satellite_id, (r.satellite_id, r.state_of_charge, r.temperature_c, r.sunlit, None)
            )
            for r in brief
        ]
        return rows + list(full.values())

    def _poll_once(self) -> None:
        now = time.time()
        at_s = self._rel(now)
        fleet = self._hosts is None or now - self._fleet_polled_s >= self.fleet_interval_s
        if fleet:
            self._fleet_polled_s = now
        charge: dict[str, float] = {}
        sunlit: set[str] = set()
        for sid, soc, temperature_c, lit, position in self._statuses(fleet):
            sample = SatelliteSample(
                at_s=at_s,
                state_of_charge=soc,
                temperature_c=temperature_c,
                lat_deg=position.lat_deg if position is not None else None,
                lon_deg=position.lon_deg if position is not None else None,
                alt_km=position.alt_km if position is not None else None,
                sunlit=lit,
            )
            charge[sid] = soc
            if lit:
                sunlit.add(sid)
            if self._hosts is not None and sid not in self._tracked:
                continue  # in the aggregates only
            with self._lock:
                self.data.satellites.setdefault(sid, []).append(sample)
        if fleet:
            self._charge, self._sunlit = charge, frozenset(sunlit)
        else:  # the tracked few are fresher than the fleet's last read
            self._charge = {**self._charge, **charge}
        if now - self._stations_polled_s >= self.stations_interval_s:
            self._stations_polled_s = now
            self._in_view = self._read_stations()
        with self._lock:
            self.data.samples.append(Sample(at_s, self._in_view, self._charge, self._sunlit))

    def _read_stations(self) -> frozenset[str]:
        """What the stations under load see (and, without streams, their contact events);
        the first satellites in view become the tracked ones."""
        in_view: set[str] = set()
        for name, visible in self._visible():
            in_view.update(v.satellite_id for v in visible.satellites)
            if not self._streams_on:
                self._read_contacts(name, visible)
            for v in visible.satellites:
                if len(self._tracked) >= TRACKED_SATELLITES:
                    break
                if v.satellite_id in self._satellites and v.satellite_id not in self._tracked:
                    self._tracked.append(v.satellite_id)
        return frozenset(in_view)

    def _read_contacts(self, station: str, visible: Any) -> None:
        """Contact events from one station's view (what a stream would have said)."""
        sim_time = visible.sim_time.ToDatetime(tzinfo=UTC)
        ids = [v.satellite_id for v in visible.satellites]  # highest first
        for kind, satellite, previous in self._views.update(station, sim_time, ids):
            wall = self._clock.wall_of(sim_time)
            with self._lock:
                self.data.events.append(
                    ContactEvent(
                        at_s=self._rel(wall if wall is not None else time.time()),
                        station=station,
                        kind=kind,
                        satellite=satellite,
                        previous=previous,
                        by_motion=kind == "handover" and visible.handover_by_motion,
                    )
                )

    def _members(self, address: str) -> Any:
        """A host's brief ``Members`` reply (None, counted, when it did not answer)."""
        stub = host_pb2_grpc.HostStub(self._channel(address))
        try:
            reply = stub.Members(host_pb2.MembersRequest(brief=True), timeout=self.timeout_s)
        except grpc.RpcError:
            with self._lock:
                self.data.failed_polls += 1
            return None
        self._answered()
        return reply

    def _visible(self) -> list[tuple[str, Any]]:
        """What each station under load sees: through the gateway hosts (one call each)
        or station by station."""
        replies: list[tuple[str, Any]] = []
        if self._station_hosts is not None:
            watched = set(self._watch)
            for address in self._station_hosts:
                self._pace()
                reply = self._members(address)
                if reply is not None:
                    replies.extend(
                        (st.name, st.visible) for st in reply.stations if st.name in watched
                    )
            return replies
        for name in self._watch:
            stub = ground_station_pb2_grpc.GroundStationStub(self._channel(self._stations[name]))
            try:
                visible = stub.Visible(ground_station_pb2.VisibleRequest(), timeout=self.timeout_s)
            except grpc.RpcError:
                with self._lock:
                    self.data.failed_polls += 1
                continue
            self._answered()
            replies.append((name, visible))
        return replies

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
                            by_motion=event.by_own_motion,
                        )
                    )
        except grpc.RpcError as exc:
            if exc.code() is not grpc.StatusCode.CANCELLED and not self._stop.is_set():
                with self._lock:
                    self.data.failed_polls += 1


class ObserverProcess:
    """An :class:`Observer` in a process of its own (``python -m
    orbitmesh.ground.load.observer``), with the same ``start``/``stop``.

    The load generator times every request on its event loop; an observer following a
    hundred contact streams and polling hosts in threads of the same process would take
    the interpreter from that loop often enough to show up as emulation error. A plain
    child process rather than a multiprocessing one: that would import the caller's main
    module again, which a script without a ``__main__`` guard does not survive.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args, self._kwargs = args, kwargs
        self._process: subprocess.Popen[bytes] | None = None
        #: One exchange on the pipes at a time (health asks from a thread of its own).
        self._pipe = threading.Lock()

    def start(self, origin_wall: float) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert process.stdin is not None and process.stdout is not None
        self._process = process
        _send(process.stdin, (self._args, self._kwargs, origin_wall))
        _receive(process.stdout)  # started: its threads are watching

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def health(self) -> tuple[int, int] | None:
        """The observer's (calls answered, calls failed) so far; None when it is not
        running (not started, stopped, or its process died)."""
        with self._pipe:
            process = self._process
            if process is None or process.stdin is None or process.stdout is None:
                return None
            try:
                _send(process.stdin, "health")
                answered, failed = _receive(process.stdout)
            except (EOFError, OSError, pickle.UnpicklingError, ValueError, TypeError):
                return None
            return int(answered), int(failed)

    def stop(self) -> Observations:
        with self._pipe:
            process, self._process = self._process, None
        if process is None:
            return Observations()
        assert process.stdin is not None and process.stdout is not None
        try:
            with self._pipe:
                _send(process.stdin, "stop")
                data: Observations = _receive(process.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            data = Observations(failed_polls=1)  # it died: what it saw is lost, say so
        try:
            process.wait(timeout=10.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdin.close()
        process.stdout.close()
        return data


def _send(pipe: Any, value: object) -> None:
    data = pickle.dumps(value)
    pipe.write(len(data).to_bytes(8, "big") + data)
    pipe.flush()


def _receive(pipe: Any) -> Any:
    header = pipe.read(8)
    if len(header) < 8:
        raise EOFError("the observer process ended")
    return pickle.loads(pipe.read(int.from_bytes(header, "big")))


#: The observer's priority below the emulation's (nice 0) and the load generator's: it
#: samples, and its bursts of polling must not delay the requests it watches.
OBSERVER_NICENESS = 10


def _main() -> None:
    """The observer process: arguments on stdin, observations back on stdout."""
    os.nice(OBSERVER_NICENESS)
    args, kwargs, origin_wall = _receive(sys.stdin.buffer)
    observer = Observer(*args, **kwargs)
    observer.start(origin_wall)
    _send(sys.stdout.buffer, "started")
    with contextlib.suppress(EOFError, OSError):  # the parent went away
        while _receive(sys.stdin.buffer) == "health":
            _send(sys.stdout.buffer, observer.health())
    data = observer.stop()
    with contextlib.suppress(OSError):
        _send(sys.stdout.buffer, data)


if __name__ == "__main__":
    # Run the module's own copy, so that what is pickled back names ground.observer's
    # classes, not __main__'s.
    from orbitmesh.ground.load.observer import _main as main

    main()
