"""Choosing the compute satellite a ground station sends a request to (pure).

Policies (request parameter ``orbitmesh.policy``):

- ``fastest`` (default): the lowest predicted latency: uplink and downlink propagation
  plus the wait behind the satellite's queue (its queue depth times its recent inference
  time) plus one inference.
- ``nearest``: the shortest path (propagation only).
- ``least-loaded``: the emptiest queue (relative to its capacity), then the shortest path.
- ``power-aware``: only satellites accepting work; prefer sunlit ones, then the most
  charged, then the coolest, then the shortest path. Spares batteries in eclipse.

Every policy skips satellites that cannot take the request (no route, model not
carried, refusing for power or heat, queue full) when another can; if none can, the
request goes nowhere and the caller answers with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .linkstate import Route, SatelliteInfo

__all__ = ["Choice", "Policy", "choose_satellite"]


class Policy(StrEnum):
    FASTEST = "fastest"
    NEAREST = "nearest"
    LEAST_LOADED = "least-loaded"
    POWER_AWARE = "power-aware"


@dataclass(frozen=True)
class Choice:
    satellite: str | None
    route: Route | None
    #: Why nothing was chosen: "no-contact" (nothing reachable carries the model),
    #: "not-found" (no satellite carries it at all) or a refusal cause shared by all.
    reason: str | None = None
    predicted_ms: float | None = None


def _accepting(info: SatelliteInfo, outstanding: int) -> str | None:
    if not info.accepting_power:
        return "power"
    if not info.accepting_thermal:
        return "thermal"
    if info.queue_depth + outstanding >= info.queue_capacity:
        return "queue"
    return None


def choose_satellite(
    routes: Mapping[str, Route],
    satellites: Mapping[str, SatelliteInfo],
    model: str,
    policy: Policy = Policy.FASTEST,
    *,
    outstanding: Mapping[str, int] | None = None,
    inference_ms: Mapping[str, float] | None = None,
    default_inference_ms: float = 1.0,
) -> Choice:
    """The best satellite for ``model`` given this tick's routes and the latest status.

    ``outstanding`` counts requests this gateway has sent that have not come back (the
    status lags by up to a poll); ``inference_ms`` is the recent inference time per
    satellite.
    """
    outstanding = outstanding or {}
    inference_ms = inference_ms or {}
    carriers = {sid: info for sid, info in satellites.items() if model in info.models}
    if not carriers:
        return Choice(None, None, reason="not-found")
    reachable = {sid: info for sid, info in carriers.items() if sid in routes}
    if not reachable:
        return Choice(None, None, reason="no-contact")
    refusals: dict[str, str] = {}
    candidates: list[tuple[tuple[float, ...], str, float]] = []
    for sid, info in reachable.items():
        waiting = outstanding.get(sid, 0)
        cause = _accepting(info, waiting)
        if cause is not None:
            refusals[sid] = cause
            continue
        route = routes[sid]
        path_ms = 2.0 * route.delay_ms
        per_inference = inference_ms.get(sid, default_inference_ms)
        predicted = path_ms + (info.queue_depth + waiting + 1) * per_inference
        if policy is Policy.NEAREST:
            key: tuple[float, ...] = (path_ms,)
        elif policy is Policy.LEAST_LOADED:
            key = ((info.queue_depth + waiting) / max(1, info.queue_capacity), path_ms)
        elif policy is Policy.POWER_AWARE:
            key = (0.0 if info.sunlit else 1.0, -info.state_of_charge, info.temperature_c, path_ms)
        else:
            key = (predicted,)
        candidates.append((key, sid, predicted))
    if not candidates:
        causes = set(refusals.values())
        return Choice(None, None, reason=causes.pop() if len(causes) == 1 else "queue")
    _key, best, predicted = min(candidates)
    return Choice(best, routes[best], predicted_ms=predicted)
