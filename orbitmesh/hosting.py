"""What satellite and gateway host processes tell the orchestrator once they serve."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HostStarted"]


@dataclass(frozen=True)
class HostStarted:
    """What a host answers once all its members serve."""

    #: Each member's address (satellite id or station name -> host:port).
    members: dict[str, str]
    #: The host's own ``orbitmesh.v1.Host`` service.
    address: str | None
    #: The Ray node it runs on.
    node_id: str
