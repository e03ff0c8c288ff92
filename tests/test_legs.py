"""The gateway's core (ground/legs.py) against a clock the test sets, figures by hand.

A 5 ms ground link at 100 Mbit/s, then a 3 ms laser link at 1,000 Mbit/s: a message of
12,500 bytes (100,000 bits) takes 5 + 3 ms of light time and 1 ms to serialise at the
bottleneck, 9 ms in all (simulated), on an idle, lossless path. At speed 2 that is
4.5 ms of wall time.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orbitmesh.clock import SimClock
from orbitmesh.ground.legs import FAILURE_REPLY_BYTES, Settled, plan_uplink, settle
from orbitmesh.links.linkstate import Route
from orbitmesh.links.model import LinkModel
from orbitmesh.protos.contract import Cause, Refused

# Wall times here are about 1e6 s: compared to the nanosecond, not relatively.

WALL0 = 1_000_000.0
CLOCK = SimClock(start=datetime(2026, 3, 20, 12, tzinfo=UTC), speed=2.0, wall0=WALL0)
UP = Route(("station", "sat-a", "sat-b"), (5.0, 3.0), (100.0, 1000.0))
SIZE = 12_500  # 100,000 bits: 1 ms at the 100 Mbit/s bottleneck
UP_MS = 5.0 + 3.0 + 1.0
DOWN = UP.reversed()  # the satellite's route down: sat-b first


def test_the_uplink_reaches_the_satellite_after_its_modelled_time_in_wall_time() -> None:
    arrived = WALL0 + 10.0
    uplink = plan_uplink(
        LinkModel(), CLOCK, UP, size_bytes=SIZE, arrived=arrived, deadline_left_s=None
    )
    assert uplink.transfer.total_ms == pytest.approx(UP_MS, abs=1e-9)
    assert uplink.transfer.start_s == pytest.approx(20.0, abs=1e-9)  # 10 wall seconds at speed 2
    assert uplink.reaches_at == pytest.approx(arrived + UP_MS / 1e3 / 2.0, abs=1e-9)


def test_a_deadline_shorter_than_the_uplink_is_refused_before_sending() -> None:
    wall_s = UP_MS / 1e3 / 2.0
    with pytest.raises(Refused) as refused:
        plan_uplink(
            LinkModel(), CLOCK, UP, size_bytes=SIZE, arrived=WALL0, deadline_left_s=wall_s * 0.9
        )
    assert refused.value.cause is Cause.DEADLINE
    plan_uplink(LinkModel(), CLOCK, UP, size_bytes=SIZE, arrived=WALL0, deadline_left_s=wall_s)


def test_a_second_message_queues_behind_the_first() -> None:
    links = LinkModel()
    first = plan_uplink(links, CLOCK, UP, size_bytes=SIZE, arrived=WALL0, deadline_left_s=None)
    second = plan_uplink(links, CLOCK, UP, size_bytes=SIZE, arrived=WALL0, deadline_left_s=None)
    # Same instant, same first link: the second waits the first's 1 ms of serialisation.
    assert second.transfer.queueing_ms == pytest.approx(1.0, abs=1e-9)
    assert second.reaches_at - first.reaches_at == pytest.approx(1.0 / 1e3 / 2.0, abs=1e-9)


def _settle(
    links: LinkModel,
    *,
    back: Route | None = DOWN,
    received: float = WALL0 + 0.001,
    reply_bytes: int = SIZE,
    work_s: float | None = 0.010,
    rpc_credit_s: float = 0.0,
) -> Settled:
    uplink = plan_uplink(links, CLOCK, UP, size_bytes=SIZE, arrived=WALL0, deadline_left_s=None)
    return settle(
        links,
        CLOCK,
        route=UP,
        up=uplink.transfer,
        back=back,
        sender="sat-b",
        station="station",
        arrived=WALL0,
        received=received,
        reply_bytes=reply_bytes,
        work_s=work_s,
        rpc_credit_s=rpc_credit_s,
    )


def test_the_answer_waits_for_the_whole_modelled_latency() -> None:
    settled = _settle(LinkModel())
    # Up 9 ms, 10 ms on the satellite, down 9 ms: 28 ms simulated, 14 ms of wall time.
    assert settled.down.total_ms == pytest.approx(UP_MS, abs=1e-9)
    assert settled.answer_at == pytest.approx(WALL0 + 0.014, abs=1e-9)
    assert not settled.handover
    # The gateway's own round trip is already spent: it comes off the wait.
    credited = _settle(LinkModel(), rpc_credit_s=0.002)
    assert credited.answer_at == pytest.approx(WALL0 + 0.012, abs=1e-9)


def test_a_reply_later_than_modelled_is_answered_at_once() -> None:
    late = WALL0 + 0.050
    assert _settle(LinkModel(), received=late).answer_at == late


def test_a_failure_comes_down_a_downlink_after_it_came_back() -> None:
    received = WALL0 + 0.001
    settled = _settle(LinkModel(), work_s=None, reply_bytes=FAILURE_REPLY_BYTES, received=received)
    down_ms = 5.0 + 3.0 + FAILURE_REPLY_BYTES * 8 / 100e6 * 1e3
    assert settled.answer_at == pytest.approx(received + down_ms / 1e3 / 2.0, abs=1e-9)


def test_no_route_down_is_a_lost_link_and_another_first_hop_a_handover() -> None:
    with pytest.raises(Refused) as refused:
        _settle(LinkModel(), back=None)
    assert refused.value.cause is Cause.LINK_LOST
    assert "station station" in str(refused.value)
    other = Route(("station", "sat-c", "sat-b"), (6.0, 3.0), (100.0, 1000.0)).reversed()
    assert _settle(LinkModel(), back=other).handover
