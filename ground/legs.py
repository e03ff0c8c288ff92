"""A request's legs through a ground station, as pure arithmetic on the emulated clock.

The gateway (:mod:`.gateway`) is the gRPC shell: it picks the satellite, hands the
request to the satellite's host and waits. What the emulation *means* is here, free of
gRPC and of the event loop, so it is tested with a clock whose wall time the test sets:

- :func:`plan_uplink`: the uplink's modelled cost, whether the caller's deadline can
  even cover it, and the wall instant the request reaches the satellite (the hand-over to
  the satellite's host happens at once and overlaps that wait).
- :func:`settle`: when the reply has come back from the satellite's host, the downlink on
  the route that exists *then* (none: the link was lost), and the wall instant the
  caller gets the answer: arrival + (uplink + satellite's work + downlink) / speed, less
  the gateway's own measured round-trip cost, never before the reply is in hand. A
  failure comes down the same way, after the downlink's time, as a refusal would.
"""

from __future__ import annotations

from dataclasses import dataclass

from orbitmesh.clock import SimClock
from orbitmesh.links.linkstate import Route
from orbitmesh.links.model import LinkModel, Transfer
from orbitmesh.protos.contract import Cause, Refused

__all__ = ["FAILURE_REPLY_BYTES", "Settled", "Uplink", "plan_uplink", "settle"]

#: Size a refusal or failure is modelled as on the downlink (a status and its details).
FAILURE_REPLY_BYTES = 64


@dataclass(frozen=True)
class Uplink:
    transfer: Transfer
    #: Wall time the request reaches the satellite.
    reaches_at: float


def plan_uplink(
    links: LinkModel,
    clock: SimClock,
    route: Route,
    *,
    size_bytes: int,
    arrived: float,
    deadline_left_s: float | None,
) -> Uplink:
    """The uplink of a request that arrived at wall time ``arrived``; Refused (DEADLINE)
    when the time left to the caller cannot cover the uplink alone."""
    up = links.transfer(route, size_bytes, clock.offset_s(arrived))
    up_wall_s = clock.wall_seconds(up.total_ms / 1e3)
    if deadline_left_s is not None and up_wall_s > deadline_left_s:
        raise Refused(Cause.DEADLINE, f"the uplink alone takes {up.total_ms:.1f} ms (simulated)")
    return Uplink(up, arrived + up_wall_s)


@dataclass(frozen=True)
class Settled:
    down: Transfer
    #: The route the reply came down (satellite first).
    back: Route
    #: The reply left through another first satellite than the request went up.
    handover: bool
    #: Wall time to answer the caller.
    answer_at: float


def settle(
    links: LinkModel,
    clock: SimClock,
    *,
    route: Route,
    up: Transfer,
    back: Route | None,
    sender: str,
    station: str,
    arrived: float,
    received: float,
    reply_bytes: int,
    work_s: float | None,
    rpc_credit_s: float = 0.0,
) -> Settled:
    """The downlink and the answer's instant for a reply in hand at wall ``received``.

    ``back``: the station's route to ``sender`` (the satellite the reply comes from) when
    the reply leaves, None when there is none (Refused: LINK_LOST). ``work_s``: the
    simulated seconds the satellites spent (queue, inference, laser hops between pipeline
    stages), None for a failure, which is answered a downlink after it came back.
    ``rpc_credit_s``: the gateway's own fastest round trip, already spent in the wait.
    """
    if back is None:
        raise Refused(
            Cause.LINK_LOST,
            f"satellite {sender} lost contact with station {station} before its reply",
        )
    down = links.transfer(back.reversed(), reply_bytes, clock.offset_s(received))
    if work_s is None:
        answer_at = received + clock.wall_seconds(down.total_ms / 1e3)
    else:
        modelled_s = clock.wall_seconds((up.total_ms + down.total_ms) / 1e3 + work_s)
        answer_at = max(arrived + modelled_s - rpc_credit_s, received)
    return Settled(down, back, back.hops[1] != route.hops[1], answer_at)
