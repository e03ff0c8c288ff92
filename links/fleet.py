"""What the data path knows of every compute satellite: its address and latest status.

The orchestrator polls the satellites and sends every gateway and satellite host one
:class:`FleetStatus`: parallel arrays in the topology's compute order, so that choosing
among thousands of satellites (:mod:`orbitmesh.links.choice`) is array arithmetic and the
message is a few arrays, not thousands of objects. :class:`SatelliteInfo` is the view of
one satellite, for code that looks at one at a time. Pure data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

__all__ = ["FleetStatus", "SatelliteInfo"]


@dataclass(frozen=True)
class SatelliteInfo:
    """What the data path knows about one compute satellite (from its last status)."""

    satellite_id: str
    address: str
    datapath: str = ""
    models: tuple[str, ...] = ()
    up: bool = True
    queue_depth: int = 0
    running: int = 0
    queue_capacity: int = 1
    state_of_charge: float = 1.0
    temperature_c: float = 20.0
    accepting_power: bool = True
    accepting_thermal: bool = True
    throttled: bool = False
    sunlit: bool = True


@dataclass(frozen=True, eq=False)
class FleetStatus:
    """The latest status of every compute satellite, one entry per satellite in compute
    order. ``models`` maps each model name to which satellites carry it."""

    satellite_ids: tuple[str, ...]
    #: Each satellite's own gRPC endpoint, and its host's data path (links/datapath.py).
    addresses: tuple[str, ...]
    datapaths: tuple[str, ...]
    models: Mapping[str, NDArray[np.bool_]]
    #: False while a satellite is stopped or its host is being restarted.
    up: NDArray[np.bool_]
    queue_depth: NDArray[np.int64]
    running: NDArray[np.int64]
    queue_capacity: NDArray[np.int64]
    state_of_charge: NDArray[np.float64]
    temperature_c: NDArray[np.float64]
    accepting_power: NDArray[np.bool_]
    accepting_thermal: NDArray[np.bool_]
    throttled: NDArray[np.bool_]
    sunlit: NDArray[np.bool_]

    @classmethod
    def from_infos(cls, infos: Sequence[SatelliteInfo]) -> FleetStatus:
        names = sorted({m for info in infos for m in info.models})
        return cls(
            satellite_ids=tuple(i.satellite_id for i in infos),
            addresses=tuple(i.address for i in infos),
            datapaths=tuple(i.datapath for i in infos),
            models={m: np.array([m in i.models for i in infos], dtype=bool) for m in names},
            up=np.array([i.up for i in infos], dtype=bool),
            queue_depth=np.array([i.queue_depth for i in infos], dtype=np.int64),
            running=np.array([i.running for i in infos], dtype=np.int64),
            queue_capacity=np.array([i.queue_capacity for i in infos], dtype=np.int64),
            state_of_charge=np.array([i.state_of_charge for i in infos], dtype=np.float64),
            temperature_c=np.array([i.temperature_c for i in infos], dtype=np.float64),
            accepting_power=np.array([i.accepting_power for i in infos], dtype=bool),
            accepting_thermal=np.array([i.accepting_thermal for i in infos], dtype=bool),
            throttled=np.array([i.throttled for i in infos], dtype=bool),
            sunlit=np.array([i.sunlit for i in infos], dtype=bool),
        )

    @classmethod
    def empty(cls) -> FleetStatus:
        return cls.from_infos([])

    @cached_property
    def index(self) -> dict[str, int]:
        return {sid: i for i, sid in enumerate(self.satellite_ids)}

    def __len__(self) -> int:
        return len(self.satellite_ids)

    def carriers(self, model: str) -> NDArray[np.bool_]:
        """Satellites that carry ``model``, up or not."""
        mask = self.models.get(model)
        return np.zeros(len(self), dtype=bool) if mask is None else mask

    def models_of(self, i: int) -> tuple[str, ...]:
        return tuple(m for m, mask in self.models.items() if mask[i])

    def info(self, satellite_id: str) -> SatelliteInfo | None:
        i = self.index.get(satellite_id)
        if i is None:
            return None
        return SatelliteInfo(
            satellite_id=satellite_id,
            address=self.addresses[i],
            datapath=self.datapaths[i],
            models=self.models_of(i),
            up=bool(self.up[i]),
            queue_depth=int(self.queue_depth[i]),
            running=int(self.running[i]),
            queue_capacity=int(self.queue_capacity[i]),
            state_of_charge=float(self.state_of_charge[i]),
            temperature_c=float(self.temperature_c[i]),
            accepting_power=bool(self.accepting_power[i]),
            accepting_thermal=bool(self.accepting_thermal[i]),
            throttled=bool(self.throttled[i]),
            sunlit=bool(self.sunlit[i]),
        )
