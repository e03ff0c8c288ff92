"""A Prometheus endpoint for a running emulation (``orbitmesh up --metrics-port``).

On every scrape :class:`EmulationCollector` asks, over gRPC and in parallel with short
timeouts, every host (``orbitmesh.v1.Host/Members``: one call answers for all the
satellites or gateways of a process), and the orchestrator for its own counters (through
any object with a ``counters(timeout_s)`` method:
:class:`~orbitmesh.orchestrator.actor.Orchestrator` inside ``orbitmesh up``). An
endpoints document without hosts is read node by node instead (every gateway's
``LinkStats``, ``Visible`` and ``Routes``, every satellite's ``Status``).
``ground/metrics.py`` turns the replies into metric families; a component that does not
answer gives ``..._up 0`` instead of failing the scrape.

Other commands serve the same endpoint with :func:`serve_metrics`::

    from orbitmesh.orchestrator.metrics import serve_metrics

    with serve_metrics(endpoints, port=9464) as server:  # an Endpoints or its dict
        print(f"metrics on {server.url}")
        ...  # run; every scrape reads the emulation afresh

Without an orchestrator the emulation-wide counters (ticks, restarts) are missing and
simulated time is computed from the endpoints' ``wall0`` and ``speed``.

Secured (``security``, docs/security.md): ``/metrics`` is HTTPS with the run's
certificate (and demands a client certificate where the run does) and answers 401 to a
request without ``Authorization: Bearer <token>``; the collector reads the secured hosts
with the run's credentials. Each connection's TLS handshake runs on its own thread with
a timeout, so a client that stalls it holds up nobody else.
"""

from __future__ import annotations

import hmac
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, make_server

import grpc
from prometheus_client import CollectorRegistry, make_wsgi_app, start_http_server
from prometheus_client.core import Metric
from prometheus_client.exposition import ThreadingWSGIServer

from orbitmesh.ground.endpoints import Endpoints
from orbitmesh.ground.metrics import EmulationReading, SatelliteReading, Scrape, StationReading
from orbitmesh.ground.metrics import metric_families as _metric_families
from orbitmesh.protos.orbitmesh.v1 import (
    ground_station_pb2,
    ground_station_pb2_grpc,
    host_pb2,
    host_pb2_grpc,
    satellite_pb2,
    satellite_pb2_grpc,
)
from orbitmesh.protos.serving import (
    AUTHORIZATION_KEY,
    Credentials,
    Security,
    channel_to,
)

__all__ = ["CounterSource", "EmulationCollector", "MetricsServer", "serve_metrics"]

#: A scrape should answer well within Prometheus' default 10 s scrape timeout even when
#: components hang: each call gets this long, and they run in parallel.
DEFAULT_TIMEOUT_S = 1.0

#: Reconnect soon after a component comes back: gRPC's default backoff grows to two
#: minutes, during which calls on the channel fail at once.
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


#: What a scrape asks each gateway: reading name -> (method, request).
_STATION_CALLS: dict[str, tuple[str, Any]] = {
    "stats": ("LinkStats", ground_station_pb2.LinkStatsRequest()),
    "visible": ("Visible", ground_station_pb2.VisibleRequest()),
    "routes": ("Routes", ground_station_pb2.RoutesRequest()),
}


class CounterSource(Protocol):
    """The orchestrator as the collector needs it (``Orchestrator`` is one)."""

    def counters(self, timeout_s: float = ...) -> dict[str, Any]: ...


