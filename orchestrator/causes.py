"""The machine-readable causes of failed calls and their gRPC status codes.

Every non-OK status an orbitmesh server returns carries one of these causes in the
trailing metadata key ``orbitmesh-cause``, so that clients and load tests can count
failures by cause without parsing messages. Defined once here; servers, the client SDK
and the load generator all read this table.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["CAUSE_METADATA_KEY", "CODE_OF_CAUSE", "Cause"]

#: Trailing-metadata key carrying the cause (gRPC metadata keys are lower-case ASCII).
CAUSE_METADATA_KEY: Final = "orbitmesh-cause"


class Cause(StrEnum):
    NO_CONTACT = "no-contact"  # no path to the satellite when the request left
    LINK_LOST = "link-lost"  # the path was gone before the reply could come back
    NODE_DOWN = "node-down"  # the satellite's actor is not serving
    POWER = "power"  # battery below the reserve
    THERMAL = "thermal"  # above the hard temperature limit
    QUEUE = "queue"  # the satellite's request queue is full
    TOO_LARGE = "too-large"  # request larger than the server accepts
    NOT_FOUND = "not-found"  # unknown model or satellite
    INVALID = "invalid"  # bad tensor name, shape, datatype or size
    DEADLINE = "deadline"  # the deadline passed (emulated delays count)
    INTERNAL = "internal"  # a bug or an unexpected failure on our side


#: gRPC status code name for each cause (names, so that this module needs no grpc).
CODE_OF_CAUSE: Final[dict[Cause, str]] = {
    Cause.NO_CONTACT: "UNAVAILABLE",
    Cause.LINK_LOST: "UNAVAILABLE",
    Cause.NODE_DOWN: "UNAVAILABLE",
    Cause.POWER: "RESOURCE_EXHAUSTED",
    Cause.THERMAL: "RESOURCE_EXHAUSTED",
    Cause.QUEUE: "RESOURCE_EXHAUSTED",
    Cause.TOO_LARGE: "RESOURCE_EXHAUSTED",
    Cause.NOT_FOUND: "NOT_FOUND",
    Cause.INVALID: "INVALID_ARGUMENT",
    Cause.DEADLINE: "DEADLINE_EXCEEDED",
    Cause.INTERNAL: "INTERNAL",
}
