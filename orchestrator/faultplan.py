"""The faults of one run: the scenario's schedule over its catalog, faults added while it
runs (``orbitmesh fault``), and what each tick and each satellite sees of them (pure).

:class:`FaultPlan` holds every :class:`~orbitmesh.orchestrator.faults.FaultEvent` of the
run in start order. The orchestrator asks it what a tick looks like under the faults
active then (:meth:`FaultPlan.tick`) and which satellite events fall due
(:meth:`FaultPlan.satellite_events`); runtime injections are appended with the same
parser and checks as the scenario's entries, starting at the moment given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from orbitmesh.checking import Checker
from orbitmesh.links.linkstate import TickLinks, Topology
from orbitmesh.orchestrator.catalog import SatelliteCatalog
from orbitmesh.orchestrator.faults import (
    FaultError,
    FaultEvent,
    FaultSpec,
    faults_at,
    parse_faults,
    schedule,
)
from orbitmesh.orchestrator.publish import apply_faults

__all__ = ["FaultPlan", "SatelliteFault", "planes_of"]

#: Kinds that take satellites down (their compute servers stop).
_SATELLITE_KINDS = ("reboot", "fail")


def planes_of(catalog: SatelliteCatalog) -> dict[str, list[str]]:
    """Every Walker plane's satellites, by plane id ``<shell>-<plane>`` (TLE satellites
    belong to none)."""
    planes: dict[str, list[str]] = {}
    for i, sid in enumerate(catalog.ids):
        plane = int(catalog.plane[i])
        if plane >= 0:
            shell = catalog.shell_name(i)
            planes.setdefault(f"{shell}-{plane}", []).append(sid)
    return planes


@dataclass(frozen=True)
class SatelliteFault:
    """A satellite going down (``start``) or coming back (``end``) at ``at_s``."""

    at_s: float
    satellite: str
    edge: str  # "start" or "end"
    kind: str  # "reboot" or "fail"
    reset: str  # "warm" or "cold"
    label: str

    def as_json(self) -> dict[str, Any]:
        return {
            "at_s": self.at_s,
            "satellite": self.satellite,
            "edge": self.edge,
            "kind": self.kind,
            "reset": self.reset,
            "label": self.label,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SatelliteFault:
        return cls(
            float(doc["at_s"]),
            str(doc["satellite"]),
            str(doc["edge"]),
            str(doc["kind"]),
            str(doc["reset"]),
            str(doc["label"]),
        )


class FaultPlan:
    """Every fault of a run, scheduled and injected."""

    def __init__(
        self,
        events: Sequence[FaultEvent],
        *,
        topology: Topology,
        duration_s: float,
        satellites: Sequence[str],
        planes: Mapping[str, Sequence[str]],
        stations: Sequence[str],
    ) -> None:
        self.events: list[FaultEvent] = sorted(events, key=lambda e: e.start_s)
        self.topology = topology
        self.duration_s = duration_s
        self._satellites = tuple(satellites)
        self._planes = {k: list(v) for k, v in planes.items()}
        self._stations = tuple(stations)
        self._injected = 0

    @classmethod
    def of_run(
        cls,
        faults: Sequence[FaultSpec],
        *,
        seed: int,
        catalog: SatelliteCatalog,
        topology: Topology,
        duration_s: float,
    ) -> FaultPlan:
        planes = planes_of(catalog)
        stations = topology.station_names
        events = schedule(
            faults,
            duration_s=duration_s,
            satellites=catalog.ids,
            planes=planes,
            stations=stations,
            seed=seed,
        )
        return cls(
            events,
            topology=topology,
            duration_s=duration_s,
            satellites=catalog.ids,
            planes=planes,
            stations=stations,
        )

    def tick(self, tick: TickLinks) -> TickLinks:
        """``tick`` (as geometry gives it) under the faults active at its start."""
        active = [e for e in self.events if e.active(tick.offset_s)]
        if not active:
            return tick
        state = faults_at(active, tick.offset_s)
        return apply_faults(tick, state, self.topology, tuple(e.label for e in active))

    def satellite_faults(self) -> list[SatelliteFault]:
        """Every satellite going down and coming back, in time order."""
        edges: list[SatelliteFault] = []
        for event in self.events:
            if event.kind not in _SATELLITE_KINDS:
                continue
            for sid in event.satellites:
                edges.append(
                    SatelliteFault(
                        event.start_s, sid, "start", event.kind, event.spec.reset, event.label
                    )
                )
                if event.end_s is not None:
                    edges.append(
                        SatelliteFault(
                            event.end_s, sid, "end", event.kind, event.spec.reset, event.label
                        )
                    )
        return sorted(edges, key=lambda f: (f.at_s, f.edge == "start"))

    def active(self, t_s: float) -> list[FaultEvent]:
        return [e for e in self.events if e.active(t_s)]

    def inject(self, raw: Mapping[str, Any], now_s: float) -> list[FaultEvent]:
        """Add a fault entry (the ``[[fault]]`` format; without ``at_s`` it starts at
        ``now_s``) to the running plan; returns its events. Raises :class:`FaultError`
        with one line per problem."""
        self._injected += 1
        entry = dict(raw)
        if "at_s" not in entry and "rate_per_hour" not in entry:
            entry["at_s"] = now_s
        chk = Checker("fault")
        specs = parse_faults([entry], chk)
        if chk.problems:
            raise FaultError(chk.problems)
        spec = replace(specs[0], field_path=f"injected[{self._injected - 1}]")
        if spec.at_s is not None and spec.at_s < now_s:
            raise FaultError([f"fault: at_s: must not lie in the past (now {now_s:.3f})"])
        # Drawn over the rest of the run, seeded by the injection's number.
        events = schedule(
            [spec],
            duration_s=self.duration_s,
            satellites=self._satellites,
            planes=self._planes,
            stations=self._stations,
            seed=self._injected,
        )
        events = [e for e in events if e.start_s >= now_s]
        self.events = sorted([*self.events, *events], key=lambda e: e.start_s)
        return events

    def counts(self, t_s: float) -> dict[str, int]:
        """Faults begun by ``t_s``, by kind."""
        return dict(sorted(Counter(e.kind for e in self.events if e.start_s <= t_s).items()))
