"""What satellite and gateway host processes tell the orchestrator once they serve."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["HostPorts", "HostStarted", "port_of", "start_on"]

T = TypeVar("T")


@dataclass(frozen=True)
class HostStarted:
    """What a host answers once all its members serve."""

    #: Each member's address (satellite id or station name -> host:port).
    members: dict[str, str]
    #: The host's own ``orbitmesh.v1.Host`` service.
    address: str | None
    #: The Ray node it runs on.
    node_id: str


@dataclass(frozen=True)
class HostPorts:
    """The ports a host's servers listen on. A host Ray restarts after a crash binds them
    again (when they are free), so clients keep the addresses they know."""

    #: Each member's gRPC port (satellite id or station name -> port).
    members: dict[str, int]
    #: The host's own ``orbitmesh.v1.Host`` service.
    host: int
    #: The host's data path listener (satellite hosts; 0 for gateway hosts).
    datapath: int = 0


def port_of(address: str | None) -> int:
    """The port of a ``host:port`` address (0 for none)."""
    return int(address.rsplit(":", 1)[1]) if address else 0


async def start_on(start: Callable[[int], Awaitable[T]], port: int) -> T:
    """``start(port)``, or ``start(0)`` (any free port) when ``port`` is 0 or taken: by
    another process since a previous incarnation released it."""
    if port:
        try:
            return await start(port)
        except (OSError, RuntimeError):  # asyncio says OSError, gRPC RuntimeError
            pass
    return await start(0)
