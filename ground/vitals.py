"""Reading the vitals a satellite host sends in a brief ``Host/Members`` reply.

A brief reply carries every satellite's figures as parallel arrays
(``orbitmesh.v1.SatelliteVitals``); :func:`vitals_rows` turns them into one row per
satellite for readers that go satellite by satellite (the status table, the load test's
observer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orbitmesh.protos.orbitmesh.v1 import types_pb2

__all__ = ["POWER_STATE_NAMES", "THERMAL_STATE_NAMES", "VitalsRow", "vitals_rows"]

#: The protocol's power and thermal states by the names status tables show.
POWER_STATE_NAMES = {
    types_pb2.POWER_STATE_NOMINAL: "nominal",
    types_pb2.POWER_STATE_RESERVE: "reserve",
    types_pb2.POWER_STATE_RECOVERING: "recovering",
}
THERMAL_STATE_NAMES = {
    types_pb2.THERMAL_STATE_NOMINAL: "nominal",
    types_pb2.THERMAL_STATE_THROTTLED: "throttled",
    types_pb2.THERMAL_STATE_OVERHEATED: "overheated",
}


@dataclass(frozen=True)
class VitalsRow:
    satellite_id: str
    sim_time: datetime
    serving: bool
    sunlit: bool
    battery_wh: float
    state_of_charge: float
    temperature_c: float
    power_state: str  # nominal, reserve, recovering
    thermal_state: str  # nominal, throttled, overheated
    queue_depth: int
    served: int
    refused: dict[str, int]


def vitals_rows(vitals: Any) -> list[VitalsRow]:
    """One row per satellite of an ``orbitmesh.v1.SatelliteVitals``."""
    sim_time = vitals.sim_time.ToDatetime(tzinfo=UTC)
    refused = {cause: list(counts.values) for cause, counts in vitals.refused_by_cause.items()}
    return [
        VitalsRow(
            satellite_id=sid,
            sim_time=sim_time,
            serving=vitals.serving[i],
            sunlit=vitals.sunlit[i],
            battery_wh=vitals.battery_wh[i],
            state_of_charge=vitals.state_of_charge[i],
            temperature_c=vitals.temperature_c[i],
            power_state=POWER_STATE_NAMES.get(vitals.power_state[i], "unknown"),
            thermal_state=THERMAL_STATE_NAMES.get(vitals.thermal_state[i], "unknown"),
            queue_depth=vitals.queue_depth[i],
            served=vitals.served_count[i],
            refused={cause: counts[i] for cause, counts in refused.items() if counts[i]},
        )
        for i, sid in enumerate(vitals.satellite_ids)
    ]
