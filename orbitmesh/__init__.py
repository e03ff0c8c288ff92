"""orbitmesh: a distributed emulation of satellite compute nodes.

One import namespace over the project's parts, each with its own front door:

- :mod:`orbitmesh.ground`: ground stations (gateways), the client, load testing.
- :mod:`orbitmesh.node`: compute satellites and the hosts that run them.
- :mod:`orbitmesh.orchestrator`: scenarios, orbital geometry, the emulation, the CLI.
- :mod:`orbitmesh.protos`: the gRPC contract (generated code and its descriptor pool).

Importing this package imports none of them.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("orbitmesh")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"
