"""What a message pays to cross an emulated path: the pure link model of the data path.

A message of ``size_bytes`` that enters a :class:`~orbitmesh.links.linkstate.Route` at simulated
time ``start_s`` pays

* **propagation** on every link of the route (its one-way light time, ``delays_ms``);
* **serialization** of its bytes once, at the route's bottleneck rate. The model is a
  fluid, cut-through one: bytes stream through every link at once, so the slowest link
  sets the pace and a lone message takes exactly ``propagation + size * 8 / bottleneck``;
* **queueing**: every directed link is a FIFO channel that is occupied for
  ``size * 8 / rate`` (its own rate) by each message crossing it. A message reaching a
  link while earlier bytes still occupy it waits until they clear;
* **retransmission** when ``loss_rate > 0``: packets lost on the way cost a timeout and a
  resend each (see :class:`LinkParams`).

Links are *directed* pairs of node ids ``(from, to)``: the uplink and the downlink of a
ground link are separate channels, as are the two directions of a laser link, so a reply
never queues behind its own request.

Times are simulated: instants are seconds since the scenario start (``*_s``, as
everywhere on the data path), durations of a :class:`Transfer` are milliseconds
(``*_ms``, the unit of route delays). Each :class:`LinkModel` is a plain object owned by
one event loop; nothing here is shared or locked.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field, fields
from typing import Final, TypeAlias

import numpy as np

from orbitmesh.checking import ParamChecker, ParamProblem
from orbitmesh.links.linkstate import Route

__all__ = ["MAX_RETRANSMISSIONS", "LinkId", "LinkModel", "LinkParams", "LinkUsage", "Transfer"]

#: A directed link: (sending node id, receiving node id).
LinkId: TypeAlias = tuple[str, str]

#: Retransmission rounds drawn per link before a packet is assumed to get through. Every
#: loss drawn is still charged; the cap only bounds the loop (at ``loss_rate`` 0.5 a
#: packet is lost 16 times in a row with probability 1.5e-5).
MAX_RETRANSMISSIONS: Final = 16

#: The model's time resolution. Floating-point sums of delays that should meet exactly
#: (a message arriving just as earlier bytes clear) can differ by a few ulps; a wait
#: shorter than this is rounding, not queueing. One nanosecond is 1.25 bytes at
#: 10 Gbit/s and far above the ulp of a day-long run's timestamps (about 1e-11 s).
_RESOLUTION_S: Final = 1e-9

_MS_PER_S: Final = 1e3
_BITS_PER_BYTE: Final = 8
_BITS_PER_MBIT: Final = 1e6


@dataclass(frozen=True, slots=True)
class LinkParams:
    """How lossy the emulated links are, and how losses are recovered.

    Losses are drawn per packet and per link traversal: a message of ``size_bytes`` is
    ``max(1, ceil(size_bytes / mtu_bytes))`` packets, and each is lost on each link with
    probability ``loss_rate``. Each loss costs, in simulated time, one retransmission
    timeout plus the re-serialization of one packet (``min(size_bytes, mtu_bytes)``) at
    the bottleneck rate. The timeout follows the transport rule that it never fires
    before an acknowledgement could have come back:

        timeout_ms = max(retransmit_timeout_ms, 2 * one-way propagation of the path)

    A retransmitted packet can be lost again (the number of tries is geometric), up to
    :data:`MAX_RETRANSMISSIONS` rounds. Losses are charged one after the other, which is
    pessimistic for many losses in one message (a real sender overlaps their timeouts)
    but keeps the cost of a loss easy to read off a :class:`Transfer`.
    """

    #: Probability that a packet is lost on one link traversal, in [0, 1).
    loss_rate: float = 0.0
    #: Packet size for counting packets and for the cost of one resend.
    mtu_bytes: int = 1500
    #: Minimum retransmission timeout; 20 ms is the order of a datacentre-tuned TCP
    #: ``RTO_min`` (Linux defaults to 200 ms, which would dwarf orbital light times).
    retransmit_timeout_ms: float = 20.0
    #: Seed of the loss generator (None: fresh entropy each run). Same seed and same
    #: sequence of transfers give the same losses.
    seed: int | None = None

    def validate(self, path: str = "links") -> list[ParamProblem]:
        """Every problem with these parameters, each with its field path under ``path``."""
        check = ParamChecker(path)
        check.within("loss_rate", self.loss_rate, 0.0, 1.0, open_high=True)
        if check.integer("mtu_bytes", self.mtu_bytes) and self.mtu_bytes <= 0:
            check.problem("mtu_bytes", f"must be > 0, got {self.mtu_bytes}")
        check.non_negative("retransmit_timeout_ms", self.retransmit_timeout_ms)
        if (
            check.integer("seed", self.seed, optional=True)
            and self.seed is not None
            and self.seed < 0
        ):
            check.problem("seed", f"must be >= 0, got {self.seed}")
        return check.problems

    def timeout_ms(self, one_way_delay_ms: float) -> float:
        """The retransmission timeout on a path of this one-way propagation delay."""
        return max(self.retransmit_timeout_ms, 2.0 * one_way_delay_ms)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The keys a parameter table for these links may hold."""
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True, slots=True)
class Transfer:
    """The modelled cost of one message crossing one route, in simulated milliseconds."""

    hops: tuple[str, ...]
    size_bytes: int
    #: Simulated instant (seconds since the scenario start) the message entered the route.
    start_s: float
    #: One-way light time, summed over the route's links.
    propagation_ms: float
    #: ``size_bytes * 8`` at the bottleneck rate.
    serialization_ms: float
    #: Time spent waiting behind earlier bytes, summed over the route's links.
    queueing_ms: float
    #: Timeouts and resends caused by losses.
    retransmission_ms: float = 0.0
    #: Packet losses, counting lost retransmissions too; each cost one timeout and resend.
    lost_packets: int = 0

    @property
    def total_ms(self) -> float:
        return (
            self.propagation_ms + self.serialization_ms + self.queueing_ms + self.retransmission_ms
        )

    @property
    def end_s(self) -> float:
        """Simulated instant the whole message has arrived at the route's target."""
        return self.start_s + self.total_ms / _MS_PER_S


