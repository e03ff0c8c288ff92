"""orbitmesh ground: the client SDK, ground-station gateways and the link model.

The front door; import from here rather than from the modules::

    from orbitmesh.ground import Client, NoContact
    with Client.from_endpoints() as client:     # the file `orbitmesh up` writes
        try:
            result = client.infer("frankfurt", "digits", pixels)
        except NoContact:
            ...                                  # no satellite in view right now

Names load on first use, so that the client needs neither Ray nor the gateway, and the
pure link model (``LinkModel``, ``Route``, ``choose_satellite``) can be used alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orbitmesh.lazy_exports import lazy_getattr

if TYPE_CHECKING:
    from orbitmesh.ground.client import AsyncClient, Client, InferResult
    from orbitmesh.ground.endpoints import Endpoints, load_endpoints, write_endpoints
    from orbitmesh.ground.errors import (
        CallFailed,
        DeadlineExceeded,
        EndpointsError,
        InternalError,
        InvalidInput,
        LinkDown,
        LinkLost,
        NoContact,
        NodeDown,
        NotFound,
        OrbitmeshError,
        Overheated,
        PowerExhausted,
        QueueFull,
        RequestTooLarge,
        ResourceExhausted,
        StationDown,
        TooManyCalls,
        TooManyStreams,
        Unauthenticated,
        Unavailable,
        UnknownStation,
    )
    from orbitmesh.links.choice import Policy, choose_satellite
    from orbitmesh.links.fleet import FleetStatus, SatelliteInfo
    from orbitmesh.links.linkstate import LinkTimeline, Route, TickLinks, Topology
    from orbitmesh.links.model import LinkModel, LinkParams, Transfer
    from orbitmesh.links.routes import RouteFinder, RouteSet

_HOME = {
    "AsyncClient": "client",
    "Client": "client",
    "InferResult": "client",
    "Endpoints": "endpoints",
    "load_endpoints": "endpoints",
    "write_endpoints": "endpoints",
    "CallFailed": "errors",
    "DeadlineExceeded": "errors",
    "EndpointsError": "errors",
    "InternalError": "errors",
    "InvalidInput": "errors",
    "LinkLost": "errors",
    "NodeDown": "errors",
    "TooManyStreams": "errors",
    "Unauthenticated": "errors",
    "TooManyCalls": "errors",
    "StationDown": "errors",
    "LinkDown": "errors",
    "NoContact": "errors",
    "NotFound": "errors",
    "OrbitmeshError": "errors",
    "Overheated": "errors",
    "PowerExhausted": "errors",
    "QueueFull": "errors",
    "RequestTooLarge": "errors",
    "ResourceExhausted": "errors",
    "Unavailable": "errors",
    "UnknownStation": "errors",
    "LinkModel": "links",
    "LinkParams": "links",
    "Transfer": "links",
    "FleetStatus": "fleet",
    "SatelliteInfo": "fleet",
    "LinkTimeline": "linkstate",
    "Route": "linkstate",
    "TickLinks": "linkstate",
    "Topology": "linkstate",
    "RouteFinder": "routes",
    "RouteSet": "routes",
    "Policy": "selection",
    "choose_satellite": "selection",
}

__all__ = [
    "AsyncClient",
    "CallFailed",
    "Client",
    "DeadlineExceeded",
    "Endpoints",
    "EndpointsError",
    "FleetStatus",
    "InferResult",
    "InternalError",
    "InvalidInput",
    "LinkDown",
    "LinkLost",
    "LinkModel",
    "LinkParams",
    "LinkTimeline",
    "NoContact",
    "NodeDown",
    "NotFound",
    "OrbitmeshError",
    "Overheated",
    "Policy",
    "PowerExhausted",
    "QueueFull",
    "RequestTooLarge",
    "ResourceExhausted",
    "Route",
    "RouteFinder",
    "RouteSet",
    "SatelliteInfo",
    "StationDown",
    "TickLinks",
    "TooManyCalls",
    "TooManyStreams",
    "Topology",
    "Transfer",
    "Unauthenticated",
    "Unavailable",
    "UnknownStation",
    "choose_satellite",
    "load_endpoints",
    "write_endpoints",
]


__getattr__ = lazy_getattr(__name__, _HOME, globals())
