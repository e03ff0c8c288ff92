"""The energy books of one satellite: where every watt-hour came from and went.

Pure domain code (no Ray, no gRPC). :class:`~orbitmesh.node.power.Battery` writes one entry per
segment of simulated time; the totals must balance::

    solar_in - (base_load + compute + radio) - clipped + unmet == stored_delta

``clipped_wh`` is solar energy that arrived while the battery was full and was thrown
away; ``unmet_wh`` is load the empty battery could not supply (a brown-out). Loads are
booked as demanded, so an unmet watt-hour appears both in a load and in ``unmet_wh``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["EnergyLedger"]


@dataclass(frozen=True, slots=True)
class EnergyLedger:
    """Cumulative energy flows in Wh. Immutable: adding entries returns a new ledger."""

    solar_in_wh: float = 0.0
    base_load_wh: float = 0.0
    compute_wh: float = 0.0
    radio_wh: float = 0.0
    clipped_wh: float = 0.0
    unmet_wh: float = 0.0
    stored_delta_wh: float = 0.0

    @property
    def load_wh(self) -> float:
        """Energy demanded by all loads (base, compute and radio)."""
        return self.base_load_wh + self.compute_wh + self.radio_wh

    @property
    def throughput_wh(self) -> float:
        """Sum of the magnitudes of all flows: the scale that a balance error is judged by."""
        return self.solar_in_wh + self.load_wh + self.clipped_wh + self.unmet_wh

    def balance_error_wh(self) -> float:
        """Inflow minus outflow minus the change in charge; zero when the books balance."""
        return (
            self.solar_in_wh - self.load_wh - self.clipped_wh + self.unmet_wh
        ) - self.stored_delta_wh

    def is_balanced(self, rel_tol: float = 1e-3) -> bool:
        """Whether the balance error is within ``rel_tol`` of the throughput (0.1% default)."""
        return abs(self.balance_error_wh()) <= rel_tol * self.throughput_wh

    def __add__(self, other: EnergyLedger) -> EnergyLedger:
        return EnergyLedger(
            solar_in_wh=self.solar_in_wh + other.solar_in_wh,
            base_load_wh=self.base_load_wh + other.base_load_wh,
            compute_wh=self.compute_wh + other.compute_wh,
            radio_wh=self.radio_wh + other.radio_wh,
            clipped_wh=self.clipped_wh + other.clipped_wh,
            unmet_wh=self.unmet_wh + other.unmet_wh,
            stored_delta_wh=self.stored_delta_wh + other.stored_delta_wh,
        )

    def as_dict(self) -> dict[str, float]:
        """Field name to value, for telemetry; the names are those of the ``EnergyLedger``
        proto message, plus ``unmet_wh`` (which that message does not carry yet)."""
        return asdict(self)
