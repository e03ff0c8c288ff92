"""Many ground-station gateways in one process: the plain class behind a gateway host.

Every gateway keeps its own gRPC endpoint, link bookings and counters; its host shares
the process, the event loop, one view of the links and the fleet (one stream of ticks,
each route searched once per tick whichever gateway asks), the connections to the
satellites, and the measurement of its own gRPC round trip (taken once, on the first
gateway, instead of once per station).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from orbitmesh.clock import SimClock
from orbitmesh.ground.gateway import ChannelPool, GatewayConfig, GatewayServer
from orbitmesh.hosting import HostPorts, port_of, start_on
from orbitmesh.links.datapath import DataPathClient
from orbitmesh.links.fleet import FleetStatus
from orbitmesh.links.linkstate import TickLinks, Topology
from orbitmesh.links.linkview import LinkView
from orbitmesh.links.shortest import warm_up
from orbitmesh.links.timing import in_slices, quiet_garbage_collector
from orbitmesh.protos.orbitmesh.v1 import host_pb2
from orbitmesh.protos.serving import start_host_server

__all__ = ["GatewayHost", "GatewayHostConfig", "station_stats"]


@dataclass(frozen=True)
class GatewayHostConfig:
    host_id: str
    gateways: tuple[GatewayConfig, ...]
    topology: Topology | None = None


_log = logging.getLogger(__name__)

#: How often a gateway host looks for routes to search ahead (wall seconds), and how long
#: after its last request a station stops being searched ahead.
_AHEAD_POLL_S = 0.1
_AHEAD_IDLE_AFTER_S = 10.0
#: Satellites in view listed per station in a brief Members reply (the count is whole).
_BRIEF_VISIBLE = 16


class GatewayHost:
    def __init__(self, config: GatewayHostConfig) -> None:
        if not config.gateways:
            raise ValueError(f"gateway host {config.host_id} has no stations")
        self.config = config
        self.view = LinkView(config.topology)
        #: The run's security (every member has the same; None: plaintext).
        self.security = config.gateways[0].security
        credentials = None if self.security is None else self.security.credentials()
        self.channels = ChannelPool(max(g.max_message_bytes for g in config.gateways), credentials)
        self.datapath = DataPathClient(credentials)
        #: Route searches a request needs and nobody searched ahead (one thread for all
        #: the host's stations, see GatewayServer.searches).
        self._search_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="routes-now")
        self.members = {
            g.station: GatewayServer(
                g,
                view=self.view,
                channels=self.channels,
                datapath=self.datapath,
                searches=self._search_pool,
            )
            for g in config.gateways
        }
        self.clock: SimClock = config.gateways[0].clock
        self._server: Any = None
        #: Where this host's own ``orbitmesh.v1.Host`` service answers.
        self.address: str | None = None
        #: Searching routes ahead of the requests (see _search_ahead).
        self._ahead: asyncio.Task[None] | None = None
        self._ahead_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="routes-ahead")

    @property
    def host_id(self) -> str:
        return self.config.host_id

    async def start(self, ports: HostPorts | None = None) -> dict[str, str]:
        """Start every gateway and the host's own server; returns each station's address.
        ``ports``: where a previous incarnation listened (a port taken meanwhile is
        replaced by a free one)."""
        wanted = ports.members if ports is not None else {}

        def starter(gateway: GatewayServer, measure: bool) -> Callable[[int], Awaitable[str]]:
            async def start(port: int) -> str:
                gateway.config = replace(gateway.config, port=port)
                return await gateway.start(measure_credit=measure)

            return start

        gateways = list(self.members.values())
        first = await start_on(starter(gateways[0], True), wanted.get(gateways[0].station, 0))
        rest = await asyncio.gather(
            *(start_on(starter(g, False), wanted.get(g.station, 0)) for g in gateways[1:])
        )
        for gateway in gateways[1:]:
            gateway.rpc_credit_s = gateways[0].rpc_credit_s
        # Every request searches routes: load the compiled searches before the first.
        await asyncio.to_thread(warm_up)
        self._ahead = asyncio.create_task(self._search_ahead())
        bind = self.config.gateways[0].host
        servicer = _HostServicer(self)
        self._server, self.address = await start_on(
            lambda port: start_host_server(servicer, bind, port, self.security),
            ports.host if ports else 0,
        )
        quiet_garbage_collector()
        return dict(zip(self.members, [first, *rest], strict=True))

    def ports(self) -> HostPorts:
        """Where this host's servers listen (a restarted host binds them again)."""
        return HostPorts(
            members={name: port_of(g.address) for name, g in self.members.items() if g.address},
            host=port_of(self.address),
        )

    def set_clock(self, clock: SimClock) -> None:
        self.clock = clock
        for gateway in self.members.values():
            gateway.clock = clock

    def publish(self, ticks: Sequence[TickLinks]) -> None:
        now = self.clock.offset_s()
        self.view.publish(ticks, now)
        for gateway in self.members.values():
            gateway.tidy(now)

    def update_fleet(self, fleet: FleetStatus) -> None:
        self.view.fleet = fleet

    def stats(self) -> list[dict[str, Any]]:
        return [station_stats(g) for g in self.members.values()]

    async def _search_ahead(self) -> None:
        """Search the routes of the stations with recent requests at the tick holding now
        and the next one, in a worker thread, before requests ask: a request then only
        reads them. At Starlink shell 1 a search takes 0.1 ms and this changes little;
        at a million satellites it takes 20-100 ms, which on the event loop would hold
        up every request of the host."""
        loop = asyncio.get_running_loop()
        done: set[int] = set()
        while True:
            await asyncio.sleep(_AHEAD_POLL_S)
            wall = time.time()
            busy = [
                name
                for name, g in self.members.items()
                if wall - g.last_request_wall < _AHEAD_IDLE_AFTER_S
            ]
            if not busy:
                continue
            now = self.clock.offset_s()
            current, _ = self.view.lookup(now)
            if current is None:
                continue
            upcoming, _ = self.view.lookup(current.end_s)
            ticks = [t for t in (current, upcoming) if t is not None and t.tick not in done]
            if not ticks or self.view.finder is None:
                continue
            try:
                now_s = time.monotonic()
                limits = {name: self.members[name].reach.limit_ms(now_s) for name in busy}
                await loop.run_in_executor(
                    self._ahead_pool, self.view.finder.prepare, ticks, limits
                )
            except Exception:  # the requests search for themselves: never stop serving
                _log.exception("searching routes ahead failed")
            # Stations that became busy since are searched on their first request.
            done = {t.tick for t in ticks} | {d for d in done if d >= current.tick}

    async def stop(self, grace_s: float = 5.0) -> None:
        if self._ahead is not None:
            self._ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ahead
            self._ahead = None
        self._ahead_pool.shutdown(wait=False)
        self._search_pool.shutdown(wait=False)
        await asyncio.gather(*(g.stop(grace_s) for g in self.members.values()))
        await self.channels.close()
        await self.datapath.close()
        if self._server is not None:
            await self._server.stop(0)
            self._server = None


