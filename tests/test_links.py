"""The data-path link model against hand calculations (links/model.py).

Round figures throughout: 125,000 bytes are 1,000,000 bits, which take exactly 1 ms at
1000 Mbit/s and 0.1 ms at 10,000 Mbit/s. Every expected value is worked out in the
comments from the route's delays and rates, never taken from the code under test.
Instants are simulated seconds, durations simulated milliseconds.
"""

from __future__ import annotations

import pytest

from orbitmesh.links.linkstate import Route
from orbitmesh.links.model import MAX_RETRANSMISSIONS, LinkModel, LinkParams, Transfer

#: ground station -> s1 (uplink) -> s2 (laser) -> s3 (laser).
ROUTE = Route(("gs", "s1", "s2", "s3"), (2.5, 10.0, 3.0), (1000.0, 10_000.0, 1000.0))
PROPAGATION_MS = 15.5  # 2.5 + 10 + 3
SIZE_BYTES = 125_000  # 1e6 bits: 1 ms at 1000 Mbit/s, 0.1 ms at 10,000 Mbit/s
MS = 1e-3  # seconds per millisecond, for writing instants in ms


def ms(value_s: float | None) -> float:
    """An instant in seconds as milliseconds (for readable assertions)."""
    assert value_s is not None
    return value_s * 1e3


# --------------------------------------------------------------------------- FIFO


def test_lone_message_pays_propagation_and_bottleneck_serialization() -> None:
    model = LinkModel()
    t = model.transfer(ROUTE, SIZE_BYTES, start_s=0.0)
    assert t.propagation_ms == PROPAGATION_MS
    assert t.serialization_ms == 1.0  # 1e6 bits at the 1000 Mbit/s bottleneck
    assert t.queueing_ms == 0.0
    assert t.retransmission_ms == 0.0
    assert t.lost_packets == 0
    assert t.total_ms == 16.5  # 15.5 + 1, exactly
    assert t.hops == ROUTE.hops
    assert t.size_bytes == SIZE_BYTES
    # Each link is occupied for the message's bits at its own rate from the moment the
    # first bit arrives (cut-through): gs->s1 [0, 1] ms; s1->s2 from 2.5 ms for 0.1 ms;
    # s2->s3 from 2.5 + 10 = 12.5 ms for 1 ms.
    assert ms(model.busy_until_s(("gs", "s1"))) == pytest.approx(1.0)
    assert ms(model.busy_until_s(("s1", "s2"))) == pytest.approx(2.6)
    assert ms(model.busy_until_s(("s2", "s3"))) == pytest.approx(13.5)


def test_end_instant_is_start_plus_total() -> None:
    t = LinkModel().transfer(ROUTE, SIZE_BYTES, start_s=2.0)
    assert t.end_s == pytest.approx(2.0 + 16.5 * MS)


def test_second_message_at_same_instant_waits_for_first_link_only() -> None:
    model = LinkModel()
    first = model.transfer(ROUTE, SIZE_BYTES, start_s=0.0)
    second = model.transfer(ROUTE, SIZE_BYTES, start_s=0.0)
    assert first.queueing_ms == 0.0
    # gs->s1: busy until 1 ms, the second arrives at 0: waits 1 ms, occupies [1, 2] ms.
    # s1->s2: it arrives at 1 + 2.5 = 3.5 ms; the first left it at 2.5 + 0.1 = 2.6 ms:
    #         no wait, occupies [3.5, 3.6] ms.
    # s2->s3: it arrives at 3.5 + 10 = 13.5 ms, just as the first clears it
    #         (12.5 + 1 = 13.5 ms): no wait, occupies [13.5, 14.5] ms.
    assert second.queueing_ms == pytest.approx(1.0, abs=1e-9)
    assert second.total_ms == pytest.approx(17.5, abs=1e-9)  # 15.5 + 1 + 1
    assert ms(model.busy_until_s(("gs", "s1"))) == pytest.approx(2.0)
    assert ms(model.busy_until_s(("s1", "s2"))) == pytest.approx(3.6)
    assert ms(model.busy_until_s(("s2", "s3"))) == pytest.approx(14.5)


