"""gRPC server reflection that loads its machinery on the first reflection call.

grpc_reflection costs about 2 MiB per process at import; a hundred satellites pay that
for a service that is asked only when someone points grpcurl at one of them. The
handler is registered up front (so reflection always answers) and imports the real
servicer when a call arrives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

__all__ = ["REFLECTION_SERVICE", "LazyReflection"]

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
