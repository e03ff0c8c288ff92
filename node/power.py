"""Battery, solar input and loads of one compute satellite (pure domain code).

Simulated time is cut into :class:`Segment` s, each with one illumination state (the
orchestrator says when the satellite enters and leaves eclipse, so a transition inside a
tick becomes a segment boundary instead of being noticed at the next tick) and the
seconds of compute and radio activity inside it, spread evenly over the segment. Within
a segment the net power is constant, so the charge moves linearly and the integration is
exact: it stops at the capacity (the surplus is *clipped*) and at zero (the shortfall is
*unmet*, a brown-out), and every watt-hour is booked in an
:class:`~orbitmesh.node.energy_ledger.EnergyLedger`.

Below ``reserve_soc`` the satellite refuses inference with the cause ``"power"``; it
accepts again only once the charge is back at ``recover_soc`` (hysteresis, so it does
not flap around the reserve). Inference time counts in simulated seconds: the caller
passes an inference's wall duration times the clock ``speed``.

Each :class:`Battery` is a plain object owned by one satellite actor; nothing here is
shared between instances.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Final

from orbitmesh.checking import ParamChecker, ParamProblem, exact_number
from orbitmesh.node.energy_ledger import EnergyLedger

__all__ = [
    "POWER_CAUSE",
    "SECONDS_PER_HOUR",
    "Battery",
    "PowerParams",
    "PowerState",
    "Segment",
    "split_step",
    "sunlit_spans",
]

SECONDS_PER_HOUR: Final = 3600.0

#: Machine-readable cause of a RESOURCE_EXHAUSTED refusal for lack of charge.
POWER_CAUSE: Final = "power"

#: Relative slack for sums of durations that should match (float rounding of offsets).
_DURATION_RTOL: Final = 1e-9


# --------------------------------------------------------------------------- validation


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True, slots=True)
class PowerParams:
    """Electrical parameters of one compute satellite: scenario table ``[power]``.

    The defaults describe a 12U-class CubeSat carrying an edge-AI module. Orbit check: a
    550 km orbit lasts about 95 min with up to about 36 min of eclipse; sunlit input
    (80 W x ~59 min = 79 Wh) covers base load plus continuous compute (35 W x 95 min =
    55 Wh), and the battery rides an eclipse at full compute (35 W x 36 min = 21 Wh, 23%
    of capacity) without reaching the reserve from full.
    """

    #: Battery capacity: eight 18650 Li-ion cells of about 3.2 Ah at 3.6 V nominal
    #: (11.5 Wh each), the COTS cell most CubeSat packs are built from (Knap, Vestergaard
    #: & Stroe, "A Review of Battery Technology in CubeSats and Small Satellite
    #: Solutions", Energies 13(16) 4097, 2020; NASA "State of the Art of Small Spacecraft
    #: Technology", Power chapter, energy storage): 8 x 11.5 = 92 Wh.
    battery_wh: float = 92.0
    #: State of charge at the start of the run.
    initial_soc: float = 0.9
    #: Inference is refused below this state of charge. LEO batteries cycle every orbit,
    #: and keeping depth of discharge to about 20-30% is what gives them their thousands
    #: of cycles (Knap et al. 2020, cycle-life section); 0.3 keeps the bus alive for
    #: nearly 3 h (28 Wh at 10 W) after compute is shed.
    reserve_soc: float = 0.3
    #: Inference is accepted again only from this state of charge (hysteresis).
    recover_soc: float = 0.4
    #: Array output while sunlit: 0.2 m^2 of deployed triple-junction GaAs cells (about
    #: 29.5% efficient at beginning of life, the class NASA's SoA Power chapter describes
    #: as the small-spacecraft standard) in 1361 W/m^2 sunlight (Kopp & Lean 2011):
    #: 0.2 x 1361 x 0.295 = 80 W.
    solar_w: float = 80.0
    #: Bus housekeeping (on-board computer, EPS, attitude control, receivers): an
    #: engineering estimate for a 6U-12U bus, whose budgets run to 5-10 W.
    base_load_w: float = 10.0
    #: Inference accelerator while busy: NVIDIA Jetson Orin NX, "power configurable
    #: between 10W and 25W" (NVIDIA Jetson Orin NX series datasheet); the 25 W mode.
    compute_w: float = 25.0
    #: Inference accelerator while powered but idle (0: switched off between inferences,
    #: as the Jetson default assumes; an accelerator profile sets it, node/accelerator.py).
    compute_idle_w: float = 0.0
    #: Downlink transmitter while transmitting: engineering estimate for an S-band
    #: CubeSat transmitter (DC input of order 10 W for about 2 W of RF).
    radio_w: float = 10.0

    def validate(self, path: str = "power") -> list[ParamProblem]:
        """Every problem with these parameters, each with its field path under ``path``."""
        check = ParamChecker(path)
        check.positive("battery_wh", self.battery_wh)
        check.within("initial_soc", self.initial_soc, 0.0, 1.0)
        reserve_ok = check.within("reserve_soc", self.reserve_soc, 0.0, 1.0)
        recover_ok = check.within("recover_soc", self.recover_soc, 0.0, 1.0)
        if reserve_ok and recover_ok and self.recover_soc <= self.reserve_soc:
            check.problem(
                "recover_soc",
                f"must be greater than reserve_soc ({exact_number(self.reserve_soc)}), "
                f"got {exact_number(self.recover_soc)}",
            )
        for name in ("solar_w", "base_load_w", "compute_w", "compute_idle_w", "radio_w"):
            check.non_negative(name, getattr(self, name))
        return check.problems

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The keys a ``[power]`` table may hold."""
        return tuple(f.name for f in fields(cls))