def test_burst_queues_one_serialization_per_message_ahead() -> None:
    model = LinkModel()
    waits = [model.transfer(ROUTE, SIZE_BYTES, start_s=0.0).queueing_ms for _ in range(5)]
    # The k-th message (0-based) waits behind k messages of 1 ms each on gs->s1 and is
    # then spaced 1 ms behind its predecessor, which is as fast as the links drain.
    assert waits == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0], abs=1e-9)


def test_queueing_behind_a_downstream_bottleneck() -> None:
    # Fast first link (10,000 Mbit/s), slow second (1000 Mbit/s), 5 ms each.
    route = Route(("gs", "a", "b"), (5.0, 5.0), (10_000.0, 1000.0))
    model = LinkModel()
    model.transfer(route, SIZE_BYTES, start_s=0.0)
    second = model.transfer(route, SIZE_BYTES, start_s=0.0)
    # gs->a: the first holds it for 0.1 ms, so the second waits 0.1 ms.
    # a->b:  the first occupies [5, 6] ms; the second arrives at 0.1 + 5 = 5.1 ms and
    #        waits 0.9 ms. Together one bottleneck serialization (1 ms), as on ROUTE.
    assert second.queueing_ms == pytest.approx(1.0, abs=1e-9)
    assert second.total_ms == pytest.approx(10.0 + 1.0 + 1.0, abs=1e-9)


def test_route_sharing_one_link_waits_only_there() -> None:
    model = LinkModel()
    model.transfer(ROUTE, SIZE_BYTES, start_s=0.0)  # s2->s3 occupied [12.5, 13.5] ms
    other = Route(("gs2", "s4", "s2", "s3"), (2.5, 10.0, 3.0), (1000.0, 10_000.0, 1000.0))
    t = model.transfer(other, SIZE_BYTES, start_s=0.3 * MS)
    # gs2->s4 and s4->s2 are its own: no wait. It reaches s2->s3 at 0.3 + 2.5 + 10 =
    # 12.8 ms, 0.7 ms before the first message's bytes clear at 13.5 ms.
    assert t.queueing_ms == pytest.approx(0.7, abs=1e-9)
    assert t.total_ms == pytest.approx(15.5 + 1.0 + 0.7, abs=1e-9)
    assert ms(model.busy_until_s(("gs2", "s4"))) == pytest.approx(1.3)  # 0.3 + 1
    assert ms(model.busy_until_s(("s4", "s2"))) == pytest.approx(2.9)  # 0.3 + 2.5 + 0.1
    assert ms(model.busy_until_s(("s2", "s3"))) == pytest.approx(14.5)  # 13.5 + 1
    # The links only ROUTE uses are untouched.
    assert ms(model.busy_until_s(("gs", "s1"))) == pytest.approx(1.0)


def test_opposite_directions_do_not_interfere() -> None:
    link = Route(("a", "b"), (5.0,), (100.0,))  # 1e6 bits at 100 Mbit/s: 10 ms
    model = LinkModel()
    forth = model.transfer(link, SIZE_BYTES, start_s=0.0)
    back = model.transfer(link.reversed(), SIZE_BYTES, start_s=0.0)
    assert forth.queueing_ms == 0.0
    assert back.queueing_ms == 0.0
    assert back.total_ms == 15.0  # 5 + 10
    # The same direction again does wait: the whole 10 ms of the first.
    again = model.transfer(link, SIZE_BYTES, start_s=0.0)
    assert again.queueing_ms == pytest.approx(10.0, abs=1e-9)


def test_message_after_the_link_drained_waits_nothing() -> None:
    model = LinkModel()
    model.transfer(ROUTE, SIZE_BYTES, start_s=0.0)
    # Right as gs->s1 frees (1 ms), the next one meets every link exactly as it clears
    # (s1->s2 at 1 + 2.5 = 3.5 > 2.6 ms; s2->s3 at 1 + 12.5 = 13.5 = 13.5 ms): no wait.
    at_edge = model.transfer(ROUTE, SIZE_BYTES, start_s=1.0 * MS)
    assert at_edge.queueing_ms == 0.0
    later = model.transfer(ROUTE, SIZE_BYTES, start_s=0.1)
    assert later.queueing_ms == 0.0
    assert later.total_ms == 16.5


