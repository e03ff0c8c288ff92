"""Lumped single-node thermal model of one compute satellite (pure domain code).

One temperature ``T`` (kelvin) for the whole satellite, with heat capacity
``C = mass_kg * specific_heat_j_per_kg_k``::

    C dT/dt = absorptivity * S * absorber_area_m2                  (sunlit only)
            + absorptivity * albedo * S * A_earth                  (sunlit only)
            + emissivity * earth_ir_w_per_m2 * A_earth
            + P_internal
            - emissivity * sigma * radiator_area_m2 * T^4

with ``S`` the solar constant, ``sigma`` the Stefan-Boltzmann constant and
``A_earth = earth_facing_area_m2 * earth_view_factor``. Infrared is absorbed with the
emissivity (Kirchhoff's law for a grey surface). ``P_internal`` is the electrical load
(base, compute and radio), all of which ends up as heat.

Inputs are constant within a :class:`~orbitmesh.node.power.Segment`, so an eclipse entry or exit
inside a tick is honoured at the instant the orchestrator reports (PASEOS only looked at
step ends). Each segment is integrated with classical Runge-Kutta in sub-steps of at
most 1/32 of the local thermal time constant ``C / (4 eps sigma A T^3)``; the solution
is monotone within a segment, so checking thresholds at segment ends sees every
crossing.

Above ``max_temp_c`` compute is throttled (inference takes :meth:`ThermalNode.throttle_factor`
times longer, fewer run at once); above ``hard_limit_temp_c`` inference is refused with
the cause ``"thermal"`` until the node has cooled to ``recover_temp_c``. Each
:class:`ThermalNode` is a plain object owned by one satellite; nothing is shared between
instances (PASEOS declared its thermal model state as class attributes).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Final

from orbitmesh.checking import ParamChecker, ParamProblem, exact_number
from orbitmesh.node.power import PowerParams, Segment

__all__ = [
    "SOLAR_CONSTANT_W_PER_M2",
    "STEFAN_BOLTZMANN_W_PER_M2_K4",
    "THERMAL_CAUSE",
    "ZERO_CELSIUS_K",
    "ThermalNode",
    "ThermalParams",
    "ThermalState",
]

#: Stefan-Boltzmann constant, CODATA 2018 (exact since the 2019 SI redefinition).
STEFAN_BOLTZMANN_W_PER_M2_K4: Final = 5.670374419e-8
#: Total solar irradiance at 1 AU, solar-minimum value (Kopp & Lean 2011,
#: Geophys. Res. Lett. 38, L01706; adopted as IAU 2015 Resolution B3's nominal value).
SOLAR_CONSTANT_W_PER_M2: Final = 1361.0
#: 0 degC in kelvin (SI definition).
ZERO_CELSIUS_K: Final = 273.15

#: Machine-readable cause of a RESOURCE_EXHAUSTED refusal for heat.
THERMAL_CAUSE: Final = "thermal"

#: Runge-Kutta sub-steps per thermal time constant; against the closed-form radiative
#: cooling curve the error stays near 1e-8 K over a 60 K transient.
_SUBSTEPS_PER_TAU: Final = 32.0


@dataclass(frozen=True, slots=True)
class ThermalParams:
    """Thermal parameters of one compute satellite: scenario table ``[thermal]``.

    The defaults describe the same 12U-class CubeSat as :class:`~orbitmesh.node.power.PowerParams`
    (226 x 226 x 340 mm). With them, and the power defaults, the orbit-average
    temperature at 550 km is about 28 degC with an idle payload and about 55 degC with
    the accelerator busy all the time, so a node kept busy throttles after about ten
    orbits of simulated time (thermal time constant about 5 h).
    """

    #: Mass: the CubeSat Design Specification (rev. 14) allows up to 24 kg for 12U.
    mass_kg: float = 20.0
    #: Aluminium 6061, the structure material: 896 J/(kg K) (ASM handbook / MatWeb).
    specific_heat_j_per_kg_k: float = 896.0
    #: Area facing the Sun: the 0.226 x 0.34 m long face of a 12U.
    absorber_area_m2: float = 0.077
    #: Area facing the Earth (the nadir face, same size).
    earth_facing_area_m2: float = 0.077
    #: View factor from a nadir-facing plate to the Earth at 550 km: (R/(R+h))^2 =
    #: (6371/6921)^2 = 0.85.
    earth_view_factor: float = 0.85
    #: Area radiating to space: about a third of a 12U's 0.41 m^2 outer surface; the rest
    #: carries solar cells or blankets (engineering estimate).
    radiator_area_m2: float = 0.15
    #: Infrared emissivity of black anodize and cover glass, 0.85 (Gilmore, "Spacecraft
    #: Thermal Control Handbook", vol. 1, optical-properties appendix).
    emissivity: float = 0.85
    #: Solar absorptivity of the sun face: a mix of body-mounted cells (about 0.9) and
    #: white paint (about 0.2) (Gilmore, same appendix); engineering estimate.
    absorptivity: float = 0.45
    #: Earth's mean Bond albedo, 0.30 (Gilmore, ch. 2, orbital environments).
    albedo: float = 0.30
    #: Earth's mean outgoing long-wave radiation, 237 W/m^2 (Gilmore, ch. 2; CERES
    #: measures about 240 W/m^2 global mean).
    earth_ir_w_per_m2: float = 237.0
    #: Temperature at the start of the run.
    initial_temp_c: float = 20.0
    #: Compute is throttled above this: Li-ion CubeSat batteries are usually specified to
    #: operate up to about +50 degC (Knap et al. 2020 discuss the temperature window).
    max_temp_c: float = 50.0
    #: Inference is refused above this: +60 degC is the upper operating limit of common
    #: COTS CubeSat avionics (for example the Xiphos Q7 processor card, -40..+60 degC).
    hard_limit_temp_c: float = 60.0
    #: After a refusal, inference is accepted again at or below this (hysteresis).
    recover_temp_c: float = 45.0
    #: Slow-down of inference at the hard limit; it rises linearly from 1 at
    #: ``max_temp_c``. 2.0 is an engineering choice: about what an edge accelerator loses
    #: dropping from its top power mode to its lowest (25 W to 10 W on an Orin NX).
    max_throttle_factor: float = 2.0

    @property
    def heat_capacity_j_per_k(self) -> float:
        return self.mass_kg * self.specific_heat_j_per_kg_k

    @property
    def radiation_w_per_k4(self) -> float:
        """``emissivity * sigma * radiator_area_m2``: radiated power is this times T^4."""
        return self.emissivity * STEFAN_BOLTZMANN_W_PER_M2_K4 * self.radiator_area_m2

    def environment_w(self, *, sunlit: bool) -> float:
        """Heat absorbed from the Sun, Earth albedo and Earth infrared."""
        earth_m2 = self.earth_facing_area_m2 * self.earth_view_factor
        infrared_w = self.emissivity * self.earth_ir_w_per_m2 * earth_m2
        if not sunlit:
            return infrared_w
        solar_w = self.absorptivity * SOLAR_CONSTANT_W_PER_M2 * self.absorber_area_m2
        albedo_w = self.absorptivity * self.albedo * SOLAR_CONSTANT_W_PER_M2 * earth_m2
        return solar_w + albedo_w + infrared_w

    def steady_state_temp_c(self, *, sunlit: bool, internal_w: float) -> float:
        """Equilibrium temperature ``(Q_in / (eps sigma A))^(1/4)`` for constant inputs."""
        heat_w = self.environment_w(sunlit=sunlit) + internal_w
        return _fourth_root(max(heat_w, 0.0) / self.radiation_w_per_k4) - ZERO_CELSIUS_K

    def validate(self, path: str = "thermal") -> list[ParamProblem]:
        """Every problem with these parameters, each with its field path under ``path``."""
        check = ParamChecker(path)
        for name in ("mass_kg", "specific_heat_j_per_kg_k", "radiator_area_m2"):
            check.positive(name, getattr(self, name))
        for name in ("absorber_area_m2", "earth_facing_area_m2", "earth_ir_w_per_m2"):
            check.non_negative(name, getattr(self, name))
        for name in ("earth_view_factor", "absorptivity", "albedo"):
            check.within(name, getattr(self, name), 0.0, 1.0)
        check.within("emissivity", self.emissivity, 0.0, 1.0, open_low=True)
        if check.finite("initial_temp_c", self.initial_temp_c) and (
            self.initial_temp_c <= -ZERO_CELSIUS_K
        ):
            check.problem(
                "initial_temp_c",
                f"must be above absolute zero (-273.15), got {exact_number(self.initial_temp_c)}",
            )
        hard_ok = check.finite("hard_limit_temp_c", self.hard_limit_temp_c)
        for name in ("max_temp_c", "recover_temp_c"):
            value = getattr(self, name)
            if check.finite(name, value) and hard_ok and value >= self.hard_limit_temp_c:
                check.problem(
                    name,
                    f"must be below hard_limit_temp_c ({exact_number(self.hard_limit_temp_c)}), "
                    f"got {exact_number(value)}",
                )
        if check.finite("max_throttle_factor", self.max_throttle_factor) and (
            self.max_throttle_factor < 1.0
        ):
            check.problem(
                "max_throttle_factor",
                f"must be >= 1, got {exact_number(self.max_throttle_factor)}",
            )
        return check.problems

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The keys a ``[thermal]`` table may hold."""
        return tuple(f.name for f in fields(cls))