class _HostServicer:
    """``orbitmesh.v1.Host`` for a gateway host: every station's counters and view."""

    def __init__(self, host: GatewayHost) -> None:
        self.host = host

    async def Members(self, request: Any, context: Any) -> Any:  # noqa: N802 (protocol names)
        def station(gateway: GatewayServer) -> Any:
            service = gateway.station_service
            reachable = 0
            if not request.brief:  # a route search per station: ~0.3 ms each
                _tick, routes = gateway.routes_at(gateway.clock.offset_s())
                reachable = 0 if routes is None else len(routes)
            tick, _late = gateway.view.lookup(gateway.clock.offset_s())
            finder = gateway.view.finder
            return host_pb2.StationStatus(
                name=gateway.station,
                address=gateway.address or "",
                link_stats=service.link_stats_message(brief=request.brief),
                visible=service.visible_message(_BRIEF_VISIBLE if request.brief else None),
                visible_count=0
                if tick is None or finder is None
                else finder.in_view(tick, gateway.station),
                reachable_compute_satellites=reachable,
                active_faults=() if tick is None else tick.faults,
            )

        members = list(self.host.members.values())
        stations = await in_slices(members, station, per_slice=4 if not request.brief else 16)
        return host_pb2.HostMembers(host_id=self.host.host_id, pid=os.getpid(), stations=stations)


def station_stats(gateway: GatewayServer) -> dict[str, Any]:
    """One station's counters, as the orchestrator's status reports them."""
    s = gateway.stats
    tick, _late = gateway.view.lookup(gateway.clock.offset_s())
    finder = gateway.view.finder
    visible = 0 if tick is None or finder is None else finder.in_view(tick, gateway.station)
    return {
        "station": gateway.station,
        "address": gateway.address,
        "requests": s.requests,
        "succeeded": s.succeeded,
        "failed": dict(s.failed),
        "in_flight": s.in_flight,
        "handovers": s.handovers,
        "uplink_bytes": s.uplink_bytes,
        "downlink_bytes": s.downlink_bytes,
        "ticks_received": gateway.view.timeline.received,
        "late_tick_lookups": gateway.late_lookups,
        "visible": visible,
    }