def test_reply_on_reversed_route_ignores_request_uplink() -> None:
    model = LinkModel()
    for _ in range(10):  # ten requests at once keep the uplink gs->s1 busy for 10 ms
        model.transfer(ROUTE, SIZE_BYTES, start_s=0.0)
    assert ms(model.busy_until_s(("gs", "s1"))) == pytest.approx(10.0)
    # The reply leaves s3 while the uplink is still busy; its links are s3->s2, s2->s1
    # and the downlink s1->gs, none of which the requests used.
    reply = model.transfer(ROUTE.reversed(), SIZE_BYTES, start_s=5.0 * MS)
    assert reply.hops == ("s3", "s2", "s1", "gs")
    assert reply.queueing_ms == 0.0
    assert reply.total_ms == 16.5  # 3 + 10 + 2.5 + 1
    # After a handover the reply takes whatever path holds when it leaves.
    handed_over = Route(("s3", "s5", "gs"), (4.0, 3.0), (10_000.0, 1000.0))
    reply2 = model.transfer(handed_over, SIZE_BYTES, start_s=5.0 * MS)
    assert reply2.queueing_ms == 0.0
    assert reply2.total_ms == 8.0  # 4 + 3 + 1


def test_later_call_fills_idle_gap_before_a_reservation() -> None:
    # Links are booked when a transfer is modelled, ahead of time: the first message
    # holds s2->s3 over [12.5, 13.5] ms. Messages modelled afterwards on short routes
    # that reach s2->s3 earlier must not queue behind bytes that have not arrived.
    model = LinkModel()
    model.transfer(ROUTE, SIZE_BYTES, start_s=0.0)

    def short(station: str) -> Route:
        return Route((station, "s2", "s3"), (2.5, 3.0), (1000.0, 1000.0))  # 5.5 ms

    # Starts at 5 ms, reaches s2->s3 at 7.5 ms, holds it [7.5, 8.5] ms: no wait.
    b = model.transfer(short("g2"), SIZE_BYTES, start_s=5.0 * MS)
    assert b.queueing_ms == 0.0
    assert b.total_ms == 6.5  # 5.5 + 1
    # Starts at 6 ms, reaches s2->s3 at 8.5 ms as b clears it; [8.5, 9.5] fits before
    # 12.5 ms: no wait.
    d = model.transfer(short("g4"), SIZE_BYTES, start_s=6.0 * MS)
    assert d.queueing_ms == 0.0
    # Starts at 9.5 ms, reaches s2->s3 at 12 ms; [12, 13] overlaps the first message's
    # booking from 12.5 ms, which is never moved, so it waits until 13.5 ms: 1.5 ms.
    c = model.transfer(short("g3"), SIZE_BYTES, start_s=9.5 * MS)
    assert c.queueing_ms == pytest.approx(1.5, abs=1e-9)
    assert c.total_ms == pytest.approx(5.5 + 1.0 + 1.5, abs=1e-9)
    assert ms(model.busy_until_s(("s2", "s3"))) == pytest.approx(14.5)  # 13.5 + 1


def test_zero_byte_message_pays_propagation_only() -> None:
    model = LinkModel()
    t = model.transfer(ROUTE, 0, start_s=0.0)
    assert t.serialization_ms == 0.0
    assert t.total_ms == PROPAGATION_MS
    assert model.transfer(ROUTE, SIZE_BYTES, start_s=0.0).queueing_ms == 0.0


def test_bad_transfer_arguments_are_refused() -> None:
    model = LinkModel()
    with pytest.raises(ValueError, match="size_bytes"):
        model.transfer(ROUTE, -1, start_s=0.0)
    with pytest.raises(ValueError, match="start_s"):
        model.transfer(ROUTE, 1, start_s=float("nan"))
    with pytest.raises(ValueError, match="rate"):
        model.transfer(Route(("a", "b"), (1.0,), (0.0,)), 1, start_s=0.0)


