"""Exceptions of the orbitmesh client SDK: catch these instead of ``grpc.RpcError``.

Every failed call becomes a :class:`CallFailed` subclass chosen by the machine-readable
cause the server put in the ``orbitmesh-cause`` trailing metadata (the table lives in
:mod:`orbitmesh.protos.contract`), or, when the call carries no cause (the gateway itself is
down, a deadline passed on the client), by its gRPC status code::

    CallFailed
    ├── Unavailable            UNAVAILABLE without a cause (e.g. the gateway is down)
    │   ├── NoContact          no-contact
    │   ├── LinkLost           link-lost
    │   └── NodeDown           node-down
    ├── ResourceExhausted      RESOURCE_EXHAUSTED without a cause
    │   ├── PowerExhausted     power
    │   ├── Overheated         thermal
    │   ├── QueueFull          queue
    │   ├── RequestTooLarge    too-large, or gRPC's transport refusing the message
    │   ├── TooManyCalls       too-many-calls
    │   └── TooManyStreams     too-many-streams
    ├── NotFound               not-found (alias ModelNotFound)
    ├── InvalidInput           invalid
    ├── DeadlineExceeded       deadline, or DEADLINE_EXCEEDED without a cause
    └── InternalError          internal, and every other status code
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Final

import grpc

from orbitmesh.protos.contract import Cause, cause_of

__all__ = [
    "CLASS_OF_CAUSE",
    "CLASS_OF_CODE",
    "CallFailed",
    "DeadlineExceeded",
    "EndpointsError",
    "InternalError",
    "InvalidInput",
    "LinkDown",
    "LinkLost",
    "ModelNotFound",
    "NoContact",
    "NodeDown",
    "NotFound",
    "OrbitmeshError",
    "Overheated",
    "PowerExhausted",
    "QueueFull",
    "RequestTooLarge",
    "ResourceExhausted",
    "StationDown",
    "TooManyCalls",
    "TooManyStreams",
    "Unauthenticated",
    "Unavailable",
    "UnknownStation",
    "error_from_rpc",
]


class OrbitmeshError(Exception):
    """Base class of every exception the orbitmesh client raises."""


class EndpointsError(OrbitmeshError):
    """The endpoints file is missing, unreadable or malformed; the message names it."""


class UnknownStation(OrbitmeshError, KeyError):
    """A ground-station name the client has no address for; the message lists the known ones.

    Also a :class:`KeyError`, as a failed lookup by name.
    """

    def __init__(self, station: str, known: Iterable[str]) -> None:
        self.station = station
        self.known = tuple(known)
        listed = ", ".join(self.known) or "none"
        super().__init__(f"unknown ground station {station!r} (known: {listed})")

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.station, self.known))


class CallFailed(OrbitmeshError):
    """A call that ended with a non-OK gRPC status.

    ``code`` is the status code, ``cause`` the server's machine-readable cause (None when
    the failure carried none), ``details`` the server's message, and ``station`` /
    ``satellite`` say where the call went when the client knows.
    """

    #: The cause this class stands for; None for the classes chosen by status code alone.
    CAUSE: ClassVar[Cause | None] = None

    def __init__(
        self,
        details: str,
        *,
        code: grpc.StatusCode,
        cause: str | None = None,
        station: str | None = None,
        satellite: str | None = None,
    ) -> None:
        super().__init__(details)
        self.details = details
        self.code = code
        self.cause = cause
        self.station = station
        self.satellite = satellite

    def __str__(self) -> str:
        where = " -> ".join(part for part in (self.station, self.satellite) if part)
        what = self.code.name if self.cause is None else f"{self.code.name}, {self.cause}"
        prefix = f"{where}: " if where else ""
        return f"{prefix}{self.details} ({what})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments: rebuild through a helper so exceptions survive pickling
        # (multiprocessing, Ray).
        return (_rebuild, (type(self), self.details, self.__dict__.copy()))


def _rebuild(cls: type[CallFailed], details: str, state: Mapping[str, Any]) -> CallFailed:
    error = cls(details, code=state["code"])
    error.__dict__.update(state)
    return error


class Unavailable(CallFailed):
    """UNAVAILABLE: no path to the target, or the gateway itself cannot be reached."""


class NoContact(Unavailable):
    """No path to the satellite when the request left the ground."""

    CAUSE = Cause.NO_CONTACT


class LinkLost(Unavailable):
    """The path was gone before the reply could come back."""

    CAUSE = Cause.LINK_LOST


class NodeDown(Unavailable):
    """The satellite's node is not serving."""

    CAUSE = Cause.NODE_DOWN


class LinkDown(Unavailable):
    """A fault cut the laser links the path would have taken."""

    CAUSE = Cause.LINK_DOWN


class StationDown(Unavailable):
    """A fault took the ground station out of service."""

    CAUSE = Cause.STATION_DOWN