def _fourth_root(x: float) -> float:
    return math.sqrt(math.sqrt(x))


class ThermalState(StrEnum):
    """Whether inference runs at full speed, slowed, or not at all."""

    #: At or below ``max_temp_c``: full speed.
    NOMINAL = "nominal"
    #: Above ``max_temp_c``: inference slowed and fewer at once.
    THROTTLED = "throttled"
    #: Went above ``hard_limit_temp_c`` and has not yet cooled to ``recover_temp_c``:
    #: inference refused.
    OVERHEATED = "overheated"


class ThermalNode:
    """The temperature of one satellite and its thermal admission latch."""

    __slots__ = ("_capacity_j_per_k", "_params", "_radiation_w_per_k4", "_refusing", "_temp_k")

    def __init__(self, params: ThermalParams, *, temperature_c: float | None = None) -> None:
        problems = params.validate()
        if problems:
            raise ValueError("; ".join(str(p) for p in problems))
        if temperature_c is None:
            temperature_c = params.initial_temp_c
        elif not (math.isfinite(temperature_c) and temperature_c > -ZERO_CELSIUS_K):
            raise ValueError(f"temperature_c must be above absolute zero, got {temperature_c}")
        self._params = params
        self._capacity_j_per_k = params.heat_capacity_j_per_k
        self._radiation_w_per_k4 = params.radiation_w_per_k4
        self._temp_k = temperature_c + ZERO_CELSIUS_K
        self._refusing = temperature_c > params.hard_limit_temp_c

    @property
    def params(self) -> ThermalParams:
        return self._params

    @property
    def temperature_c(self) -> float:
        return self._temp_k - ZERO_CELSIUS_K

    @property
    def temperature_k(self) -> float:
        return self._temp_k

    @property
    def is_throttled(self) -> bool:
        return self.temperature_c > self._params.max_temp_c

    @property
    def state(self) -> ThermalState:
        if self._refusing:
            return ThermalState.OVERHEATED
        if self.is_throttled:
            return ThermalState.THROTTLED
        return ThermalState.NOMINAL

    def throttle_factor(self) -> float:
        """How many times longer an inference takes now: 1 up to ``max_temp_c``, rising
        linearly to ``max_throttle_factor`` at ``hard_limit_temp_c`` and held there."""
        p = self._params
        excess_c = self.temperature_c - p.max_temp_c
        if excess_c <= 0.0:
            return 1.0
        fraction = min(1.0, excess_c / (p.hard_limit_temp_c - p.max_temp_c))
        return 1.0 + (p.max_throttle_factor - 1.0) * fraction

    def max_concurrency(self, base: int) -> int:
        """Inferences allowed at once: ``base`` when cool, ``floor(base / factor)`` (at
        least 1) when throttled, 0 while refusing."""
        if base < 0:
            raise ValueError(f"base concurrency must be >= 0, got {base}")
        if self._refusing:
            return 0
        if not self.is_throttled:
            return base
        return min(base, max(1, math.floor(base / self.throttle_factor())))

    def admission(self) -> tuple[bool, str | None]:
        """``(True, None)``, or ``(False, "thermal")`` while overheated.

        Advance the node to the current simulated time before asking.
        """
        if self._refusing:
            return False, THERMAL_CAUSE
        return True, None

    def advance(self, segments: Iterable[Segment], loads: PowerParams) -> None:
        """Advance through consecutive segments; the internal heat of each is its mean
        electrical load under ``loads`` (all of it dissipated on board)."""
        for segment in segments:
            self.advance_span(
                segment.duration_s, sunlit=segment.sunlit, internal_w=segment.load_w(loads)
            )

    def advance_span(self, duration_s: float, *, sunlit: bool, internal_w: float) -> None:
        """Advance by ``duration_s`` of constant illumination and internal heat."""
        if not (math.isfinite(duration_s) and duration_s >= 0.0):
            raise ValueError(f"duration_s must be >= 0, got {duration_s}")
        if not (math.isfinite(internal_w) and internal_w >= 0.0):
            raise ValueError(f"internal_w must be >= 0, got {internal_w}")
        heat_w = self._params.environment_w(sunlit=sunlit) + internal_w
        self._temp_k = self._integrate(self._temp_k, duration_s, heat_w)
        self._update_latch()

    def _integrate(self, temp_k: float, duration_s: float, heat_w: float) -> float:
        capacity = self._capacity_j_per_k
        k = self._radiation_w_per_k4
        steady_k = _fourth_root(heat_w / k)

        def rate(t: float) -> float:
            return (heat_w - k * t**4) / capacity

        remaining_s = duration_s
        while remaining_s > 0.0:
            # The local time constant shortens as the node gets hotter; size the sub-step
            # for the hotter of now and where it is heading.
            hot_k = max(temp_k, steady_k)
            tau_s = capacity / (4.0 * k * hot_k**3)
            h = min(remaining_s, tau_s / _SUBSTEPS_PER_TAU)
            k1 = rate(temp_k)
            k2 = rate(temp_k + 0.5 * h * k1)
            k3 = rate(temp_k + 0.5 * h * k2)
            k4 = rate(temp_k + h * k3)
            temp_k += h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
            remaining_s -= h
        return temp_k

    def _update_latch(self) -> None:
        temp_c = self.temperature_c
        if self._refusing:
            if temp_c <= self._params.recover_temp_c:
                self._refusing = False
        elif temp_c > self._params.hard_limit_temp_c:
            self._refusing = True

    def __repr__(self) -> str:
        return f"ThermalNode(temperature_c={self.temperature_c:.4g}, state={self.state.value})"