# --------------------------------------------------------------------------- forgetting


def test_forget_before_keeps_busy_links_and_drops_idle_ones() -> None:
    model = LinkModel()
    model.transfer(ROUTE, SIZE_BYTES, start_s=0.0)  # busy until 1, 2.6 and 13.5 ms
    assert len(model) == 3
    assert model.forget_before(5.0 * MS) == 2
    assert len(model) == 1
    assert model.busy_until_s(("gs", "s1")) is None
    assert model.busy_until_s(("s1", "s2")) is None
    assert ms(model.busy_until_s(("s2", "s3"))) == pytest.approx(13.5)
    assert model.forget_before(1.0) == 1
    assert len(model) == 0


def test_forgetting_changes_no_later_transfer() -> None:
    kept, pruned = LinkModel(), LinkModel()
    for model in (kept, pruned):
        model.transfer(ROUTE, SIZE_BYTES, start_s=0.0)
    pruned.forget_before(5.0 * MS)
    # From 5 ms, reaching s2->s3 at 12.6 ms: waits 0.9 ms for the kept booking.
    late = Route(("x", "s2", "s3"), (7.6, 3.0), (1000.0, 1000.0))
    a = kept.transfer(late, SIZE_BYTES, start_s=5.0 * MS)
    b = pruned.transfer(late, SIZE_BYTES, start_s=5.0 * MS)
    assert a == b
    assert b.queueing_ms == pytest.approx(0.9, abs=1e-9)


# --------------------------------------------------------------------------- loss


def test_no_loss_no_retransmission() -> None:
    model = LinkModel(LinkParams(loss_rate=0.0, seed=1))
    for i in range(100):
        t = model.transfer(ROUTE, 10 * SIZE_BYTES, start_s=float(i))
        assert t.lost_packets == 0
        assert t.retransmission_ms == 0.0


def test_mean_losses_match_binomial_expectation() -> None:
    p = 0.01
    model = LinkModel(LinkParams(loss_rate=p, seed=2024))
    size_bytes = 150_000  # 100 packets of 1500 bytes
    runs = 2000
    # Each loss on ROUTE costs max(20, 2 * 15.5) = 31 ms of timeout plus one 1500-byte
    # packet at 1000 Mbit/s: 12,000 bits / 1e6 bits per ms = 0.012 ms.
    per_loss_ms = 31.0 + 0.012
    lost = []
    for i in range(runs):
        t = model.transfer(ROUTE, size_bytes, start_s=float(i))
        assert t.retransmission_ms == pytest.approx(t.lost_packets * per_loss_ms)
        assert t.total_ms == pytest.approx(15.5 + 1.2 + t.retransmission_ms)  # 1.2e6 bits
        lost.append(t.lost_packets)
    # 100 packets x 3 links x 0.01 = 3 first losses per transfer; each lost packet is
    # resent and may be lost again (geometric), so losses total 3 / (1 - 0.01) = 3.03.
    # Their variance is about 3.06, so the mean of 2000 has a standard error of 0.04.
    expected = 100 * 3 * p / (1 - p)
    assert sum(lost) / runs == pytest.approx(expected, abs=0.15)


def test_timeout_is_the_minimum_on_a_short_path() -> None:
    # One 4 ms link: 2 x 4 = 8 ms < 20 ms, so each loss costs the 20 ms minimum plus one
    # 1500-byte packet at 1000 Mbit/s (0.012 ms).
    short = Route(("gs", "s1"), (4.0,), (1000.0,))
    params = LinkParams(loss_rate=0.5, seed=3)
    assert params.timeout_ms(short.delay_ms) == 20.0
    assert params.timeout_ms(ROUTE.delay_ms) == 31.0
    model = LinkModel(params)
    results = [model.transfer(short, 3000, start_s=float(i)) for i in range(50)]
    assert any(t.lost_packets for t in results)
    for t in results:
        assert t.retransmission_ms == pytest.approx(t.lost_packets * 20.012)


