"""Choosing the compute satellite a request goes to (pure, vectorised over the fleet).

Policies (request parameter ``orbitmesh.policy``):

- ``fastest`` (default): the lowest predicted latency: uplink and downlink propagation
  plus the wait behind the satellite's queue (its queue depth times its recent inference
  time) plus one inference.
- ``nearest``: the shortest path (propagation only).
- ``least-loaded``: the emptiest queue (relative to its capacity), then the shortest path.
- ``power-aware``: only satellites accepting work; prefer sunlit ones, then the most
  charged, then the coolest, then the shortest path. Spares batteries in eclipse.

Every policy skips satellites that cannot take the request (no route, model not
carried, down, refusing for power or heat, queue full) when another can; if none can,
the request goes nowhere and the caller answers with the reason. Ties go to the
satellite first in compute order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from orbitmesh.links.fleet import FleetStatus
from orbitmesh.links.linkstate import Route
from orbitmesh.protos.contract import Cause, Refused

__all__ = ["Choice", "Policy", "choose_satellite", "pinned", "policy_named", "refusal"]


class Policy(StrEnum):
    FASTEST = "fastest"
    NEAREST = "nearest"
    LEAST_LOADED = "least-loaded"
    POWER_AWARE = "power-aware"


@dataclass(frozen=True)
class Choice:
    #: Position of the chosen satellite in the fleet (compute order), None if none.
    index: int | None
    #: Why nothing was chosen: "not-found" (no satellite carries the model), "node-down"
    #: (those that do are all down), "no-contact" (none of them is reachable) or a
    #: refusal cause shared by every reachable one.
    reason: str | None = None
    predicted_ms: float | None = None
    #: False when the delays stopped at a search limit and a satellite beyond it might
    #: be the better answer: search every route and choose again.
    certain: bool = True
    #: The one-way search limit that makes this choice certain (half of what it
    #: minimised); None: only a search of every route does (see links/reach.py).
    reach_ms: float | None = None


def choose_satellite(
    delay_ms: NDArray[np.float64],
    fleet: FleetStatus,
    model: str,
    policy: Policy = Policy.FASTEST,
    *,
    outstanding: NDArray[np.int64] | None = None,
    inference_ms: NDArray[np.float64] | None = None,
    default_inference_ms: float = 1.0,
    within_ms: float | None = None,
) -> Choice:
    """The best satellite for ``model``.

    ``delay_ms``: one-way path delay from the requester to every satellite, compute
    order (inf: no route, or beyond ``within_ms`` when the search stopped there).
    ``outstanding`` counts requests the caller has sent that have not come back (the
    status lags by up to a poll); ``inference_ms`` is the recent inference time per
    satellite (nan: not yet seen, ``default_inference_ms`` is used).
    """
    carriers = fleet.carriers(model)
    if not carriers.any():
        return Choice(None, reason="not-found")
    carriers = carriers & fleet.up
    if not carriers.any():
        return Choice(None, reason="node-down")
    # Everything below looks only at reachable carriers: a few hundred of thousands.
    near = np.flatnonzero(carriers & np.isfinite(delay_ms))
    bounded = within_ms is None
    if len(near) == 0:
        return Choice(None, reason="no-contact", certain=bounded)
    waiting = fleet.queue_depth[near] + (0 if outstanding is None else outstanding[near])
    power = ~fleet.accepting_power[near]
    thermal = ~power & ~fleet.accepting_thermal[near]
    full = ~power & ~thermal & (waiting >= fleet.queue_capacity[near])
    ok = ~(power | thermal | full)
    if not ok.any():
        kinds = (("power", power), ("thermal", thermal), ("queue", full))
        causes = [cause for cause, refusing in kinds if refusing.any()]
        return Choice(None, reason=causes[0] if len(causes) == 1 else "queue", certain=bounded)
    candidates, waiting = near[ok], waiting[ok]
    path_ms = 2.0 * delay_ms[candidates]
    per_inference = np.full(len(candidates), default_inference_ms)
    if inference_ms is not None:
        seen = inference_ms[candidates]
        per_inference = np.where(np.isnan(seen), default_inference_ms, seen)
    predicted = path_ms + (waiting + 1) * per_inference
    # What the choice minimised, for the policies whose best within a search limit is
    # the best overall once it is within twice the limit: a satellite beyond it is
    # farther and no less queued. Least-loaded and power-aware rank by other figures
    # first, so an emptier or better-charged satellite beyond the limit could win.
    key = math.inf
    if policy is Policy.NEAREST:
        best = int(np.argmin(path_ms))
        key = float(path_ms[best])
    elif policy is Policy.LEAST_LOADED:
        load = waiting / np.maximum(1, fleet.queue_capacity[candidates])
        best = int(np.lexsort((candidates, path_ms, load))[0])
    elif policy is Policy.POWER_AWARE:
        keys = (
            candidates,
            path_ms,
            fleet.temperature_c[candidates],
            -fleet.state_of_charge[candidates],
            ~fleet.sunlit[candidates],
        )
        best = int(np.lexsort(keys)[0])
    else:
        best = int(np.argmin(predicted))
        key = float(predicted[best])
    if within_ms is not None:
        bounded = key <= 2.0 * within_ms
    return Choice(
        int(candidates[best]),
        predicted_ms=float(predicted[best]),
        certain=bounded,
        reach_ms=key / 2.0 if math.isfinite(key) else None,
    )


def pinned(fleet: FleetStatus, satellite: str, route: Route | None, *, unreachable: str) -> int:
    """The fleet position of a satellite the request names, or Refused: not a compute
    satellite (NOT_FOUND), not serving (NODE_DOWN), no ``route`` to it now (NO_CONTACT,
    with the ``unreachable`` message)."""
    i = fleet.index.get(satellite)
    if i is None:
        raise Refused(Cause.NOT_FOUND, f"no compute satellite {satellite!r} in this emulation")
    if not fleet.up[i]:
        raise Refused(Cause.NODE_DOWN, f"satellite {satellite} is not serving")
    if route is None:
        raise Refused(Cause.NO_CONTACT, unreachable)
    return i


def policy_named(name: str | None, default: Policy) -> Policy:
    """The policy a request names (``default`` when none), or Refused (INVALID)."""
    if not name:
        return default
    try:
        return Policy(name)
    except ValueError:
        known = ", ".join(p.value for p in Policy)
        raise Refused(Cause.INVALID, f"unknown policy {name!r} (known: {known})") from None


def refusal(choice: Choice, model: str, *, within: str) -> Refused:
    """Why nothing could be chosen for ``model``, as the caller is told; ``within``
    says where the search looked (``"in contact with station X"``)."""
    reason = Cause(choice.reason or Cause.NO_CONTACT.value)
    messages = {
        Cause.NOT_FOUND: f"no compute satellite carries model {model!r}",
        Cause.NODE_DOWN: f"no satellite carrying {model!r} is serving",
        Cause.NO_CONTACT: f"no satellite carrying {model!r} is {within}",
    }
    return Refused(
        reason,
        messages.get(reason, f"every reachable satellite carrying {model!r} refuses ({reason})"),
    )