@dataclass(slots=True)
class _Channel:
    """Busy intervals of one directed link, sorted and disjoint.

    A list of intervals rather than one busy-until time because transfers reserve links
    *ahead* of their call: a message that enters a long route now occupies its last link
    tens of milliseconds from now. A message modelled later that reaches that link
    earlier, on a shorter route, fits into the idle gap before the reservation instead of
    queueing behind bytes that have not arrived yet. Reservations already handed out are
    never moved, so a newcomer that does not fit in a gap waits for the next one.
    Touching intervals are merged, so steady FIFO traffic keeps one interval per link.
    """

    starts_s: list[float] = field(default_factory=list)
    ends_s: list[float] = field(default_factory=list)

    def reserve(self, arrival_s: float, occupancy_s: float) -> float:
        """Occupy the link for ``occupancy_s`` from the first idle moment at or after
        ``arrival_s`` with room for it; return the wait."""
        starts, ends = self.starts_s, self.ends_s
        # Intervals ending by the arrival (to the model's resolution) are history.
        i = bisect.bisect_right(ends, arrival_s + _RESOLUTION_S)
        begin_s = arrival_s
        while i < len(starts) and starts[i] < begin_s + occupancy_s - _RESOLUTION_S:
            begin_s = max(begin_s, ends[i])
            i += 1
        if occupancy_s > 0.0:
            self._insert(i, begin_s, begin_s + occupancy_s)
        return begin_s - arrival_s

    def _insert(self, i: int, start_s: float, end_s: float) -> None:
        starts, ends = self.starts_s, self.ends_s
        joins_prev = i > 0 and ends[i - 1] >= start_s - _RESOLUTION_S
        joins_next = i < len(starts) and starts[i] <= end_s + _RESOLUTION_S
        if joins_prev and joins_next:
            ends[i - 1] = max(ends[i], end_s)
            del starts[i], ends[i]
        elif joins_prev:
            ends[i - 1] = max(ends[i - 1], end_s)
        elif joins_next:
            starts[i] = min(starts[i], start_s)
            ends[i] = max(ends[i], end_s)
        else:
            starts.insert(i, start_s)
            ends.insert(i, end_s)

    def forget_before(self, time_s: float) -> None:
        k = bisect.bisect_right(self.ends_s, time_s)
        del self.starts_s[:k], self.ends_s[:k]


