"""The wire contract every orbitmesh server and client shares, beside the .proto files.

What the generated code cannot say: the causes of failed calls and how they travel
(trailing metadata ``orbitmesh-cause``, one gRPC status code each), the ``orbitmesh.*``
parameters requests and responses carry, and the pipeline a request may ask for. Servers
(satellites, gateways), the client SDK and the load generator all read them here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, NoReturn

import grpc

__all__ = [
    "CAUSE_METADATA_KEY",
    "CODE_OF_CAUSE",
    "INFERENCE_SERVICE",
    "MODEL_VERSION",
    "Cause",
    "Param",
    "Refused",
    "Stage",
    "abort_with",
    "abort_with_cause",
    "cause_of",
    "parse_pipeline",
]

#: The Open Inference Protocol's gRPC service (its package is part of every method path).
INFERENCE_SERVICE: Final = "inference.GRPCInferenceService"
#: The only model version a satellite serves.
MODEL_VERSION: Final = "1"

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


#: gRPC status code name for each cause (names: ``grpc.StatusCode[name]`` gives the code).
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


class Param:
    """Names of the ``orbitmesh.*`` parameters of ModelInfer requests and responses
    (docs/emulation.md lists what each means)."""

    # Requests.
    SATELLITE: Final = "orbitmesh.satellite"  # pin a satellite; in a reply: who answered
    POLICY: Final = "orbitmesh.policy"
    PIPELINE: Final = "orbitmesh.pipeline"
    # Replies from satellites.
    REPLY_FROM: Final = "orbitmesh.reply_from"
    QUEUE_MS: Final = "orbitmesh.queue_ms"
    INFERENCE_MS: Final = "orbitmesh.inference_ms"
    COMPUTE_ENERGY_WH: Final = "orbitmesh.compute_energy_wh"
    STAGES: Final = "orbitmesh.stages"
    ISL_MS: Final = "orbitmesh.isl_ms"
    # Added by the gateway.
    STATION: Final = "orbitmesh.station"
    HOPS: Final = "orbitmesh.hops"
    DOWNLINK_HOPS: Final = "orbitmesh.downlink_hops"
    UPLINK_MS: Final = "orbitmesh.uplink_ms"
    DOWNLINK_MS: Final = "orbitmesh.downlink_ms"
    UPLINK_QUEUEING_MS: Final = "orbitmesh.uplink_queueing_ms"
    DOWNLINK_QUEUEING_MS: Final = "orbitmesh.downlink_queueing_ms"
    RETRANSMISSION_MS: Final = "orbitmesh.retransmission_ms"
    ENERGY_WH: Final = "orbitmesh.energy_wh"
    HANDOVER: Final = "orbitmesh.handover"


class Refused(Exception):
    """A request refused (or failed) with a cause: the server answers with the cause's
    status code and the cause in the trailing metadata."""

    def __init__(self, cause: Cause, message: str) -> None:
        super().__init__(message)
        self.cause = cause


def cause_of(metadata: Iterable[tuple[str, Any]] | None) -> str | None:
    """The cause in a call's trailing metadata (as sent, even one newer than this
    module), or None."""
    for key, value in metadata or ():
        if key == CAUSE_METADATA_KEY:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None


async def abort_with(context: Any, code: Any, details: str, cause: str | None) -> NoReturn:
    """End a grpc.aio call with ``code`` and, when there is one, the cause."""
    metadata = ((CAUSE_METADATA_KEY, cause),) if cause else ()
    await context.abort(code, details, trailing_metadata=metadata)
    raise AssertionError("unreachable: abort raises")  # pragma: no cover


async def abort_with_cause(context: Any, cause: Cause, message: str) -> NoReturn:
    """End a grpc.aio call with the cause's status code and the cause."""
    await abort_with(context, grpc.StatusCode[CODE_OF_CAUSE[cause]], message, cause.value)


@dataclass(frozen=True)
class Stage:
    """One stage of a pipeline: the model, optionally where it runs, and how the previous
    stage's outputs (or the client's inputs) map onto its inputs."""

    model: str
    satellite: str | None = None
    policy: str | None = None
    #: stage input name -> previous output (or client input) name; None: same names.
    inputs: dict[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model}
        for key in ("satellite", "policy", "inputs"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def parse_pipeline(text: str) -> list[Stage]:
    """The stages of ``orbitmesh.pipeline``: a non-empty JSON list of ``{"model": ...,
    "satellite"?, "policy"?, "inputs"?}``. Raises :class:`Refused` (INVALID) otherwise."""
    try:
        stages = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Refused(Cause.INVALID, f"{Param.PIPELINE} is not JSON: {exc}") from None
    shape = f'{Param.PIPELINE} must be a non-empty JSON list of {{"model": ...}} stages'
    if not isinstance(stages, list) or not stages:
        raise Refused(Cause.INVALID, shape)
    parsed = []
    for stage in stages:
        if not isinstance(stage, dict) or not isinstance(stage.get("model"), str):
            raise Refused(Cause.INVALID, shape)
        unknown = set(stage) - {"model", "satellite", "policy", "inputs"}
        if unknown:
            raise Refused(Cause.INVALID, f"{Param.PIPELINE}: unknown stage key {min(unknown)!r}")
        inputs = stage.get("inputs")
        if inputs is not None and not (
            isinstance(inputs, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in inputs.items())
        ):
            raise Refused(Cause.INVALID, f"{Param.PIPELINE}: a stage's inputs map names to names")
        for key in ("satellite", "policy"):
            if key in stage and not isinstance(stage[key], str):
                raise Refused(Cause.INVALID, f"{Param.PIPELINE}: a stage's {key} is a string")
        parsed.append(Stage(stage["model"], stage.get("satellite"), stage.get("policy"), inputs))
    return parsed