def test_small_message_resends_only_its_own_bytes() -> None:
    # A 100-byte message is one packet of 100 bytes: a resend is 800 bits at
    # 1000 Mbit/s = 0.0008 ms, on top of the 31 ms timeout.
    model = LinkModel(LinkParams(loss_rate=0.5, seed=4))
    results = [model.transfer(ROUTE, 100, start_s=float(i)) for i in range(50)]
    assert any(t.lost_packets for t in results)
    for t in results:
        assert t.retransmission_ms == pytest.approx(t.lost_packets * 31.0008)


def test_retransmissions_are_capped() -> None:
    # Nearly every try is lost: one packet on one link is lost at most once plus once
    # per capped retransmission round, and the loop ends.
    model = LinkModel(LinkParams(loss_rate=0.999, seed=5))
    link = Route(("a", "b"), (1.0,), (1000.0,))
    lost = [model.transfer(link, 100, start_s=float(i)).lost_packets for i in range(20)]
    assert max(lost) == 1 + MAX_RETRANSMISSIONS


def test_same_seed_same_results() -> None:
    def run(seed: int) -> list[Transfer]:
        model = LinkModel(LinkParams(loss_rate=0.05, seed=seed))
        return [model.transfer(ROUTE, 30_000, start_s=i * 0.5 * MS) for i in range(100)]

    assert run(11) == run(11)
    assert [t.lost_packets for t in run(11)] != [t.lost_packets for t in run(12)]


# --------------------------------------------------------------------------- validation


def test_default_params_are_valid() -> None:
    assert LinkParams().validate() == []
    assert (
        LinkParams(loss_rate=0.2, mtu_bytes=9000, retransmit_timeout_ms=0, seed=0).validate() == []
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (LinkParams(loss_rate=1.5), "links.loss_rate: must be within [0, 1), got 1.5"),
        (LinkParams(loss_rate=1.0), "links.loss_rate: must be within [0, 1), got 1"),
        (LinkParams(loss_rate=-0.1), "links.loss_rate: must be within [0, 1), got -0.1"),
        (LinkParams(loss_rate=float("nan")), "links.loss_rate: must be finite, got nan"),
        (
            LinkParams(loss_rate="0.1"),  # type: ignore[arg-type]
            "links.loss_rate: must be a number, got the string '0.1'",
        ),
        (LinkParams(mtu_bytes=0), "links.mtu_bytes: must be > 0, got 0"),
        (
            LinkParams(mtu_bytes=1500.0),  # type: ignore[arg-type]
            "links.mtu_bytes: must be an integer, got float 1500.0",
        ),
        (
            LinkParams(retransmit_timeout_ms=-1.0),
            "links.retransmit_timeout_ms: must be >= 0, got -1",
        ),
        (LinkParams(seed=-3), "links.seed: must be >= 0, got -3"),
        (
            LinkParams(seed=1.5),  # type: ignore[arg-type]
            "links.seed: must be an integer or absent, got float 1.5",
        ),
    ],
)
def test_bad_params_are_reported(params: LinkParams, message: str) -> None:
    assert [str(p) for p in params.validate()] == [message]


def test_validation_collects_every_problem_under_the_given_path() -> None:
    params = LinkParams(loss_rate=2.0, mtu_bytes=-1)
    assert [str(p) for p in params.validate("scenario.links")] == [
        "scenario.links.loss_rate: must be within [0, 1), got 2",
        "scenario.links.mtu_bytes: must be > 0, got -1",
    ]
    assert [str(p) for p in params.validate("")] == [
        "loss_rate: must be within [0, 1), got 2",
        "mtu_bytes: must be > 0, got -1",
    ]


def test_model_refuses_bad_params() -> None:
    with pytest.raises(ValueError, match=r"links\.loss_rate: must be within \[0, 1\)"):
        LinkModel(LinkParams(loss_rate=1.5))
