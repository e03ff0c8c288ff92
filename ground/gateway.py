"""A ground station as a gRPC gateway: inference requests go up over emulated links.

The gateway serves the Open Inference Protocol, so users' existing clients talk to a
ground station as to any inference server, plus ``orbitmesh.v1.GroundStation``. For each
ModelInfer it picks a compute satellite (pinned with ``orbitmesh.satellite``, or by
``orbitmesh.policy``), lets the request cross the current path (propagation on every
hop, serialization at the bottleneck, FIFO queueing behind earlier bytes), forwards it
to the satellite, and brings the reply down the path that exists when it leaves. The
waits are real (``delay / speed`` of wall time), scheduled against the request's arrival
so that the gateway's own overheads are absorbed instead of added.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from orbitmesh.clock import SimClock
from orbitmesh.ground.contactevents import contact_changes
from orbitmesh.ground.lag import LagWindow
from orbitmesh.ground.legs import FAILURE_REPLY_BYTES, plan_uplink, settle
from orbitmesh.histogram import Histogram
from orbitmesh.links.choice import Policy, choose_satellite, pinned, policy_named, refusal
from orbitmesh.links.datapath import DataPathClient, RemoteError
from orbitmesh.links.linkstate import Route, TickLinks
from orbitmesh.links.linkview import LinkView
from orbitmesh.links.model import LinkModel, LinkParams, Transfer
from orbitmesh.links.reach import SearchReach
from orbitmesh.links.routes import RouteFinder, RouteSet
from orbitmesh.links.timing import sleep_until
from orbitmesh.protos.contract import (
    CANCELLED,
    INFERENCE_SERVICE,
    Cause,
    Param,
    Refused,
    Stage,
    abort_with,
    abort_with_cause,
    cause_for_code,
    cause_of,
    parse_pipeline,
    string_param,
)
from orbitmesh.protos.inference import grpc_service_pb2 as pb
from orbitmesh.protos.orbitmesh.v1 import ground_station_pb2, ground_station_pb2_grpc, types_pb2
from orbitmesh.protos.serving import (
    DEFAULT_LIMITS,
    REFLECTION_SERVICE,
    CallLimits,
    Credentials,
    LazyReflection,
    Security,
    ServerGuard,
    advertised_address,
    aio_channel_to,
    bind_port,
    server_options,
)
from orbitmesh.protos.statistics import ModelStats, histogram_message, statistics_message
from orbitmesh.protos.tensors import parse_infer_request

__all__ = ["NEAR_SEARCH_MS", "ChannelPool", "GatewayConfig", "GatewayServer", "StationServicer"]

_log = logging.getLogger(__name__)

_GATEWAY_NAME = "orbitmesh-ground-station"
_VERSION = "0.1.0"
_CONTACT_KINDS = {
    "rise": ground_station_pb2.CONTACT_KIND_RISE,
    "set": ground_station_pb2.CONTACT_KIND_SET,
    "handover": ground_station_pb2.CONTACT_KIND_HANDOVER,
}
#: Link utilisation is reported over this many recent simulated seconds.
LINK_USAGE_WINDOW_S = 10.0
#: A link that carried nothing for this long (wall time, so that a slow scraper at a high
#: speed factor still sees it) is forgotten: bounded memory and metric cardinality.
LINK_USAGE_IDLE_WALL_S = 600.0
#: The gateway's lag is reported over this many recent seconds of wall time.
LAG_WINDOW_WALL_S = 10.0
#: A request's route is first searched only this far (one-way): on Starlink shell 1 such
#: a search costs 0.08 ms against 0.41 ms for every route, and the satellite a station
#: sends to is almost always within it.
NEAR_SEARCH_MS = 20.0
#: A call cancelled this close to its deadline was cancelled by it: the client's timer
#: and the server's, started from the same timeout, fire within a transit of each other.
_DEADLINE_SLACK_S = 0.05


@dataclass(frozen=True)
class GatewayConfig:
    station: str
    lat_deg: float
    lon_deg: float
    alt_m: float
    min_elevation_deg: float
    clock: SimClock
    link_params: LinkParams
    max_message_bytes: int = 16 * 2**20
    default_policy: Policy = Policy.FASTEST
    host: str = "127.0.0.1"
    port: int = 0
    #: Take the gRPC round trip between client and gateway out of the modelled wait.
    compensate_rpc_overhead: bool = True
    #: What its gRPC server takes on at once (calls, streams and their rates).
    limits: CallLimits = DEFAULT_LIMITS
    #: TLS and the bearer token its servers demand, and its own calls present (None:
    #: plaintext; docs/security.md).
    security: Security | None = None


class _SatelliteFailed(Exception):
    """The satellite's error, to be passed on to the client as it came (with the cause
    its status code stands for when it came without one)."""

    def __init__(self, failure: RemoteError) -> None:
        super().__init__(failure.details)
        self.failure = failure
        self.cause = cause_for_code(failure.code, failure.cause)


@dataclass
class _Stats:
    """A station's counters. Every ModelInfer call is counted in ``requests`` when it
    arrives and has exactly one outcome: ``requests == succeeded + sum(failed.values())
    + in_flight`` at every instant (``failed`` by cause, ``cancelled`` included)."""

    uplink_bytes: int = 0
    downlink_bytes: int = 0
    requests: int = 0
    succeeded: int = 0
    handovers: int = 0
    in_flight: int = 0
    uplink_ms_sum: float = 0.0
    downlink_ms_sum: float = 0.0

    def __post_init__(self) -> None:
        self.failed: Counter[str] = Counter()
        #: Wall seconds per finished request, by outcome ("ok" or the failure cause).
        self.latency: dict[str, Histogram] = {}
        #: How late replies left after their modelled instant, recently.
        self.lag = LagWindow(LAG_WINDOW_WALL_S)

    def finished(self, outcome: str, wall_s: float) -> None:
        histogram = self.latency.get(outcome)
        if histogram is None:
            histogram = self.latency[outcome] = Histogram()
        histogram.observe(wall_s)


def _raw(data: bytes) -> bytes:
    return data


class ChannelPool:
    """One gRPC channel per satellite address, shared by the gateways of a process (TLS
    and the token with ``credentials``)."""

    def __init__(self, max_message_bytes: int, credentials: Credentials | None = None) -> None:
        self.max_message_bytes = max_message_bytes
        self.credentials = credentials
        self._channels: dict[str, grpc.aio.Channel] = {}

    def get(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            limit = self.max_message_bytes
            channel = aio_channel_to(
                address,
                self.credentials,
                options=[
                    ("grpc.max_receive_message_length", limit),
                    ("grpc.max_send_message_length", limit),
                ],
            )
            self._channels[address] = channel
        return channel

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()


class GatewayServer:
    """One ground station's gateway: plain class, unit-testable without Ray.

    ``view`` is what its process knows of links and the fleet (shared by every gateway
    of a host) and ``channels`` its connections to satellites (likewise).
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        view: LinkView | None = None,
        channels: ChannelPool | None = None,
        datapath: DataPathClient | None = None,
        searches: ThreadPoolExecutor | None = None,
    ) -> None:
        self.config = config
        self.clock = config.clock
        #: The thread its requests' route searches run in (its host's, shared by every
        #: station of the host). One thread, not one per call: at a million satellites a
        #: search allocates 12 MB, and each new thread gets its own malloc arena, which
        #: kept the host's memory growing.
        self._owns_searches = searches is None
        self.searches = (
            searches
            if searches is not None
            else ThreadPoolExecutor(max_workers=1, thread_name_prefix="routes-now")
        )
        self.view = view if view is not None else LinkView()
        self._owns_channels = channels is None
        #: What its own calls present (to satellites, to itself).
        self.credentials = None if config.security is None else config.security.credentials()
        self.channels = (
            channels
            if channels is not None
            else ChannelPool(config.max_message_bytes, self.credentials)
        )
        #: Requests go to satellites over their hosts' data paths (links/datapath.py).
        self._owns_datapath = datapath is None
        self.datapath = datapath if datapath is not None else DataPathClient(self.credentials)
        self.links = LinkModel(config.link_params, usage_window_s=LINK_USAGE_WINDOW_S)
        self.stats = _Stats()
        #: Wall time of the last request (its host searches routes ahead while recent).
        self.last_request_wall = 0.0
        #: How far this station's first route search reaches (links/reach.py).
        self.reach = SearchReach(NEAR_SEARCH_MS)
        #: Requests of this gateway in flight to each compute satellite (compute order).
        self._outstanding = np.zeros(0, dtype=np.int64)
        #: Latest inference time seen from each satellite, ms (nan: none yet).
        self._inference_ms = np.zeros(0)
        # Control-plane answers from satellites, by (method, model): they do not change
        # during a run.
        self._asked: dict[tuple[str, str], bytes] = {}
        #: What passed through this station, per model (ModelStatistics).
        self.model_stats = ModelStats()
        #: Lookups of link state past the last tick received (the orchestrator is late).
        self.late_lookups = 0
        #: A tick with the laser links faults cut put back, and its own route finder:
        #: searched only to tell a route a fault took from one that never was.
        self._restored: tuple[TickLinks, TickLinks, RouteFinder] | None = None
        self._server: grpc.aio.Server | None = None
        #: The front of the running server's handlers (its bounds and refusals).
        self.guard: ServerGuard | None = None
        self._health = health.aio.HealthServicer()
        self.address: str | None = None
        #: Wall seconds of gRPC round trip taken off each reply's wait (see start()).
        self.rpc_credit_s = 0.0
        #: ``orbitmesh.v1.GroundStation``, also read by the host for its members' status.
        self.station_service = StationServicer(self)

    # ------------------------------------------------------------------ lifecycle

    @property
    def station(self) -> str:
        return self.config.station

    async def start(self, *, measure_credit: bool = True) -> str:
        """Bind and serve; ``measure_credit``: measure this server's own round trip for
        the RPC credit (a host measures it on one of its gateways and shares it)."""
        # gRPC's transport takes requests beyond max_message_bytes (up to a multiple) so
        # that ModelInfer refuses them itself, with the cause "too-large".
        server = grpc.aio.server(options=server_options(self.config.max_message_bytes))
        # Every service behind one guard: each call parsed, bounded and answered with a
        # cause (protos/serving.py); the ModelInfer calls it refuses are counted here.
        security = self.config.security
        guard = ServerGuard(
            server,
            self.config.limits,
            on_refused=self._refused_by_guard,
            token=None if security is None else security.token,
        )
        guard.add_service(INFERENCE_SERVICE, self._inference_handlers())
        ground_station_pb2_grpc.add_GroundStationServicer_to_server(self.station_service, guard)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, guard)
        station_service = ground_station_pb2.DESCRIPTOR.services_by_name["GroundStation"].full_name
        reflection = LazyReflection((INFERENCE_SERVICE, station_service, health.SERVICE_NAME))
        guard.add_service(REFLECTION_SERVICE, reflection.handlers())
        self.guard = guard
        port = bind_port(server, f"{self.config.host}:{self.config.port}", security)
        if port == 0:
            raise OSError(f"cannot bind {self.config.host}:{self.config.port}")
        await server.start()
        for name in ("", *reflection.service_names):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        self.address = advertised_address(self.config.host, port)
        if self.config.compensate_rpc_overhead and measure_credit:
            self.rpc_credit_s = await self._measure_rpc_overhead()
        return self.address

    async def _measure_rpc_overhead(self, samples: int = 200) -> float:
        """How much of a client's wait is gRPC itself rather than the modelled links.

        A client measures from its send to its receipt; the gateway's clock starts when
        the handler runs and stops when it returns. The round trip of an empty call
        through this very server covers what lies outside, on both ends. Its fastest
        round trip is taken: a client elsewhere pays at least that much (it has the same
        work to do and a socket between), so the credit stays under the real overhead
        and replies are not early.
        """
        channel = aio_channel_to(self.address or "", self.credentials)
        live = channel.unary_unary(
            f"/{INFERENCE_SERVICE}/ServerLive",
            request_serializer=pb.ServerLiveRequest.SerializeToString,
            response_deserializer=pb.ServerLiveResponse.FromString,
        )
        times = []
        try:
            for _ in range(samples):
                start = time.perf_counter()
                await live(pb.ServerLiveRequest(), timeout=5.0)
                times.append(time.perf_counter() - start)
        finally:
            await channel.close()
        return min(times)

    async def stop(self, grace_s: float = 5.0) -> None:
        if self._server is None:
            return
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace_s)
        if self._owns_channels:
            await self.channels.close()
        if self._owns_datapath:
            await self.datapath.close()
        if self._owns_searches:
            self.searches.shutdown(wait=False)
        self._server = None

    def tidy(self, now_s: float) -> None:
        """Forget what can no longer matter (called as ticks arrive)."""
        # Link bookings older than a second cannot delay anything any more.
        self.links.forget_before(now_s - 1.0)
        self.links.forget_idle_usage(now_s - LINK_USAGE_IDLE_WALL_S * self.clock.speed)

    def _tick(self, offset_s: float) -> TickLinks | None:
        tick, late = self.view.lookup(offset_s)
        self.late_lookups += late
        return tick

    def routes_at(self, offset_s: float) -> tuple[TickLinks | None, RouteSet | None]:
        """The tick holding at ``offset_s`` and the routes from this station then."""
        tick = self._tick(offset_s)
        if tick is None:
            return None, None
        return tick, self.view.from_station(tick, self.config.station)

    async def _routes(self, tick: TickLinks, within_ms: float | None) -> RouteSet | None:
        """The routes from this station at ``tick`` up to ``within_ms``: read if searched
        already (by the host's search ahead, most often), else searched in a worker
        thread. At a million satellites a search takes 2-150 ms; on the event loop it
        would hold up every request of the host, not only this one."""
        finder = self.view.finder
        if finder is None:
            return None
        found = finder.finished(tick, self.config.station, within_ms)
        if found is not None:
            return found
        return await asyncio.get_running_loop().run_in_executor(
            self.searches,
            functools.partial(finder.from_station, tick, self.config.station, within_ms=within_ms),
        )

    async def _route(self, tick: TickLinks, target: str) -> Route | None:
        """The route to ``target`` at ``tick``: from a search up to the station's learned
        reach, and only when that does not reach it from farther searches."""
        now = time.monotonic()
        for within_ms in self.reach.limits(now):
            routes = await self._routes(tick, within_ms)
            route = routes.get(target) if routes is not None else None
            if route is not None or routes is None or routes.within_ms is None:
                if route is not None:
                    self.reach.needed(route.delay_ms, now)
                return route
        return None

    def _counters(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-satellite counters sized to the fleet (it arrives after start-up)."""
        n = len(self.view.fleet)
        if len(self._outstanding) != n:
            self._outstanding = np.zeros(n, dtype=np.int64)
            self._inference_ms = np.full(n, np.nan)
        return self._outstanding, self._inference_ms

    # ------------------------------------------------------------------ inference service

    def _inference_handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        def unary(behaviour: Callable[..., Any], request: Any, response: Any) -> Any:
            return grpc.unary_unary_rpc_method_handler(
                behaviour,
                request_deserializer=request.FromString,
                response_serializer=response.SerializeToString,
            )

        return {
            "ServerLive": unary(self._live, pb.ServerLiveRequest, pb.ServerLiveResponse),
            "ServerReady": unary(self._ready, pb.ServerReadyRequest, pb.ServerReadyResponse),
            "ModelReady": unary(self._model_ready, pb.ModelReadyRequest, pb.ModelReadyResponse),
            "ServerMetadata": unary(
                self._server_metadata, pb.ServerMetadataRequest, pb.ServerMetadataResponse
            ),
            "ModelMetadata": grpc.unary_unary_rpc_method_handler(
                self._model_metadata,
                request_deserializer=pb.ModelMetadataRequest.FromString,
                response_serializer=_raw,
            ),
            "ModelConfig": grpc.unary_unary_rpc_method_handler(
                self._model_config,
                request_deserializer=pb.ModelConfigRequest.FromString,
                response_serializer=_raw,
            ),
            "ModelStatistics": unary(
                self._model_statistics, pb.ModelStatisticsRequest, pb.ModelStatisticsResponse
            ),
            "ModelInfer": grpc.unary_unary_rpc_method_handler(
                self._model_infer, request_deserializer=_raw, response_serializer=_raw
            ),
        }

    async def _live(
        self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def _ready(
        self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=len(self.view.timeline) > 0)

    async def _server_metadata(
        self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=_GATEWAY_NAME, version=_VERSION, extensions=[])

    async def _model_ready(
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelReadyResponse:
        _tick, routes = self.routes_at(self.clock.offset_s())
        fleet = self.view.fleet
        ready = routes is not None and bool(
            (fleet.carriers(request.name) & fleet.up & routes.reachable()).any()
        )
        return pb.ModelReadyResponse(ready=ready)

    async def _model_metadata(
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> bytes:
        return await self._ask_a_carrier("ModelMetadata", request, context)

    async def _model_config(
        self, request: pb.ModelConfigRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> bytes:
        return await self._ask_a_carrier("ModelConfig", request, context)

    async def _ask_a_carrier(
        self,
        method: str,
        request: pb.ModelMetadataRequest | pb.ModelConfigRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> bytes:
        # Control plane: asked of any satellite carrying the model, without emulated
        # delay, and cached.
        cached = self._asked.get((method, request.name))
        if cached is not None:
            return cached
        fleet = self.view.fleet
        carriers = np.flatnonzero(fleet.carriers(request.name) & fleet.up)
        if len(carriers) == 0:
            await abort_with_cause(
                context, Cause.NOT_FOUND, f"no compute satellite carries model {request.name!r}"
            )
        call = self.channels.get(fleet.addresses[int(carriers[0])]).unary_unary(
            f"/{INFERENCE_SERVICE}/{method}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=_raw,
        )
        try:
            data = bytes(await call(request, timeout=10.0))
        except grpc.aio.AioRpcError as exc:
            cause = cause_for_code(exc.code(), cause_of(exc.trailing_metadata()))
            await abort_with(context, exc.code(), exc.details() or "", cause)
        self._asked[(method, request.name)] = data
        return data

    async def _model_statistics(
        self, request: pb.ModelStatisticsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ModelStatisticsResponse:
        # What this station carried: end to end as it saw each request (uplink, hops,
        # queue, compute, downlink), queue and compute as the satellites reported them.
        fleet = self.view.fleet
        if request.name:
            if not fleet.carriers(request.name).any():
                await abort_with_cause(
                    context, Cause.NOT_FOUND, f"no compute satellite carries model {request.name!r}"
                )
            names = [request.name]
        else:
            names = sorted(fleet.models)
        return pb.ModelStatisticsResponse(
            model_stats=[statistics_message(name, self.model_stats.of(name)) for name in names]
        )

    # ------------------------------------------------------------------ the data path

    async def _model_infer(self, data: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        arrived = time.time()
        self.last_request_wall = arrived
        stats = self.stats
        stats.requests += 1
        stats.in_flight += 1
        # Exactly one outcome per request, whatever happens (see _Stats).
        outcome = Cause.INTERNAL.value
        model = ""
        try:
            request = parse_infer_request(
                data,
                max_message_bytes=self.config.max_message_bytes,
                server=f"station {self.config.station}",
            )
            model = request.model_name
            reply = await self._carry(request, data, arrived, context)
            outcome = "ok"
            return reply
        except Refused as refusal:
            outcome = refusal.cause.value
            await abort_with_cause(context, refusal.cause, str(refusal))
        except _SatelliteFailed as failed:
            outcome = failed.cause
            failure = failed.failure  # the satellite's answer, passed on as it came
            await abort_with(context, failure.code, failure.details, failed.cause)
        except asyncio.CancelledError:
            # The client cancelled, or its deadline passed and gRPC ended the call.
            left = context.time_remaining()
            late = left is not None and left <= _DEADLINE_SLACK_S
            outcome = Cause.DEADLINE.value if late else CANCELLED
            raise
        except Exception:
            # A bug: logged here, answered with a cause (never the exception's name).
            _log.exception("station %s: ModelInfer failed", self.config.station)
            await abort_with_cause(
                context, Cause.INTERNAL, f"internal error in station {self.config.station}"
            )
        finally:
            stats.in_flight -= 1
            if outcome == "ok":
                stats.succeeded += 1
            else:
                stats.failed[outcome] += 1
            done = time.time()
            stats.finished(outcome, done - arrived)
            self._book(model, outcome == "ok", arrived, done)

    def _refused_by_guard(self, method: str, cause: Cause) -> None:
        """A ModelInfer call the server's guard refused before the handler ran (too many
        calls in progress): counted as a request with that outcome."""
        if method == f"/{INFERENCE_SERVICE}/ModelInfer":
            self.stats.requests += 1
            self.stats.failed[cause.value] += 1
            self.stats.finished(cause.value, 0.0)

    def _book(self, model: str, answered: bool, arrived: float, done: float) -> None:
        """ModelStatistics, for models the constellation carries: a name a client made up
        would otherwise hold counters for the rest of the run."""
        if model not in self.view.fleet.models:
            return
        took_s = (done - arrived) * self.clock.speed
        if answered:
            at_s = self.clock.start.timestamp() + self.clock.offset_s(done)
            self.model_stats.answered(model, took_s=took_s, at_ms=round(at_s * 1e3))
        else:
            self.model_stats.failed(model, took_s=took_s)

    async def _pick(self, request: pb.ModelInferRequest, start_s: float) -> tuple[int, Route]:
        """The satellite (its place in the fleet) and the route up to it; a refusal a
        fault caused says so (``station-down``, ``link-down``)."""
        tick = self._tick(start_s)
        if tick is None:
            raise Refused(Cause.NO_CONTACT, f"station {self.config.station} has no link state yet")
        topology = self.view.topology
        number = topology.station_number.get(self.config.station) if topology else None
        if number is not None and number in tick.stations_down:
            raise Refused(
                Cause.STATION_DOWN,
                f"station {self.config.station} is down ({_faults_of(tick, 'station-down')})",
            )
        try:
            return await self._pick_at(tick, request)
        except Refused as refused:
            if (
                refused.cause is Cause.NO_CONTACT
                and len(tick.cut_a)
                and self._cut_off(tick, request)
            ):
                raise Refused(
                    Cause.LINK_DOWN,
                    f"{refused}: faults cut the laser links ({_faults_of(tick, 'isl-down')})",
                ) from None
            raise

    def _cut_off(self, tick: TickLinks, request: pb.ModelInferRequest) -> bool:
        """Whether the request would have found its satellite without the laser links
        faults cut (searched only when it found none)."""
        topology = self.view.topology
        if topology is None:
            return False
        if self._restored is None or self._restored[0] is not tick:
            self._restored = (tick, tick.with_cuts_restored(), RouteFinder(topology))
        _, restored, finder = self._restored
        routes = finder.from_station(restored, self.config.station)
        fleet = self.view.fleet
        target = string_param(request.parameters, Param.SATELLITE)
        if target is not None:
            return target in routes
        return bool((fleet.carriers(request.model_name) & fleet.up & routes.reachable()).any())

    async def _pick_at(self, tick: TickLinks, request: pb.ModelInferRequest) -> tuple[int, Route]:
        fleet = self.view.fleet
        params = request.parameters
        target = string_param(params, Param.SATELLITE)
        if target is not None:
            route = await self._route(tick, target) if target in fleet.index else None
            i = pinned(
                fleet,
                target,
                route,
                unreachable=f"satellite {target} is out of contact with station "
                f"{self.config.station}",
            )
            assert route is not None  # pinned() refuses otherwise
            return i, route
        policy = policy_named(string_param(params, Param.POLICY), self.config.default_policy)
        outstanding, inference_ms = self._counters()
        # Most requests are settled by the satellites within the station's learned reach;
        # the rest search farther (choose_satellite says when it cannot be sure).
        now = time.monotonic()
        for within_ms in self.reach.limits(now):
            routes = await self._routes(tick, within_ms)
            if routes is None:
                raise Refused(Cause.NO_CONTACT, f"station {self.config.station} has no routes")
            choice = choose_satellite(
                routes.delay_ms,
                fleet,
                request.model_name,
                policy,
                outstanding=outstanding,
                inference_ms=inference_ms,
                within_ms=routes.within_ms,
            )
            if choice.certain:
                break
        if choice.reach_ms is not None:
            self.reach.needed(choice.reach_ms, now)
        if choice.index is None:
            raise refusal(
                choice, request.model_name, within=f"in contact with station {self.config.station}"
            )
        route = routes.get(fleet.satellite_ids[choice.index]) if routes is not None else None
        assert route is not None  # chosen among the reachable
        return choice.index, route

    async def _carry(
        self,
        request: pb.ModelInferRequest,
        data: bytes,
        arrived: float,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> bytes:
        pipeline = string_param(request.parameters, Param.PIPELINE)
        if pipeline is not None:
            data = _first_stage(request, parse_pipeline(pipeline))
        index, route = await self._pick(request, self.clock.offset_s(arrived))
        fleet = self.view.fleet
        target = fleet.satellite_ids[index]
        uplink = plan_uplink(
            self.links,
            self.clock,
            route,
            size_bytes=len(data),
            arrived=arrived,
            deadline_left_s=context.time_remaining(),
        )
        self.stats.uplink_bytes += len(data)
        outstanding, inference_ms = self._counters()
        outstanding[index] += 1
        failure: RemoteError | None = None
        reply = b""
        try:
            reply = await self.datapath.call(
                fleet.datapaths[index],
                target,
                data,
                deliver_at=uplink.reaches_at,
                timeout_s=context.time_remaining(),
            )
        except RemoteError as exc:
            failure = exc
        finally:
            outstanding[index] -= 1
        received = time.time()

        response: pb.ModelInferResponse | None = (
            None if failure is not None else pb.ModelInferResponse.FromString(reply)
        )
        work_s: float | None = None
        # A pipeline's answer comes down from its last stage's satellite.
        sender = target
        if response is not None:
            p = response.parameters
            sender = p[Param.REPLY_FROM].string_param if Param.REPLY_FROM in p else target
            sender = sender or target
            # A pipeline's stages also spent time on the laser links between them.
            work_s = (
                p[Param.QUEUE_MS].double_param
                + p[Param.INFERENCE_MS].double_param
                + p[Param.ISL_MS].double_param
            ) / 1e3
            inference_ms[index] = p[Param.INFERENCE_MS].double_param
            self.model_stats.executed(
                request.model_name,
                batch=_batch_of(request),
                queue_s=p[Param.QUEUE_MS].double_param / 1e3,
                compute_s=p[Param.INFERENCE_MS].double_param / 1e3,
            )
        back_tick = self._tick(self.clock.offset_s(received))
        back = await self._route(back_tick, sender) if back_tick is not None else None
        settled = settle(
            self.links,
            self.clock,
            route=route,
            up=uplink.transfer,
            back=back,
            sender=sender,
            station=self.config.station,
            arrived=arrived,
            received=received,
            reply_bytes=len(reply) if failure is None else FAILURE_REPLY_BYTES,
            work_s=work_s,
            rpc_credit_s=self.rpc_credit_s,
        )
        gone = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        if failure is not None and failure.code in gone and failure.cause is None:
            # No cause: not the satellite refusing, the satellite (or its host) is gone.
            raise Refused(Cause.NODE_DOWN, f"satellite {target} is not serving: {failure.details}")
        self.stats.handovers += int(settled.handover)
        if failure is not None:
            await sleep_until(settled.answer_at)
            self.stats.lag.observe(time.time(), settled.answer_at)
            raise _SatelliteFailed(failure)
        assert response is not None
        up, down = uplink.transfer, settled.down
        self._annotate(response, target, route, settled.back, up, down, settled.handover)
        out = bytes(response.SerializeToString())
        await sleep_until(settled.answer_at)
        # Counted once delivered: a call cancelled during the downlink is not a success.
        self.stats.lag.observe(time.time(), settled.answer_at)
        self.stats.downlink_bytes += len(out)
        self.stats.uplink_ms_sum += up.total_ms
        self.stats.downlink_ms_sum += down.total_ms
        return out

    def _annotate(
        self,
        response: pb.ModelInferResponse,
        target: str,
        up_route: Route,
        down_route: Route,
        up: Transfer,
        down: Transfer,
        handover: bool,
    ) -> None:
        p = response.parameters
        p[Param.SATELLITE].string_param = target
        p[Param.STATION].string_param = self.config.station
        p[Param.HOPS].string_param = ",".join(up_route.hops[1:])
        p[Param.DOWNLINK_HOPS].string_param = ",".join(down_route.reversed().hops[:-1])
        p[Param.UPLINK_MS].double_param = up.total_ms
        p[Param.DOWNLINK_MS].double_param = down.total_ms
        p[Param.UPLINK_QUEUEING_MS].double_param = up.queueing_ms
        p[Param.DOWNLINK_QUEUEING_MS].double_param = down.queueing_ms
        p[Param.RETRANSMISSION_MS].double_param = up.retransmission_ms + down.retransmission_ms
        p[Param.ENERGY_WH].double_param = p[Param.COMPUTE_ENERGY_WH].double_param
        p[Param.HANDOVER].bool_param = handover


class StationServicer:
    """``orbitmesh.v1.GroundStation``: what this station sees and how it is doing."""

    def __init__(self, gateway: GatewayServer) -> None:
        self.gateway = gateway
        self._epoch_for: SimClock | None = None
        self._start_epoch_s = 0.0

    def _now(self) -> tuple[float, TickLinks | None]:
        now = self.gateway.clock.offset_s()
        return now, self.gateway._tick(now)

    def _in_view(self, tick: TickLinks) -> list[str]:
        """The satellites this station sees at ``tick``, highest first."""
        finder = self.gateway.view.finder
        return [] if finder is None else finder.visible_columns(tick, self.gateway.station)[0]

    def _stamp(self, message: Any, offset_s: float) -> None:
        # Seconds and nanoseconds set directly: Timestamp.FromDatetime costs 10 us, a
        # good part of a status read of a host's hundred stations.
        clock = self.gateway.clock
        if self._epoch_for is not clock:
            self._epoch_for, self._start_epoch_s = clock, clock.start.timestamp()
        seconds = self._start_epoch_s + offset_s
        whole = math.floor(seconds)
        message.sim_time.seconds = whole
        message.sim_time.nanos = min(999_999_999, round((seconds - whole) * 1e9))

    async def Info(  # noqa: N802
        self, request: ground_station_pb2.InfoRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ground_station_pb2.StationInfo:
        c = self.gateway.config
        _, tick = self._now()
        place = self._place(tick) if tick is not None else None
        lat, lon, alt_m = (c.lat_deg, c.lon_deg, c.alt_m) if place is None else place[:3]
        return ground_station_pb2.StationInfo(
            name=c.station,
            position=types_pb2.GeodeticPosition(lat_deg=lat, lon_deg=lon, alt_km=alt_m / 1000),
            min_elevation_deg=c.min_elevation_deg,
        )

    def _place(self, tick: TickLinks) -> tuple[float, float, float, bool] | None:
        """A moving terminal's place at ``tick`` and whether it handed over by its own
        motion then (None for a fixed station)."""
        topology = self.gateway.view.topology
        if not len(tick.places.station) or topology is None:
            return None
        return tick.places.of(topology.station_number[self.gateway.station])

    async def Visible(  # noqa: N802
        self,
        request: ground_station_pb2.VisibleRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> ground_station_pb2.VisibleSatellites:
        return self.visible_message()

    def visible_message(self, limit: int | None = None) -> ground_station_pb2.VisibleSatellites:
        """What the station sees now, highest first (``limit``: only the highest)."""
        now, tick = self._now()
        reply = ground_station_pb2.VisibleSatellites()
        finder = self.gateway.view.finder
        if tick is not None and finder is not None:
            make = ground_station_pb2.VisibleSatellite
            ids, elevation, azimuth, range_km, delay = finder.visible_columns(
                tick, self.gateway.station, limit
            )
            reply.satellites.extend(
                make(satellite_id=s, elevation_deg=e, azimuth_deg=a, range_km=r, delay_ms=d)
                for s, e, a, r, d in zip(ids, elevation, azimuth, range_km, delay, strict=True)
            )
            place = self._place(tick)
            if place is not None:
                lat, lon, alt_m, by_motion = place
                reply.position.lat_deg, reply.position.lon_deg = lat, lon
                reply.position.alt_km = alt_m / 1000
                reply.handover_by_motion = by_motion
        self._stamp(reply, now)
        return reply

    async def Routes(  # noqa: N802
        self, request: ground_station_pb2.RoutesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ground_station_pb2.RouteTable:
        now, tick = self._now()
        reply = ground_station_pb2.RouteTable()
        routes = self.gateway.view.from_station(tick, self.gateway.station) if tick else None
        for target, route in sorted(
            (routes if routes is not None else {}).items(), key=lambda kv: kv[1].delay_ms
        ):
            reply.routes.append(
                types_pb2.Route(
                    source_id=route.source,
                    destination_id=target,
                    hops=[
                        types_pb2.LinkHop(from_id=a, to_id=b, delay_ms=d, rate_mbps=r)
                        for (a, b), d, r in zip(
                            route.links, route.delays_ms, route.rates_mbps, strict=True
                        )
                    ],
                    delay_ms=route.delay_ms,
                    bottleneck_mbps=route.bottleneck_mbps,
                )
            )
        self._stamp(reply, now)
        return reply

    async def LinkStats(  # noqa: N802
        self,
        request: ground_station_pb2.LinkStatsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> ground_station_pb2.LinkStatsReply:
        return self.link_stats_message()

    def link_stats_message(self, *, brief: bool = False) -> ground_station_pb2.LinkStatsReply:
        """The station's counters (``brief``: without latency histograms and link usage)."""
        now, _ = self._now()
        s = self.gateway.stats
        reply = ground_station_pb2.LinkStatsReply(
            uplink_bytes=s.uplink_bytes,
            downlink_bytes=s.downlink_bytes,
            request_count=s.requests,
            handover_count=s.handovers,
            succeeded_count=s.succeeded,
            in_flight=s.in_flight,
            ticks_received=self.gateway.view.timeline.received,
            late_tick_lookups=self.gateway.late_lookups,
            mean_uplink_ms=s.uplink_ms_sum / s.succeeded if s.succeeded else 0.0,
            mean_downlink_ms=s.downlink_ms_sum / s.succeeded if s.succeeded else 0.0,
        )
        for cause, count in s.failed.items():
            reply.failed_by_cause[cause] = count
        for outcome, histogram in () if brief else s.latency.items():
            reply.latency_by_outcome[outcome].CopyFrom(histogram_message(histogram.snapshot()))
        for usage in () if brief else self.gateway.links.usage(now):
            reply.links.add(
                from_id=usage.link[0],
                to_id=usage.link[1],
                booked_bytes=usage.booked_bytes,
                booked_busy_s=usage.booked_busy_s,
                recent_busy_s=usage.recent_busy_s,
            )
        reply.link_window_s = self.gateway.links.usage_window_s or 0.0
        lag = s.lag.summary(time.time())
        reply.lag_p50_ms, reply.lag_p99_ms, reply.lag_max_ms = lag.p50_ms, lag.p99_ms, lag.max_ms
        reply.lag_samples = lag.samples
        reply.lag_window_s = s.lag.window_s
        self._stamp(reply, now)
        return reply

    async def WatchContacts(  # noqa: N802
        self,
        request: ground_station_pb2.WatchContactsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[ground_station_pb2.ContactEvent]:
        import asyncio

        # The stream opens with a rise for everything already in view.
        seen: list[str] = []
        last_tick = -1
        while True:
            now, state = self._now()
            if state is not None and state.tick != last_tick:
                last_tick = state.tick
                current = self._in_view(state)
                place = self._place(state)
                moved = place is not None and place[3]
                for kind, sid, previous in contact_changes(seen, current):
                    event = self._event(now, sid, _CONTACT_KINDS[kind], previous=previous)
                    event.by_own_motion = moved and kind == "handover"
                    yield event
                seen = current
            await asyncio.sleep(
                max(0.05, min(1.0, (state.step_s if state else 1.0) / self.gateway.clock.speed))
            )

    def _event(self, offset_s: float, satellite: str, kind: Any, previous: str = "") -> Any:
        event = ground_station_pb2.ContactEvent(
            satellite_id=satellite, kind=kind, previous_satellite_id=previous
        )
        self._stamp(event, offset_s)
        return event


def _faults_of(tick: TickLinks, kind: str) -> str:
    """The labels of the tick's faults of one kind, for a refusal's message."""
    return ", ".join(label for label in tick.faults if f" {kind} " in label) or "a fault"


def _first_stage(request: pb.ModelInferRequest, stages: list[Stage]) -> bytes:
    """Turn a pipeline request (its ``orbitmesh.pipeline`` parsed into ``stages``) into
    the request for its first stage.

    The first stage's ``satellite`` or ``policy`` chooses where the request goes up; its
    ``inputs`` (stage input name -> the client's input name) renames the inputs; the
    remaining stages travel on in ``orbitmesh.pipeline``.
    """
    params = request.parameters
    first, *rest = stages
    request.model_name = first.model
    renames = {client: stage for stage, client in (first.inputs or {}).items()}
    for tensor in request.inputs:
        tensor.name = renames.get(tensor.name, tensor.name)
    for key in (Param.SATELLITE, Param.POLICY, Param.PIPELINE):
        if key in params:
            del params[key]
    if first.satellite is not None:
        params[Param.SATELLITE].string_param = first.satellite
    if first.policy is not None:
        params[Param.POLICY].string_param = first.policy
    if rest:
        params[Param.PIPELINE].string_param = json.dumps([stage.as_json() for stage in rest])
    return bytes(request.SerializeToString())


def _batch_of(request: pb.ModelInferRequest) -> int:
    """Batch items in a request: its first input's leading dimension (1 without one)."""
    if not request.inputs or not request.inputs[0].shape:
        return 1
    return int(request.inputs[0].shape[0])