# --------------------------------------------------------------------------- time segments


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of simulated time with one illumination state.

    ``compute_s`` is how long the accelerator was busy (at least one inference running)
    and ``radio_s`` how long the transmitter was on, both in simulated seconds within
    this segment; their power is spread evenly over it.
    """

    duration_s: float
    sunlit: bool
    compute_s: float = 0.0
    radio_s: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.duration_s) and self.duration_s >= 0.0):
            raise ValueError(f"Segment.duration_s must be >= 0, got {self.duration_s}")
        limit = self.duration_s * (1.0 + _DURATION_RTOL)
        for name, value in (("compute_s", self.compute_s), ("radio_s", self.radio_s)):
            if not (math.isfinite(value) and 0.0 <= value <= limit):
                raise ValueError(
                    f"Segment.{name} must be within [0, duration_s={self.duration_s}], got {value}"
                )

    def load_w(self, params: PowerParams) -> float:
        """Mean electrical load over the segment."""
        if self.duration_s == 0.0:
            return params.base_load_w
        busy = self.compute_s / self.duration_s
        return (
            params.base_load_w
            + params.compute_w * busy
            + params.compute_idle_w * (1.0 - busy)
            + params.radio_w * (self.radio_s / self.duration_s)
        )


def sunlit_spans(
    duration_s: float, *, sunlit_at_start: bool, transitions_s: Sequence[float] = ()
) -> list[tuple[float, bool]]:
    """Spans ``(duration_s, sunlit)`` of one step, given the offsets (seconds from the
    step's start, ascending) at which the satellite enters or leaves eclipse."""
    spans: list[tuple[float, bool]] = []
    sunlit = sunlit_at_start
    last = 0.0
    for offset in transitions_s:
        if not last <= offset <= duration_s:
            raise ValueError(
                f"transition offsets must ascend within [0, {duration_s}] s, got {offset}"
            )
        if offset > last:
            spans.append((offset - last, sunlit))
        last = offset
        sunlit = not sunlit
    if duration_s > last or not spans:
        spans.append((duration_s - last, sunlit))
    return spans


def split_step(
    duration_s: float,
    *,
    sunlit: bool | Sequence[tuple[float, bool]],
    compute_s: float = 0.0,
    radio_s: float = 0.0,
) -> list[Segment]:
    """One step as segments: ``sunlit`` is a flag for the whole step or the spans
    ``(duration_s, sunlit)`` that make it up (see :func:`sunlit_spans`); compute and radio
    seconds are spread over the spans in proportion to their durations."""
    if isinstance(sunlit, bool):
        return [Segment(duration_s, sunlit, compute_s, radio_s)]
    total_s = math.fsum(d for d, _ in sunlit)
    if abs(total_s - duration_s) > _DURATION_RTOL * max(1.0, duration_s):
        raise ValueError(f"sunlit spans last {total_s} s, the step {duration_s} s")
    Segment(duration_s, True, compute_s, radio_s)  # checks the activity against the step
    compute_fraction = compute_s / duration_s if duration_s > 0 else 0.0
    radio_fraction = radio_s / duration_s if duration_s > 0 else 0.0
    return [Segment(d, lit, compute_fraction * d, radio_fraction * d) for d, lit in sunlit]


# --------------------------------------------------------------------------- battery


class PowerState(StrEnum):
    """Why inference is or is not accepted (mirrors the ``PowerState`` proto enum)."""

    #: Charge above the reserve (or back at the recover level): inference accepted.
    NOMINAL = "nominal"
    #: Charge below the reserve: inference refused.
    RESERVE = "reserve"
    #: Above the reserve again but not yet at ``recover_soc``: still refusing.
    RECOVERING = "recovering"


class Battery:
    """The battery of one satellite: its charge, its ledger and its admission latch."""

    __slots__ = ("_energy_wh", "_ledger", "_params", "_refusing")

    def __init__(self, params: PowerParams, *, energy_wh: float | None = None) -> None:
        problems = params.validate()
        if problems:
            raise ValueError("; ".join(str(p) for p in problems))
        if energy_wh is None:
            energy_wh = params.initial_soc * params.battery_wh
        elif not (math.isfinite(energy_wh) and 0.0 <= energy_wh <= params.battery_wh):
            raise ValueError(f"energy_wh must be within [0, {params.battery_wh}], got {energy_wh}")
        self._params = params
        self._energy_wh = float(energy_wh)
        self._ledger = EnergyLedger()
        self._refusing = self.soc < params.reserve_soc

    @property
    def params(self) -> PowerParams:
        return self._params

    @property
    def energy_wh(self) -> float:
        """Charge stored now."""
        return self._energy_wh

    @property
    def capacity_wh(self) -> float:
        return self._params.battery_wh

    @property
    def soc(self) -> float:
        """State of charge in [0, 1]."""
        return self._energy_wh / self._params.battery_wh

    @property
    def ledger(self) -> EnergyLedger:
        """Cumulative energy flows since this battery was created."""
        return self._ledger

    @property
    def state(self) -> PowerState:
        if not self._refusing:
            return PowerState.NOMINAL
        if self.soc < self._params.reserve_soc:
            return PowerState.RESERVE
        return PowerState.RECOVERING

    def can_start_inference(self) -> tuple[bool, str | None]:
        """``(True, None)``, or ``(False, "power")`` while below the reserve or recovering.

        Advance the battery to the current simulated time before asking.
        """
        if self._refusing:
            return False, POWER_CAUSE
        return True, None

    def step(
        self,
        duration_s: float,
        *,
        sunlit: bool | Sequence[tuple[float, bool]],
        compute_s: float = 0.0,
        radio_s: float = 0.0,
    ) -> EnergyLedger:
        """Advance by one step; see :func:`split_step` for the arguments."""
        return self.advance(
            split_step(duration_s, sunlit=sunlit, compute_s=compute_s, radio_s=radio_s)
        )

    def advance(self, segments: Iterable[Segment]) -> EnergyLedger:
        """Advance through consecutive segments; returns the ledger of this call alone."""
        step = EnergyLedger()
        for segment in segments:
            entry = self._advance_segment(segment)
            step += entry
        self._ledger += step
        return step

    def _advance_segment(self, segment: Segment) -> EnergyLedger:
        p = self._params
        hours = segment.duration_s / SECONDS_PER_HOUR
        solar_wh = p.solar_w * hours if segment.sunlit else 0.0
        base_wh = p.base_load_w * hours
        idle_s = max(0.0, segment.duration_s - segment.compute_s)
        compute_wh = (
            p.compute_w * segment.compute_s + p.compute_idle_w * idle_s
        ) / SECONDS_PER_HOUR
        radio_wh = p.radio_w * segment.radio_s / SECONDS_PER_HOUR
        start_wh = self._energy_wh
        # Net power is constant, so the charge is monotone and linear in the segment: the
        # unconstrained end value tells exactly how much was clipped or left unmet.
        free_wh = start_wh + solar_wh - base_wh - compute_wh - radio_wh
        clipped_wh = unmet_wh = 0.0
        if free_wh > p.battery_wh:
            clipped_wh = free_wh - p.battery_wh
            end_wh = p.battery_wh
        elif free_wh < 0.0:
            unmet_wh = -free_wh
            end_wh = 0.0
        else:
            end_wh = free_wh
        self._energy_wh = end_wh
        self._update_latch()
        return EnergyLedger(
            solar_in_wh=solar_wh,
            base_load_wh=base_wh,
            compute_wh=compute_wh,
            radio_wh=radio_wh,
            clipped_wh=clipped_wh,
            unmet_wh=unmet_wh,
            stored_delta_wh=end_wh - start_wh,
        )

    def _update_latch(self) -> None:
        # The charge is monotone within a segment, so looking at segment ends sees every
        # crossing of the reserve and recover levels.
        soc = self.soc
        if self._refusing:
            if soc >= self._params.recover_soc:
                self._refusing = False
        elif soc < self._params.reserve_soc:
            self._refusing = True

    def __repr__(self) -> str:
        return (
            f"Battery(energy_wh={self._energy_wh:.6g}, soc={self.soc:.4f}, "
            f"state={self.state.value})"
        )