def _document(endpoints: Endpoints | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(endpoints, Endpoints):
        return {
            "ground_stations": dict(endpoints.ground_stations),
            "satellites": dict(endpoints.satellites),
            "speed": endpoints.speed,
            "wall0": endpoints.extra.get("wall0"),
            "hosts": endpoints.extra.get("hosts") or {},
        }
    return dict(endpoints)


class EmulationCollector:
    """Reads a running emulation on every scrape (a ``prometheus_client`` collector)."""

    def __init__(
        self,
        endpoints: Endpoints | Mapping[str, Any] | None = None,
        *,
        orchestrator: CounterSource | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_workers: int = 32,
        credentials: Credentials | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        #: TLS and the token for secured hosts (None: an Endpoints' own, else plaintext).
        self.credentials = (
            credentials
            if credentials is not None or not isinstance(endpoints, Endpoints)
            else endpoints.credentials()
        )
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="metrics")
        self._channels: dict[str, grpc.Channel] = {}
        self._stations: dict[str, str] = {}
        self._satellites: dict[str, str] = {}
        #: host id -> {"address": ..., "satellites" | "stations": [...]}
        self._hosts: dict[str, dict[str, Any]] = {}
        self._speed: float | None = None
        self._wall0: float | None = None
        self._orchestrator: CounterSource | None = None
        self._watching = False
        if endpoints is not None:
            self.watch(endpoints, orchestrator=orchestrator)

    def watch(
        self, endpoints: Endpoints | Mapping[str, Any], *, orchestrator: CounterSource | None = None
    ) -> None:
        """Read this emulation from now on (until then a scrape is empty)."""
        doc = _document(endpoints)
        with self._lock:
            self._stations = dict(doc.get("ground_stations") or {})
            self._satellites = dict(doc.get("satellites") or {})
            self._hosts = {k: dict(v) for k, v in (doc.get("hosts") or {}).items()}
            speed, wall0 = doc.get("speed"), doc.get("wall0")
            self._speed = float(speed) if speed is not None else None
            self._wall0 = float(wall0) if wall0 is not None else None
            self._orchestrator = orchestrator
            self._watching = True

    def collect(self) -> Iterable[Metric]:
        return _metric_families(self.scrape())

    def scrape(self) -> Scrape:
        """Ask everyone once; what did not answer is left None in the result."""
        started = time.monotonic()
        with self._lock:
            if not self._watching:
                return Scrape()
            orchestrator = self._orchestrator
        emulation: EmulationReading | None = None
        orchestrator_up: bool | None = None
        if orchestrator is not None:
            counters = self._counters(orchestrator)
            orchestrator_up = counters is not None
            if counters is not None:
                emulation = self._from_counters(counters)
        with self._lock:
            stations, satellites = dict(self._stations), dict(self._satellites)
            hosts = {k: dict(v) for k, v in self._hosts.items()}
            if emulation is None and self._speed is not None and self._wall0 is not None:
                emulation = EmulationReading(
                    sim_time_s=(time.time() - self._wall0) * self._speed, speed=self._speed
                )
        if hosts and all(h.get("address") for h in hosts.values()):
            read_stations, read_satellites = self._read_hosts(hosts, stations, satellites)
        else:
            read_stations, read_satellites = self._read_nodes(stations, satellites)
        return Scrape(
            stations=read_stations,
            satellites=read_satellites,
            emulation=emulation,
            orchestrator_up=orchestrator_up,
            duration_s=time.monotonic() - started,
        )

    def _read_hosts(
        self,
        hosts: Mapping[str, Mapping[str, Any]],
        stations: Mapping[str, str],
        satellites: Mapping[str, str],
    ) -> tuple[list[StationReading], list[SatelliteReading]]:
        calls = {
            host_id: self._pool.submit(self._host_call, str(host["address"]))
            for host_id, host in hosts.items()
        }
        seen_stations: dict[str, StationReading] = {}
        seen_satellites: dict[str, SatelliteReading] = {}
        for call in calls.values():
            reply = _result(call)
            if reply is None:
                continue
            for station in reply.stations:
                seen_stations[station.name] = StationReading(
                    station.name,
                    stats=station.link_stats,
                    visible=station.visible,
                    reachable=station.reachable_compute_satellites,
                )
            for status in reply.satellites:
                seen_satellites[status.satellite_id] = SatelliteReading(status.satellite_id, status)
        return (
            [seen_stations.get(name) or StationReading(name) for name in stations],
            [seen_satellites.get(sid) or SatelliteReading(sid) for sid in satellites],
        )

    def _read_nodes(
        self, stations: Mapping[str, str], satellites: Mapping[str, str]
    ) -> tuple[list[StationReading], list[SatelliteReading]]:
        station_calls = {
            (name, what): self._pool.submit(self._station_call, address, what)
            for name, address in stations.items()
            for what in _STATION_CALLS
        }
        satellite_calls = {
            sid: self._pool.submit(self._satellite_call, address)
            for sid, address in satellites.items()
        }
        readings = []
        for name in stations:
            routes = _result(station_calls[name, "routes"])
            readings.append(
                StationReading(
                    name,
                    stats=_result(station_calls[name, "stats"]),
                    visible=_result(station_calls[name, "visible"]),
                    reachable=None if routes is None else len(routes.routes),
                )
            )
        return readings, [
            SatelliteReading(sid, status=_result(call)) for sid, call in satellite_calls.items()
        ]

    def _counters(self, orchestrator: CounterSource) -> dict[str, Any] | None:
        try:
            return orchestrator.counters(timeout_s=self.timeout_s)
        except Exception:
            return None  # the orchestrator is busy or gone: emulation_up 0

    def _from_counters(self, counters: Mapping[str, Any]) -> EmulationReading:
        with self._lock:
            # A restarted satellite serves on a new port; only the orchestrator knows it.
            self._satellites.update(counters.get("satellites") or {})
            self._stations.update(counters.get("ground_stations") or {})
            # A restarted host serves its own service on a new port too.
            for host_id, address in (counters.get("hosts") or {}).items():
                if host_id in self._hosts and address:
                    self._hosts[host_id]["address"] = address
            self._speed = float(counters["speed"])
        return EmulationReading(
            sim_time_s=float(counters["sim_offset_s"]),
            speed=float(counters["speed"]),
            ticks_published=int(counters["ticks_published"]),
            ticks_late=int(counters["ticks_late"]),
            publish_cost=counters.get("publish_cost"),
            restarts={str(k): int(v) for k, v in (counters.get("restarts") or {}).items()},
            faults_active=counters.get("faults_active"),
            faults_begun=counters.get("faults_begun"),
        )

    def _channel(self, address: str) -> grpc.Channel:
        with self._lock:
            channel = self._channels.get(address)
            if channel is None:
                channel = self._channels[address] = channel_to(
                    address, self.credentials, _CHANNEL_OPTIONS
                )
            return channel

    def _station_call(self, address: str, what: str) -> Any:
        method, request = _STATION_CALLS[what]
        stub = ground_station_pb2_grpc.GroundStationStub(self._channel(address))
        return getattr(stub, method)(request, timeout=self.timeout_s)

    def _host_call(self, address: str) -> Any:
        stub = host_pb2_grpc.HostStub(self._channel(address))
        return stub.Members(host_pb2.MembersRequest(), timeout=self.timeout_s)

    def _satellite_call(self, address: str) -> Any:
        stub = satellite_pb2_grpc.SatelliteStub(self._channel(address))
        return stub.Status(satellite_pb2.StatusRequest(), timeout=self.timeout_s)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()


def _result(call: Future[Any]) -> Any:
    """The reply, or None for a component that did not answer."""
    try:
        return call.result()
    except Exception:  # an RPC error, a closed channel, a scrape cut short by close()
        return None


#: Seconds a client has to complete its TLS handshake, then each read of its request.
_TLS_TIMEOUT_S = 10.0


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged (one line a scrape would drown the terminal)."""


class _TlsServer(ThreadingWSGIServer):
    """A threading WSGI server whose connections are TLS, each handshake on the
    connection's own thread (wrapping the listening socket would run every handshake on
    the accepting thread, where one stalled client stops all the others)."""

    tls: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(_TLS_TIMEOUT_S)
        try:
            secured = self.tls.wrap_socket(request, server_side=True)
        except OSError:  # a failed handshake (ssl.SSLError is an OSError): nothing to answer
            return
        try:
            super().finish_request(secured, client_address)
        finally:
            secured.close()


def _bearer_only(app: Callable[..., Any], token: str) -> Callable[..., Any]:
    """``app`` for requests with ``Authorization: Bearer <token>``; 401 for the others."""
    expected = f"Bearer {token}".encode()
    header = "HTTP_" + AUTHORIZATION_KEY.upper()

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        given = str(environ.get(header, "")).encode("latin-1", "replace")
        if hmac.compare_digest(given, expected):
            return app(environ, start_response)
        start_response(
            "401 Unauthorized",
            [
                ("WWW-Authenticate", 'Bearer realm="orbitmesh"'),
                ("Content-Type", "text/plain; charset=utf-8"),
            ],
        )
        return [b"this endpoint answers only requests with the run's bearer token\n"]

    return guarded


def _serve_secured(
    registry: CollectorRegistry, host: str, port: int, security: Security
) -> tuple[Any, threading.Thread]:
    class Server(_TlsServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        tls = security.server_ssl_context()

    app = _bearer_only(make_wsgi_app(registry), security.token)
    httpd = make_server(host, port, app, Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, name="metrics", daemon=True)
    thread.start()
    return httpd, thread


class MetricsServer:
    """``/metrics`` served over HTTP (HTTPS with the token, given a ``security``) on a
    daemon thread; close() stops it."""

    def __init__(
        self,
        collector: EmulationCollector,
        host: str,
        port: int,
        security: Security | None = None,
    ) -> None:
        self.collector = collector
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        if security is None:
            self._httpd, self._thread = start_http_server(port, addr=host, registry=registry)
        else:
            self._httpd, self._thread = _serve_secured(registry, host, port, security)
        self.secured = security is not None
        self.host = host
        self.port = int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.secured else 'http'}://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5.0)
        self.collector.close()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_metrics(
    endpoints: Endpoints | Mapping[str, Any] | None = None,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
    orchestrator: CounterSource | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    security: Security | None = None,
) -> MetricsServer:
    """Serve Prometheus metrics of the emulation in ``endpoints`` on
    ``http://host:port/metrics`` (port 0: a free one, see ``.port``/``.url``).

    ``endpoints`` may come later, with ``server.collector.watch(...)``: binding first
    lets a command fail on a busy port before it starts anything. Raises OSError when
    the address cannot be bound. ``security``: the run's; the endpoint is then HTTPS
    with its token, and the collector reads the hosts with its credentials.
    """
    collector = EmulationCollector(
        endpoints,
        orchestrator=orchestrator,
        timeout_s=timeout_s,
        credentials=None if security is None else security.credentials(),
    )
    try:
        return MetricsServer(collector, host, port, security)
    except BaseException:
        collector.close()
        raise
