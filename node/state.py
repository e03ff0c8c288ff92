"""The state of one compute satellite: energy, heat, queue and counters (pure domain).

:class:`NodeState` owns the satellite's battery and thermal node and advances them in
simulated time whenever something changes: a request is admitted, starts or finishes,
or telemetry is read. Between two such events the load is constant (the accelerator is
busy or not, the radio sends or not), and sunlight transitions from the satellite's
ephemeris cut the interval further, so the energy and heat integrals are exact.

Nothing here knows about gRPC, Ray or asyncio; the servicer drives it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from orbitmesh.histogram import Histogram, HistogramSnapshot
from orbitmesh.node.energy_ledger import EnergyLedger
from orbitmesh.node.ephemeris import Ephemeris
from orbitmesh.node.power import Battery, PowerParams, PowerState, Segment
from orbitmesh.node.thermal import ThermalNode, ThermalParams, ThermalState
from orbitmesh.node.upsets import LatchUp, SatelliteRadiation, UpsetCounts
from orbitmesh.protos.contract import Cause

__all__ = ["NodeSnapshot", "NodeState", "Vitals", "VitalsTable"]


@dataclass(frozen=True)
class NodeSnapshot:
    """Telemetry of one satellite at one simulated instant."""

    satellite_id: str
    offset_s: float
    itrs_km: tuple[float, float, float]
    lat_deg: float
    lon_deg: float
    alt_km: float
    sunlit: bool
    battery_wh: float
    battery_capacity_wh: float
    state_of_charge: float
    temperature_c: float
    power_state: PowerState
    thermal_state: ThermalState
    queue_depth: int
    queue_capacity: int
    running: int
    concurrency_limit: int
    served: int
    refused: dict[str, int]
    ledger: EnergyLedger
    #: Simulated seconds each served request spent queued and running.
    latency: HistogramSnapshot = field(default_factory=HistogramSnapshot.empty)
    #: Upsets, latch-ups and dose so far; None when the run has no radiation.
    radiation: UpsetCounts | None = None
    #: Inferences whose reply left after the emulated accelerator's modelled finish,
    #: and by how much (simulated seconds).
    late: int = 0
    late_by: HistogramSnapshot = field(default_factory=HistogramSnapshot.empty)


@dataclass(frozen=True)
class Vitals:
    """What the orchestrator polls of a satellite: a snapshot without its position,
    cheap enough to take for thousands of satellites a second."""

    offset_s: float
    sunlit: bool
    battery_wh: float
    state_of_charge: float
    temperature_c: float
    power_state: PowerState
    thermal_state: ThermalState
    queue_depth: int
    queue_capacity: int
    running: int
    served: int
    refused: dict[str, int]
    radiation: UpsetCounts | None = None
    #: Inferences later than the emulated accelerator's modelled finish.
    late: int = 0


_POWER_ORDER = tuple(PowerState)
_THERMAL_ORDER = tuple(ThermalState)


@dataclass(frozen=True, eq=False)
class VitalsTable:
    """The vitals of many satellites as parallel arrays (one row per satellite): what a
    host sends the orchestrator each poll, a few arrays instead of thousands of objects."""

    offset_s: NDArray[np.float64]
    sunlit: NDArray[np.bool_]
    battery_wh: NDArray[np.float64]
    state_of_charge: NDArray[np.float64]
    temperature_c: NDArray[np.float64]
    #: Index into PowerState / ThermalState (declaration order).
    power_state: NDArray[np.int8]
    thermal_state: NDArray[np.int8]
    queue_depth: NDArray[np.int64]
    queue_capacity: NDArray[np.int64]
    running: NDArray[np.int64]
    served: NDArray[np.int64]
    #: Inferences later than the emulated accelerator's modelled finish.
    late: NDArray[np.int64]
    #: Refusals by cause, one count per satellite.
    refused: dict[str, NDArray[np.int64]]
    #: Radiation so far (0 where a satellite has none): upsets of weights and outputs,
    #: latch-ups, dose in rad(Si).
    weight_upsets: NDArray[np.int64]
    output_upsets: NDArray[np.int64]
    latchups: NDArray[np.int64]
    dose_rad: NDArray[np.float64]

    @classmethod
    def of(cls, rows: Sequence[Vitals]) -> VitalsTable:
        causes = sorted({c for v in rows for c in v.refused})
        return cls(
            offset_s=np.array([v.offset_s for v in rows], dtype=np.float64),
            sunlit=np.array([v.sunlit for v in rows], dtype=bool),
            battery_wh=np.array([v.battery_wh for v in rows], dtype=np.float64),
            state_of_charge=np.array([v.state_of_charge for v in rows], dtype=np.float64),
            temperature_c=np.array([v.temperature_c for v in rows], dtype=np.float64),
            power_state=np.array([_POWER_ORDER.index(v.power_state) for v in rows], dtype=np.int8),
            thermal_state=np.array(
                [_THERMAL_ORDER.index(v.thermal_state) for v in rows], dtype=np.int8
            ),
            queue_depth=np.array([v.queue_depth for v in rows], dtype=np.int64),
            queue_capacity=np.array([v.queue_capacity for v in rows], dtype=np.int64),
            running=np.array([v.running for v in rows], dtype=np.int64),
            served=np.array([v.served for v in rows], dtype=np.int64),
            late=np.array([v.late for v in rows], dtype=np.int64),
            refused={
                c: np.array([v.refused.get(c, 0) for v in rows], dtype=np.int64) for c in causes
            },
            weight_upsets=np.array([_counts(v).weight_upsets for v in rows], dtype=np.int64),
            output_upsets=np.array([_counts(v).output_upsets for v in rows], dtype=np.int64),
            latchups=np.array([_counts(v).latchups for v in rows], dtype=np.int64),
            dose_rad=np.array([_counts(v).dose_rad for v in rows], dtype=np.float64),
        )

    def __len__(self) -> int:
        return len(self.offset_s)

    def row(self, i: int) -> Vitals:
        return Vitals(
            offset_s=float(self.offset_s[i]),
            sunlit=bool(self.sunlit[i]),
            battery_wh=float(self.battery_wh[i]),
            state_of_charge=float(self.state_of_charge[i]),
            temperature_c=float(self.temperature_c[i]),
            power_state=_POWER_ORDER[int(self.power_state[i])],
            thermal_state=_THERMAL_ORDER[int(self.thermal_state[i])],
            queue_depth=int(self.queue_depth[i]),
            queue_capacity=int(self.queue_capacity[i]),
            running=int(self.running[i]),
            served=int(self.served[i]),
            late=int(self.late[i]),
            refused={c: int(n[i]) for c, n in self.refused.items() if n[i]},
            radiation=UpsetCounts(
                offset_s=float(self.offset_s[i]),
                weight_upsets=int(self.weight_upsets[i]),
                output_upsets=int(self.output_upsets[i]),
                latchups=int(self.latchups[i]),
                dose_rad=float(self.dose_rad[i]),
            ),
        )

    def power_is(self, state: PowerState) -> NDArray[np.bool_]:
        return np.asarray(self.power_state == _POWER_ORDER.index(state))

    def thermal_is(self, state: ThermalState) -> NDArray[np.bool_]:
        return np.asarray(self.thermal_state == _THERMAL_ORDER.index(state))


def _counts(vitals: Vitals) -> UpsetCounts:
    return vitals.radiation or UpsetCounts(offset_s=vitals.offset_s)


@dataclass
class _Activity:
    running: int = 0
    waiting: int = 0
    #: Done on the emulated accelerator, the reply waiting for the host to finish the
    #: real computation (node/inference.py): still holds a queue place.
    behind: int = 0
    #: Inferences whose real computation ended after the modelled finish, and by how
    #: much (simulated seconds).
    late: int = 0
    late_by: Histogram = field(default_factory=Histogram)
    radio_backlog_s: float = 0.0  # simulated seconds of transmission still to book
    served: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)


class NodeState:
    """Energy, heat and queue of one satellite, advanced in simulated time.

    ``clock`` returns simulated seconds since the scenario start (for example
    ``SimClock.offset_s``); tests pass a fake clock.
    """

    def __init__(
        self,
        satellite_id: str,
        *,
        power: PowerParams,
        thermal: ThermalParams,
        ephemeris: Ephemeris,
        clock: Callable[[], float],
        queue_depth: int,
        max_concurrency: int,
        radio_rate_mbps: float,
        speed: float = 1.0,
        radiation: SatelliteRadiation | None = None,
    ) -> None:
        self.satellite_id = satellite_id
        self.battery = Battery(power)
        self.heat = ThermalNode(thermal)
        self.ephemeris = ephemeris
        self.clock = clock
        self.queue_depth = queue_depth
        self.max_concurrency = max_concurrency
        self.radio_rate_mbps = radio_rate_mbps
        #: Simulated seconds per wall second (to report wall durations in simulated time).
        self.clock_speed = speed
        #: What radiation does to this satellite (None: a run without radiation).
        self.radiation = radiation
        self._activity = _Activity()
        self._t = clock()

    # ------------------------------------------------------------------ time

    def start_clock(self, clock: Callable[[], float], speed: float) -> None:
        """Follow a (new) simulated clock from simulated time 0: energy and heat before it
        are not integrated (the emulation was still starting)."""
        self.clock = clock
        self.clock_speed = speed
        self._t = 0.0
        if self.radiation is not None:
            # Events are at simulated times: replay them on the new clock.
            self.radiation.rewind()

    def advance(self) -> float:
        """Integrate energy and heat up to now; returns the simulated offset reached."""
        now = self.clock()
        if self.radiation is not None:
            self.radiation.advance(now)
        if now <= self._t:
            return self._t
        busy = self._activity.running > 0
        segments = []
        for duration, lit in self.ephemeris.spans(self._t, now):
            radio = min(duration, self._activity.radio_backlog_s)
            self._activity.radio_backlog_s -= radio
            segments.append(Segment(duration, lit, duration if busy else 0.0, radio))
        self.battery.advance(segments)
        self.heat.advance(segments, self.battery.params)
        self._t = now
        return now

    # ------------------------------------------------------------------ requests

    def admit(self) -> Cause | None:
        """Whether a new request may join the queue; the cause if not (counted)."""
        now = self.advance()
        cause: Cause | None = None
        if self.latched_up(now) is not None:
            cause = Cause.NODE_DOWN
        elif not self.battery.can_start_inference()[0]:
            cause = Cause.POWER
        elif not self.heat.admission()[0]:
            cause = Cause.THERMAL
        elif self.queued() >= self.queue_depth:
            cause = Cause.QUEUE
        if cause is None:
            self._activity.waiting += 1
        else:
            self._activity.refused[cause] += 1
        return cause

    def latched_up(self, now_s: float | None = None) -> LatchUp | None:
        """The latch-up the compute module is off for now (or at ``now_s``), if any."""
        if self.radiation is None:
            return None
        return self.radiation.latched_up(self.clock() if now_s is None else now_s)

    def refuse(self, cause: Cause) -> None:
        """Count a refusal decided elsewhere (unknown model, bad tensors, too large)."""
        self._activity.refused[cause] += 1

    def concurrency_limit(self) -> int:
        """Inferences allowed to run at once now (fewer when hot, none when refusing)."""
        return max(1, self.heat.max_concurrency(self.max_concurrency))

    def can_run(self) -> bool:
        return self._activity.running < self.concurrency_limit()

    def start(self) -> None:
        """A queued request begins to run (the accelerator is busy from now)."""
        self.advance()
        self._activity.waiting -= 1
        self._activity.running += 1

    def abandon(self) -> None:
        """A queued request left before running (cancelled by its client)."""
        self._activity.waiting -= 1

    def queued(self) -> int:
        """Requests holding a queue place: waiting, running, or done on the emulated
        accelerator while the host still computes their outputs."""
        act = self._activity
        return act.running + act.waiting + act.behind

    def finish(self, *, served: bool = True, latency_s: float = 0.0, hold: bool = False) -> None:
        """An inference stops running (the accelerator is idle from now if it was alone).

        ``latency_s``: simulated seconds the served request spent queued and running.
        ``hold``: the emulated accelerator is done but the host is not; the request keeps
        its queue place until :meth:`release` (nothing is counted served yet).
        """
        self.advance()
        self._activity.running -= 1
        if hold:
            self._activity.behind += 1
        elif served:
            self._served(latency_s)

    def release(self, *, served: bool, latency_s: float = 0.0, late_s: float = 0.0) -> None:
        """A request held after its modelled finish is done; ``late_s``: simulated seconds
        its reply left after the modelled finish (0: on time)."""
        self._activity.behind -= 1
        if late_s > 0.0:
            self.count_late(late_s)
        if served:
            self._served(latency_s)

    def count_late(self, late_s: float) -> None:
        self._activity.late += 1
        self._activity.late_by.observe(late_s)

    def rejoin(self) -> None:
        """A request that ran one of several inferences (a user app) queues again."""
        self._activity.waiting += 1

    def leave(self, *, served: bool, latency_s: float = 0.0) -> None:
        """A request holding a queue place (a user app) is done."""
        self._activity.waiting -= 1
        if served:
            self._served(latency_s)

    def _served(self, latency_s: float) -> None:
        # One place for both, so the histogram's count always equals the served count.
        self._activity.served += 1
        self._activity.latency.observe(latency_s)

    def transmit(self, size_bytes: int, rate_mbps: float | None = None) -> None:
        """Book radio time for sending ``size_bytes`` (a reply, or a forwarded request)."""
        rate = self.radio_rate_mbps if rate_mbps is None else rate_mbps
        self._activity.radio_backlog_s += size_bytes * 8 / (rate * 1e6)

    def throttle_factor(self) -> float:
        return self.heat.throttle_factor()

    def restore(self, *, battery_wh: float, temperature_c: float) -> None:
        """Carry battery charge and temperature over from a previous incarnation.

        They replace whatever this incarnation integrated so far, and integration
        resumes from now.
        """
        self._t = max(self._t, self.clock())
        params = self.battery.params
        self.battery = Battery(params, energy_wh=min(max(battery_wh, 0.0), params.battery_wh))
        self.heat = ThermalNode(self.heat.params, temperature_c=temperature_c)

    # ------------------------------------------------------------------ telemetry

    def vitals(self) -> Vitals:
        now = self.advance()
        act = self._activity
        return Vitals(
            offset_s=now,
            sunlit=self.ephemeris.sunlit(self._on_track(now)),
            battery_wh=self.battery.energy_wh,
            state_of_charge=self.battery.soc,
            temperature_c=self.heat.temperature_c,
            power_state=self.battery.state,
            thermal_state=self.heat.state,
            queue_depth=self.queued(),
            queue_capacity=self.queue_depth,
            running=act.running,
            served=act.served,
            refused=dict(act.refused),
            radiation=None if self.radiation is None else self.radiation.counts(now),
            late=act.late,
        )

    def _on_track(self, offset_s: float) -> float:
        """Before the clock starts (and after the run) report where the track begins/ends."""
        return min(max(offset_s, self.ephemeris.start_s), self.ephemeris.end_s)

    def snapshot(self) -> NodeSnapshot:
        v = self.vitals()
        at = self._on_track(v.offset_s)
        position = self.ephemeris.position_km(at)
        lat, lon, alt = self.ephemeris.geodetic(at)
        return NodeSnapshot(
            satellite_id=self.satellite_id,
            offset_s=v.offset_s,
            itrs_km=(float(position[0]), float(position[1]), float(position[2])),
            lat_deg=lat,
            lon_deg=lon,
            alt_km=alt,
            sunlit=v.sunlit,
            battery_wh=v.battery_wh,
            battery_capacity_wh=self.battery.capacity_wh,
            state_of_charge=v.state_of_charge,
            temperature_c=v.temperature_c,
            power_state=v.power_state,
            thermal_state=v.thermal_state,
            queue_depth=v.queue_depth,
            queue_capacity=v.queue_capacity,
            running=v.running,
            concurrency_limit=self.concurrency_limit(),
            served=v.served,
            refused=v.refused,
            ledger=self.battery.ledger,
            latency=self._activity.latency.snapshot(),
            radiation=v.radiation,
            late=v.late,
            late_by=self._activity.late_by.snapshot(),
        )