@dataclass(frozen=True, slots=True)
class LinkUsage:
    """What the model booked on one directed link, in simulated time."""

    link: LinkId
    #: Bytes booked on the link since its usage was last forgotten.
    booked_bytes: int
    #: Occupancy (serialization at the link's rate) of those bytes.
    booked_busy_s: float
    #: Occupied time within the usage window ending at the instant asked about.
    recent_busy_s: float
    #: When the link's last booked bytes clear.
    last_busy_end_s: float


@dataclass(slots=True)
class _Usage:
    booked_bytes: int = 0
    booked_busy_s: float = 0.0
    last_busy_end_s: float = -math.inf
    #: Busy intervals of the recent past: sorted, disjoint, touching ones merged.
    starts_s: list[float] = field(default_factory=list)
    ends_s: list[float] = field(default_factory=list)

    def book(self, size_bytes: int, begin_s: float, end_s: float) -> None:
        self.booked_bytes += size_bytes
        self.booked_busy_s += end_s - begin_s
        self.last_busy_end_s = max(self.last_busy_end_s, end_s)
        if end_s <= begin_s:
            return
        starts, ends = self.starts_s, self.ends_s
        # Union with whatever it touches: the channel has forgotten older bookings than
        # this history keeps, so overlap cannot be ruled out here.
        i = bisect.bisect_left(ends, begin_s - _RESOLUTION_S)
        j = bisect.bisect_right(starts, end_s + _RESOLUTION_S)
        if i < j:
            begin_s, end_s = min(begin_s, starts[i]), max(end_s, ends[j - 1])
            del starts[i:j], ends[i:j]
        starts.insert(i, begin_s)
        ends.insert(i, end_s)

    def busy_between(self, from_s: float, to_s: float) -> float:
        total = 0.0
        for k in range(bisect.bisect_right(self.ends_s, from_s), len(self.starts_s)):
            start = self.starts_s[k]
            if start >= to_s:
                break
            total += min(self.ends_s[k], to_s) - max(start, from_s)
        return total

    def forget_before(self, time_s: float) -> None:
        k = bisect.bisect_right(self.ends_s, time_s)
        del self.starts_s[:k], self.ends_s[:k]