class ResourceExhausted(CallFailed):
    """RESOURCE_EXHAUSTED: the satellite refused the work for want of a resource."""


class PowerExhausted(ResourceExhausted):
    """The satellite's battery is below its reserve."""

    CAUSE = Cause.POWER


class Overheated(ResourceExhausted):
    """The satellite is above its hard temperature limit."""

    CAUSE = Cause.THERMAL


class QueueFull(ResourceExhausted):
    """The satellite's request queue is full."""

    CAUSE = Cause.QUEUE


class RequestTooLarge(ResourceExhausted):
    """The request is larger than the server accepts (``.cause`` is None when gRPC's
    transport refused it, beyond a multiple of the server's limit)."""

    CAUSE = Cause.TOO_LARGE


class TooManyCalls(ResourceExhausted):
    """The server has as many calls in progress as it takes; try again later."""

    CAUSE = Cause.TOO_MANY_CALLS


class TooManyStreams(ResourceExhausted):
    """The client, or the server, has as many streams open as it may."""

    CAUSE = Cause.TOO_MANY_STREAMS


class NotFound(CallFailed):
    """Unknown model, model version or satellite."""

    CAUSE = Cause.NOT_FOUND


#: Another name for :class:`NotFound`: the cause does not tell a model from a satellite.
ModelNotFound = NotFound


class InvalidInput(CallFailed):
    """Bad tensor name, datatype, shape or size (the message names the tensor).

    Also raised before sending when the client itself can tell.
    """

    CAUSE = Cause.INVALID


class DeadlineExceeded(CallFailed):
    """The deadline passed, emulated link delays included."""

    CAUSE = Cause.DEADLINE


class InternalError(CallFailed):
    """A failure on the server's side, or a status code the SDK has no class for."""

    CAUSE = Cause.INTERNAL


class Unauthenticated(CallFailed):
    """The server wants TLS and the run's bearer token (docs/security.md): the endpoints
    file names them, or the client was given other credentials."""


def _cause_classes() -> dict[Cause, type[CallFailed]]:
    found: dict[Cause, type[CallFailed]] = {}
    pending: list[type[CallFailed]] = [CallFailed]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "CAUSE" in vars(cls) and cls.CAUSE is not None:
            found[cls.CAUSE] = cls
    return found


#: The exception class for each cause of :class:`orbitmesh.protos.contract.Cause`.
CLASS_OF_CAUSE: Final[Mapping[Cause, type[CallFailed]]] = _cause_classes()

#: The exception class for a failure that carries no (known) cause, by status code.
#: Each cause's class is a subclass of the class of its code (a test checks this against
#: ``orbitmesh.protos.contract.CODE_OF_CAUSE``), so ``except Unavailable`` also catches
#: ``NoContact``.
CLASS_OF_CODE: Final[Mapping[grpc.StatusCode, type[CallFailed]]] = {
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidInput,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
}


def _class_of_cause(cause: str | None) -> type[CallFailed] | None:
    if cause is None:
        return None
    try:
        return CLASS_OF_CAUSE.get(Cause(cause))
    except ValueError:  # a cause newer than this SDK
        return None


#: How gRPC's transport words a server's refusal of a message beyond its limit (the only
#: sign of it: no cause, since no handler of ours ran).
_TRANSPORT_TOO_LARGE: Final = "SERVER: Received message larger than max"


def _call_attr(err: Any, name: str) -> Any:
    # A grpc.RpcError raised by a call is also a grpc.Call; one raised otherwise is not.
    method = getattr(err, name, None)
    return method() if callable(method) else None


def error_from_rpc(
    err: grpc.RpcError, *, station: str | None = None, satellite: str | None = None
) -> CallFailed:
    """The :class:`CallFailed` subclass for a failed sync or asyncio gRPC call.

    The class is chosen by the ``orbitmesh-cause`` trailing metadata when it names a
    known cause, otherwise by the status code (:data:`CLASS_OF_CODE`; a request gRPC's
    transport refused as too large is :class:`RequestTooLarge`), otherwise
    :class:`InternalError`. An unknown cause string is kept in ``.cause``.
    """
    code = _call_attr(err, "code")
    if not isinstance(code, grpc.StatusCode):
        code = grpc.StatusCode.UNKNOWN
    details = _call_attr(err, "details") or str(err) or code.name
    cause = cause_of(_call_attr(err, "trailing_metadata"))
    cls = _class_of_cause(cause) or CLASS_OF_CODE.get(code, InternalError)
    transport_refused = code is grpc.StatusCode.RESOURCE_EXHAUSTED and details.startswith(
        _TRANSPORT_TOO_LARGE
    )
    if cause is None and transport_refused:
        cls = RequestTooLarge
    return cls(details, code=code, cause=cause, station=station, satellite=satellite)
