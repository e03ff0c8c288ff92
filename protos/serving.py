"""Serving gRPC the way every orbitmesh server does: where it publishes itself, a host's
own small server, and reflection that loads its machinery on the first reflection call.

``advertised_address``: a server bound to a wildcard publishes this machine's outward
address. ``start_host_server``: the ``orbitmesh.v1.Host`` service of a host process.

Reflection:

grpc_reflection costs about 2 MiB per process at import; a hundred satellites pay that
for a service that is asked only when someone points grpcurl at one of them. The
handler is registered up front (so reflection always answers) and imports the real
servicer when a call arrives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

from orbitmesh.protos.orbitmesh.v1 import host_pb2_grpc

__all__ = [
    "REFLECTION_SERVICE",
    "LazyReflection",
    "advertised_address",
    "start_host_server",
]

REFLECTION_SERVICE = "grpc.reflection.v1alpha.ServerReflection"


class _OursThenDefault:
    """Descriptor lookups in orbitmesh's pool (our services: protos/pool.py says why it is
    not the default one), then in protobuf's default pool (health, reflection itself)."""

    def __getattr__(self, name: str) -> Any:
        from google.protobuf import descriptor_pool

        from orbitmesh.protos.pool import POOL

        ours, default = getattr(POOL, name), getattr(descriptor_pool.Default(), name)

        def find(*args: Any) -> Any:
            try:
                return ours(*args)
            except KeyError:
                return default(*args)

        return find


class LazyReflection:
    def __init__(self, service_names: Sequence[str]) -> None:
        self.service_names = (*service_names, REFLECTION_SERVICE)
        self._servicer: Any = None

    def handler(self) -> grpc.GenericRpcHandler:
        # No (de)serializers: the handler sees raw bytes, so nothing is imported yet.
        return grpc.method_handlers_generic_handler(
            REFLECTION_SERVICE,
            {"ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(self._info)},
        )

    async def _info(self, requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        from grpc_reflection.v1alpha import reflection_pb2
        from grpc_reflection.v1alpha.reflection import aio

        if self._servicer is None:
            self._servicer = aio.ReflectionServicer(self.service_names, pool=_OursThenDefault())

        async def parsed() -> AsyncIterator[Any]:
            async for raw in requests:
                yield reflection_pb2.ServerReflectionRequest.FromString(raw)

        async for response in self._servicer.ServerReflectionInfo(parsed(), context):
            yield response.SerializeToString()


async def start_host_server(servicer: Any, bind: str, port: int = 0) -> tuple[Any, str]:
    """A host's own small server (``orbitmesh.v1.Host``), on ``port`` of ``bind`` (0: any
    free one); returns the server and its published address."""
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    host_pb2_grpc.add_HostServicer_to_server(servicer, server)
    bound = server.add_insecure_port(f"{bind}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind {bind}:{port}")
    port = bound
    await server.start()
    return server, advertised_address(bind, port)


def advertised_address(host: str, port: int) -> str:
    """The address others should dial for a server bound to ``host:port``: a wildcard
    bind is published as this machine's outward address, so that clients on other
    machines of a cluster can reach it."""
    return f"{_local_ip() if host in ('0.0.0.0', '::', '[::]') else host}:{port}"


def _local_ip() -> str:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"