class LinkModel:
    """FIFO state of every directed link the traffic of one owner has crossed.

    The owner (a gateway's event loop) calls :meth:`transfer` for each leg as it
    starts, with the route that holds at that instant: the request on the current path,
    the reply later on whatever path exists when it leaves. Call :meth:`forget_before`
    with the current simulated time now and then so that memory stays bounded.

    With ``usage_window_s`` the model also keeps, per directed link, the bytes and the
    occupancy it booked and the busy intervals of the last ``usage_window_s`` (see
    :meth:`usage`); :meth:`forget_idle_usage` drops links that have been idle for long.
    """

    def __init__(
        self, params: LinkParams | None = None, *, usage_window_s: float | None = None
    ) -> None:
        self.params = LinkParams() if params is None else params
        problems = self.params.validate()
        if problems:
            raise ValueError("; ".join(map(str, problems)))
        if usage_window_s is not None and not (
            math.isfinite(usage_window_s) and usage_window_s > 0
        ):
            raise ValueError(f"usage_window_s must be > 0, got {usage_window_s}")
        self.usage_window_s = usage_window_s
        self._rng = np.random.default_rng(self.params.seed)
        self._channels: dict[LinkId, _Channel] = {}
        self._usage: dict[LinkId, _Usage] = {}

    def transfer(self, route: Route, size_bytes: int, start_s: float) -> Transfer:
        """Model ``size_bytes`` entering ``route``'s first link at simulated ``start_s``
        and book its occupancy of every link, so that later messages queue behind it."""
        if isinstance(size_bytes, bool) or not isinstance(size_bytes, int) or size_bytes < 0:
            raise ValueError(f"size_bytes must be an integer >= 0, got {size_bytes!r}")
        if not math.isfinite(start_s):
            raise ValueError(f"start_s must be finite, got {start_s}")
        if not all(rate > 0.0 for rate in route.rates_mbps):
            raise ValueError(f"every link rate must be > 0, got {route.rates_mbps}")
        bits = size_bytes * _BITS_PER_BYTE
        arrival_s = start_s
        wait_total_s = 0.0
        for link, delay_ms, rate_mbps in zip(
            route.links, route.delays_ms, route.rates_mbps, strict=True
        ):
            channel = self._channels.get(link)
            if channel is None:
                channel = self._channels[link] = _Channel()
            occupancy_s = bits / (rate_mbps * _BITS_PER_MBIT)
            wait_s = channel.reserve(arrival_s, occupancy_s)
            if self.usage_window_s is not None:
                usage = self._usage.get(link)
                if usage is None:
                    usage = self._usage[link] = _Usage()
                begin_s = arrival_s + wait_s
                usage.book(size_bytes, begin_s, begin_s + occupancy_s)
            wait_total_s += wait_s
            arrival_s += wait_s + delay_ms / _MS_PER_S
        lost = self._losses(size_bytes, route.loss_rates or (0.0,) * len(route.links))
        per_loss_ms = self.params.timeout_ms(route.delay_ms) + _serialization_ms(
            min(size_bytes, self.params.mtu_bytes), route.bottleneck_mbps
        )
        return Transfer(
            hops=route.hops,
            size_bytes=size_bytes,
            start_s=start_s,
            propagation_ms=route.delay_ms,
            serialization_ms=_serialization_ms(size_bytes, route.bottleneck_mbps),
            queueing_ms=wait_total_s * _MS_PER_S,
            retransmission_ms=lost * per_loss_ms,
            lost_packets=lost,
        )

    def _losses(self, size_bytes: int, extra_loss: tuple[float, ...]) -> int:
        """Packet losses over the route's links (``extra_loss``: each link's loss beyond
        the run's own, e.g. weather), lost resends included."""
        base = self.params.loss_rate
        if base == 0.0 and not any(extra_loss):
            return 0  # no draw: a lossless model leaves the generator untouched
        n_packets = max(1, -(-size_bytes // self.params.mtu_bytes))
        lost = 0
        for extra in extra_loss:
            # Independent losses: a packet survives the link if it survives both.
            p = 1.0 - (1.0 - base) * (1.0 - extra)
            if p == 0.0:
                continue
            pending = int(self._rng.binomial(n_packets, p))
            lost += pending
            for _ in range(MAX_RETRANSMISSIONS):
                if pending == 0:
                    break
                pending = int(self._rng.binomial(pending, p))
                lost += pending
        return lost

    def busy_until_s(self, link: LinkId) -> float | None:
        """When ``link`` finishes the bytes booked on it (None: no state kept for it)."""
        channel = self._channels.get(link)
        return channel.ends_s[-1] if channel is not None else None

    def forget_before(self, time_s: float) -> int:
        """Drop link occupancy that ended at or before ``time_s``; return how many links
        were forgotten entirely. Exact for every later transfer that reaches its links at
        or after ``time_s``."""
        idle: list[LinkId] = []
        for link, channel in self._channels.items():
            channel.forget_before(time_s)
            if not channel.ends_s:
                idle.append(link)
        for link in idle:
            del self._channels[link]
        if self.usage_window_s is not None:
            for usage in self._usage.values():
                usage.forget_before(time_s - self.usage_window_s)
        return len(idle)

    def usage(self, now_s: float) -> list[LinkUsage]:
        """Every link with usage kept, its totals and its busy time within the usage
        window ending at ``now_s`` (bookings after ``now_s`` are not counted there).
        Empty unless the model was made with ``usage_window_s``."""
        window_s = self.usage_window_s or 0.0
        return [
            LinkUsage(
                link=link,
                booked_bytes=usage.booked_bytes,
                booked_busy_s=usage.booked_busy_s,
                recent_busy_s=usage.busy_between(now_s - window_s, now_s),
                last_busy_end_s=usage.last_busy_end_s,
            )
            for link, usage in self._usage.items()
        ]

    def forget_idle_usage(self, before_s: float) -> int:
        """Drop the usage of links whose last bytes cleared at or before ``before_s``
        (their totals start from zero if they carry traffic again); return how many."""
        idle = [link for link, u in self._usage.items() if u.last_busy_end_s <= before_s]
        for link in idle:
            del self._usage[link]
        return len(idle)

    def __len__(self) -> int:
        """The number of directed links with state kept."""
        return len(self._channels)


def _serialization_ms(size_bytes: int, rate_mbps: float) -> float:
    # bits / (rate * 1e6 bit/s) seconds = bits / (rate * 1e3) milliseconds; one division,
    # so round figures (125,000 bytes at 1000 Mbit/s) come out exact (1.0 ms).
    return size_bytes * _BITS_PER_BYTE / (rate_mbps * _BITS_PER_MBIT / _MS_PER_S)
