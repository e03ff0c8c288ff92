"""The wire contract every orbitmesh server and client shares, beside the .proto files.

What the generated code cannot say: the causes of failed calls and how they travel
(trailing metadata ``orbitmesh-cause``, one gRPC status code each, and the cause a
failure without one is passed on with), the ``orbitmesh.*`` parameters requests and
responses carry and how a request's are read, and the pipeline a request may ask for.
Servers (satellites, gateways), the client SDK and the load generator all read them here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, NoReturn

import grpc

__all__ = [
    "CANCELLED",
    "CAUSE_METADATA_KEY",
    "CODE_OF_CAUSE",
    "INFERENCE_SERVICE",
    "MAX_PIPELINE_STAGES",
    "MODEL_VERSION",
    "Cause",
    "Param",
    "Refused",
    "Stage",
    "abort_with",
    "abort_with_cause",
    "bool_param",
    "cause_for_code",
    "cause_of",
    "parse_pipeline",
    "string_param",
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
    LINK_DOWN = "link-down"  # a fault cut the laser links a path would have taken
    STATION_DOWN = "station-down"  # a fault took the ground station out of service
    POWER = "power"  # battery below the reserve
    THERMAL = "thermal"  # above the hard temperature limit
    QUEUE = "queue"  # the satellite's request queue is full
    TOO_LARGE = "too-large"  # request larger than the server accepts
    TOO_MANY_CALLS = "too-many-calls"  # the server has its most calls in progress
    TOO_MANY_STREAMS = "too-many-streams"  # the client or the server has its most streams open
    NOT_FOUND = "not-found"  # unknown model or satellite
    INVALID = "invalid"  # bad tensor name, shape, datatype or size
    DEADLINE = "deadline"  # the deadline passed (emulated delays count)
    INTERNAL = "internal"  # a bug or an unexpected failure on our side


#: gRPC status code name for each cause (names: ``grpc.StatusCode[name]`` gives the code).
CODE_OF_CAUSE: Final[dict[Cause, str]] = {
    Cause.NO_CONTACT: "UNAVAILABLE",
    Cause.LINK_LOST: "UNAVAILABLE",
    Cause.NODE_DOWN: "UNAVAILABLE",
    Cause.LINK_DOWN: "UNAVAILABLE",
    Cause.STATION_DOWN: "UNAVAILABLE",
    Cause.POWER: "RESOURCE_EXHAUSTED",
    Cause.THERMAL: "RESOURCE_EXHAUSTED",
    Cause.QUEUE: "RESOURCE_EXHAUSTED",
    Cause.TOO_LARGE: "RESOURCE_EXHAUSTED",
    Cause.TOO_MANY_CALLS: "RESOURCE_EXHAUSTED",
    Cause.TOO_MANY_STREAMS: "RESOURCE_EXHAUSTED",
    Cause.NOT_FOUND: "NOT_FOUND",
    Cause.INVALID: "INVALID_ARGUMENT",
    Cause.DEADLINE: "DEADLINE_EXCEEDED",
    Cause.INTERNAL: "INTERNAL",
}

#: The cause a failure that came without one is filed and passed on under, by status
#: code: a satellite's server or host that is gone answers UNAVAILABLE (or the call is
#: cut, CANCELLED), a wait for it runs out, or gRPC's transport refuses a message
#: beyond its limit. Every other code without a cause is a failure on our side.
_CAUSE_OF_BARE_CODE: Final[dict[str, Cause]] = {
    "UNAVAILABLE": Cause.NODE_DOWN,
    "CANCELLED": Cause.NODE_DOWN,
    "DEADLINE_EXCEEDED": Cause.DEADLINE,
    "RESOURCE_EXHAUSTED": Cause.TOO_LARGE,
}

#: An outcome, not a cause: the client cancelled the call (or went away) before it was
#: answered. Counted beside the causes (a gateway's ``failed_by_cause``) so that every
#: request has an outcome; never sent, since nobody is left to receive it.
CANCELLED: Final = "cancelled"

#: Most stages one ``orbitmesh.pipeline`` may hold (each is an inference and a hop over
#: the laser links, so one request must not buy an unbounded amount of work).
MAX_PIPELINE_STAGES: Final = 32


class Param:
    """Names of the ``orbitmesh.*`` parameters of ModelInfer requests and responses
    (docs/emulation.md lists what each means). Those of requests are strings, read with
    :func:`string_param`, but ``REPORT_UPSETS``, a ``bool_param``."""

    # Requests.
    SATELLITE: Final = "orbitmesh.satellite"  # pin a satellite; in a reply: who answered
    POLICY: Final = "orbitmesh.policy"
    PIPELINE: Final = "orbitmesh.pipeline"
    REPORT_UPSETS: Final = "orbitmesh.report_upsets"  # bool: say what radiation flipped
    # Replies from satellites.
    REPLY_FROM: Final = "orbitmesh.reply_from"
    QUEUE_MS: Final = "orbitmesh.queue_ms"
    INFERENCE_MS: Final = "orbitmesh.inference_ms"
    COMPUTE_ENERGY_WH: Final = "orbitmesh.compute_energy_wh"
    STAGES: Final = "orbitmesh.stages"
    ISL_MS: Final = "orbitmesh.isl_ms"
    #: How late the outputs came after the emulated accelerator's modelled finish (the
    #: host was slower than the hardware emulated); absent when on time.
    LATE_MS: Final = "orbitmesh.late_ms"
    # Replies to a request with REPORT_UPSETS true.
    UPSETS: Final = "orbitmesh.upsets"  # JSON list of {"output", "index", "bit"} flipped
    WEIGHT_UPSETS: Final = "orbitmesh.weight_upsets"  # weight upsets in the model it ran
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


def cause_for_code(code: grpc.StatusCode, cause: str | None) -> str:
    """The cause to pass a failure on with: its own, or for one that came without a
    cause, the cause its status code stands for (:data:`Cause.INTERNAL` at worst)."""
    if cause:
        return cause
    return _CAUSE_OF_BARE_CODE.get(code.name, Cause.INTERNAL).value


def string_param(parameters: Mapping[str, Any], name: str) -> str | None:
    """The text of request parameter ``name`` (an ``InferParameter`` map), None when it
    is absent; :class:`Refused` (INVALID) when it holds something other than a string."""
    if name not in parameters:
        return None
    parameter = parameters[name]
    which = parameter.WhichOneof("parameter_choice")
    if which != "string_param":
        raise Refused(Cause.INVALID, f"{name} must be a string_param, not {which or 'empty'}")
    return str(parameter.string_param)


def bool_param(parameters: Mapping[str, Any], name: str) -> bool:
    """Request parameter ``name`` as a flag: False when absent; :class:`Refused` (INVALID)
    when it holds something other than a ``bool_param``."""
    if name not in parameters:
        return False
    parameter = parameters[name]
    which = parameter.WhichOneof("parameter_choice")
    if which != "bool_param":
        raise Refused(Cause.INVALID, f"{name} must be a bool_param, not {which or 'empty'}")
    return bool(parameter.bool_param)


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
    """The stages of ``orbitmesh.pipeline``: a non-empty JSON list of at most
    :data:`MAX_PIPELINE_STAGES` ``{"model": ..., "satellite"?, "policy"?, "inputs"?}``.
    Raises :class:`Refused` (INVALID) otherwise, whatever the text holds."""
    try:
        stages = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Refused(Cause.INVALID, f"{Param.PIPELINE} is not JSON: {exc}") from None
    except RecursionError:  # nesting deeper than the parser's stack
        raise Refused(Cause.INVALID, f"{Param.PIPELINE} is nested too deeply") from None
    except ValueError as exc:  # a number too long to convert (sys.get_int_max_str_digits)
        raise Refused(Cause.INVALID, f"{Param.PIPELINE} is not usable JSON: {exc}") from None
    shape = f'{Param.PIPELINE} must be a non-empty JSON list of {{"model": ...}} stages'
    if not isinstance(stages, list) or not stages:
        raise Refused(Cause.INVALID, shape)
    if len(stages) > MAX_PIPELINE_STAGES:
        raise Refused(
            Cause.INVALID,
            f"{Param.PIPELINE} has {len(stages)} stages (at most {MAX_PIPELINE_STAGES})",
        )
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
