"""One compute satellite as a gRPC server: the plain class behind the Ray actor.

:class:`SatelliteServer` is unit-testable without Ray: build it from a
:class:`NodeConfig`, ``await start()`` on a running event loop, talk to the address it
returns, ``await stop()``. The Ray actor (node/actor.py) only wraps it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from orbitmesh.clock import SimClock
from orbitmesh.heap import release_freed_heap
from orbitmesh.links.datapath import DataPathClient
from orbitmesh.links.linkview import LinkView
from orbitmesh.links.model import LinkParams
from orbitmesh.node.accelerator import HOST, Accelerator
from orbitmesh.node.app import AppSpec, SatelliteContext, load_app
from orbitmesh.node.ephemeris import Ephemeris
from orbitmesh.node.forwarding import Forwarder
from orbitmesh.node.inference import InferenceCore
from orbitmesh.node.power import PowerParams
from orbitmesh.node.radiation import RadiationParams
from orbitmesh.node.runtime import LoadedModel, ModelRuntime, satellite_radiation
from orbitmesh.node.servicer import InferenceServicer, TelemetryServicer
from orbitmesh.node.spec import NodeSpec
from orbitmesh.node.state import NodeSnapshot, NodeState
from orbitmesh.node.thermal import ThermalParams
from orbitmesh.protos.contract import INFERENCE_SERVICE
from orbitmesh.protos.orbitmesh.v1 import satellite_pb2, satellite_pb2_grpc
from orbitmesh.protos.serving import (
    DEFAULT_LIMITS,
    REFLECTION_SERVICE,
    CallLimits,
    LazyReflection,
    Security,
    ServerGuard,
    advertised_address,
    bind_port,
    server_options,
)

__all__ = [
    "NodeConfig",
    "SatelliteServer",
    "release_startup_memory",
]


@dataclass(frozen=True)
class NodeConfig:
    """Everything one satellite process needs; built by the launcher, sent to the actor."""

    satellite_id: str
    name: str
    power: PowerParams
    thermal: ThermalParams
    node: NodeSpec
    #: Model name -> .onnx path (built-ins already resolved in the model cache).
    models: dict[str, str]
    clock: SimClock
    ephemeris: Ephemeris
    #: Downlink rate used to book radio time for replies.
    radio_rate_mbps: float = 1000.0
    host: str = "127.0.0.1"
    port: int = 0
    #: User code this satellite serves as one more model (``[app]``).
    app: AppSpec | None = None
    #: Loss on the laser links this satellite sends over (pipelines, apps).
    link_params: LinkParams = field(default_factory=LinkParams)
    #: What its gRPC server takes on at once (calls, streams and their rates).
    limits: CallLimits = DEFAULT_LIMITS
    #: TLS and the bearer token its servers demand (None: plaintext; docs/security.md).
    security: Security | None = None
    #: Upsets, latch-ups and dose (``[radiation]``; disabled by default: nothing drawn).
    radiation: RadiationParams = field(default_factory=RadiationParams)
    #: The hardware its inferences are timed by (None: the host's own time); its power
    #: is already in ``power`` (compute_w, compute_idle_w).
    accelerator: Accelerator | None = None


class SatelliteServer:
    """A satellite's servers (inference, telemetry, health, reflection) and state.

    ``view`` is what its host knows of links and the fleet (shared by every satellite of
    the host; a satellite alone gets its own) and ``sessions`` the host's open models.
    """

    def __init__(
        self,
        config: NodeConfig,
        *,
        view: LinkView | None = None,
        sessions: dict[tuple[str, Path], LoadedModel] | None = None,
        datapath: DataPathClient | None = None,
    ) -> None:
        self.config = config
        self.clock = config.clock
        self.view = view if view is not None else LinkView()
        self._owns_datapath = datapath is None
        security = config.security
        self.datapath = (
            datapath
            if datapath is not None
            else DataPathClient(None if security is None else security.credentials())
        )
        self.runtime = ModelRuntime(
            {name: Path(path) for name, path in config.models.items()},
            sessions,
            provider=config.node.execution_provider,
        )
        self.state = NodeState(
            config.satellite_id,
            power=config.power,
            thermal=config.thermal,
            ephemeris=config.ephemeris,
            clock=config.clock.offset_s,
            queue_depth=config.node.queue_depth,
            max_concurrency=config.node.max_concurrency,
            radio_rate_mbps=config.radio_rate_mbps,
            speed=config.clock.speed,
            radiation=satellite_radiation(
                self.runtime,
                config.radiation,
                config.ephemeris,
                satellite_id=config.satellite_id,
            ),
        )
        self._server: grpc.aio.Server | None = None
        #: The front of the running server's handlers (its bounds and refusals).
        self.guard: ServerGuard | None = None
        self._health = health.aio.HealthServicer()
        self.address: str | None = None
        self.port: int | None = None
        self.core = InferenceCore(
            self.state,
            satellite_id=config.satellite_id,
            max_concurrency=config.node.max_concurrency,
            accelerator=config.accelerator,
        )
        self.core.prepare(self.runtime.models.values())
        self.forwarder = Forwarder(
            config.satellite_id,
            clock=config.clock,
            view=self.view,
            state=self.state,
            datapath=self.datapath,
            link_params=config.link_params,
        )
        app = None
        if config.app is not None:
            context = SatelliteContext(
                config.satellite_id, core=self.core, runtime=self.runtime, forwarder=self.forwarder
            )
            app = load_app(config.app, context)
        self._inference = InferenceServicer(
            self.runtime,
            self.core,
            satellite_id=config.satellite_id,
            max_message_bytes=config.node.max_message_bytes,
            start=config.clock.start,
            forwarder=self.forwarder,
            app=app,
        )
        self._telemetry = TelemetryServicer(
            self.state,
            name=config.name,
            start=config.clock.start,
            models=self._inference.model_names,
            accelerator=HOST if config.accelerator is None else config.accelerator.name,
        )

    async def start(self, port: int | None = None) -> str:
        """Bind (``port``, else the configured one), start serving, return ``host:port``."""
        if self._server is not None:
            raise RuntimeError("already started")
        server = grpc.aio.server(options=server_options(self.config.node.max_message_bytes))
        # Every service behind one guard: each call parsed, bounded and answered with a
        # cause (protos/serving.py).
        security = self.config.security
        guard = ServerGuard(
            server, self.config.limits, token=None if security is None else security.token
        )
        guard.add_service(INFERENCE_SERVICE, self._inference.handlers())
        satellite_pb2_grpc.add_SatelliteServicer_to_server(self._telemetry, guard)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, guard)
        reflection = LazyReflection(
            (
                INFERENCE_SERVICE,
                satellite_pb2.DESCRIPTOR.services_by_name["Satellite"].full_name,
                health.SERVICE_NAME,
            )
        )
        services = reflection.service_names
        guard.add_service(REFLECTION_SERVICE, reflection.handlers())
        self.guard = guard
        wanted = self.config.port if port is None else port
        bound = bind_port(server, f"{self.config.host}:{wanted}", security)
        if bound == 0:
            raise OSError(f"cannot bind {self.config.host}:{wanted}")
        await server.start()
        for name in ("", *services):
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        self.port = bound
        self.address = advertised_address(self.config.host, bound)
        return self.address

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop accepting calls, let in-flight ones finish (up to ``grace_s``), close."""
        if self._server is None:
            return
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace_s)
        self._inference.close()
        if self._owns_datapath:
            await self.datapath.close()
        self._server = None

    def set_clock(self, clock: SimClock) -> None:
        """Run on the emulation's clock from now on (sent once everything serves)."""
        self.clock = clock
        self.state.start_clock(clock.offset_s, clock.speed)
        self.forwarder.clock = clock
        self._telemetry.start = clock.start

    async def infer_bytes(self, request: bytes, time_remaining_s: float | None) -> bytes:
        """A serialized ModelInferRequest served as the gRPC endpoint serves it (for the
        hosts' data path); raises RemoteError with the status code and cause."""
        response = await self._inference.infer(
            self._inference.parse_infer(request), time_remaining_s
        )
        return bytes(response.SerializeToString())

    def status_message(self) -> satellite_pb2.SatelliteStatus:
        """This satellite's ``SatelliteStatus``, as its telemetry service answers."""
        status: satellite_pb2.SatelliteStatus = self._telemetry.status()
        return status

    @property
    def model_names(self) -> list[str]:
        return self._inference.model_names

    def snapshot(self) -> NodeSnapshot:
        return self.state.snapshot()

    async def wait_stopped(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


def release_startup_memory() -> None:
    """Hand back to the OS the heap that imports and model loading freed.

    A hundred satellites share a machine, so the ~0.6 MiB each that glibc would keep
    cached after start-up adds up (measured in benchmarks/node.py).
    """
    release_freed_heap()
