"""Recording and replaying the tick stream (``orbitmesh up --record / --replay``).

A trace is an ``.npz`` file: a JSON header (scenario, stations, satellites) and one JSON
document per tick holding exactly what was published to every station and satellite.
Replaying publishes the same documents at the same simulated times, so a run sees the
same links whatever the geometry code does (and without computing any).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ground.linkstate import LinkState, Route, VisibleSatellite

__all__ = ["TraceError", "TraceReader", "TraceWriter", "link_state_from_json", "link_state_to_json"]

FORMAT = "orbitmesh-trace/1"


class TraceError(ValueError):
    """A trace that cannot be replayed for this scenario."""


def link_state_to_json(state: LinkState) -> dict[str, Any]:
    return {
        "tick": state.tick,
        "offset_s": state.offset_s,
        "step_s": state.step_s,
        "routes": {
            t: [list(r.hops), list(r.delays_ms), list(r.rates_mbps)]
            for t, r in state.routes.items()
        },
        "visible": [
            [v.satellite_id, v.elevation_deg, v.azimuth_deg, v.range_km, v.delay_ms]
            for v in state.visible
        ],
    }


def link_state_from_json(doc: Mapping[str, Any]) -> LinkState:
    return LinkState(
        tick=int(doc["tick"]),
        offset_s=float(doc["offset_s"]),
        step_s=float(doc["step_s"]),
        routes={t: Route(tuple(h), tuple(d), tuple(r)) for t, (h, d, r) in doc["routes"].items()},
        visible=tuple(VisibleSatellite(s, e, a, rng, d) for s, e, a, rng, d in doc["visible"]),
    )


class TraceWriter:
    def __init__(
        self, path: Path, scenario: str, stations: Sequence[str], satellites: Sequence[str]
    ) -> None:
        self.path = path
        self.header = {
            "format": FORMAT,
            "scenario": scenario,
            "stations": list(stations),
            "satellites": list(satellites),
        }
        self.ticks: list[str] = []

    def add(
        self, index: int, stations: Mapping[str, LinkState], satellites: Mapping[str, LinkState]
    ) -> None:
        if index != len(self.ticks):
            raise ValueError(
                f"ticks must be recorded in order: expected {len(self.ticks)}, got {index}"
            )
        doc = {
            "stations": {k: link_state_to_json(v) for k, v in stations.items()},
            "satellites": {k: link_state_to_json(v) for k, v in satellites.items()},
        }
        self.ticks.append(json.dumps(doc, separators=(",", ":")))

    def close(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez_compressed(
            tmp, header=np.array(json.dumps(self.header)), ticks=np.array(self.ticks)
        )
        tmp.replace(self.path)


class TraceReader:
    def __init__(self, path: Path) -> None:
        try:
            with np.load(path, allow_pickle=False) as data:
                self.header = json.loads(str(data["header"]))
                self.ticks = [str(t) for t in data["ticks"]]
        except (OSError, KeyError, ValueError) as exc:
            raise TraceError(f"{path}: not an orbitmesh trace ({exc})") from None
        if self.header.get("format") != FORMAT:
            raise TraceError(f"{path}: unknown trace format {self.header.get('format')!r}")
        self.path = path

    def check(self, scenario: str, stations: Sequence[str], satellites: Sequence[str]) -> None:
        """Refuse a trace recorded for another scenario (names, stations, satellites)."""
        for key, ours in (
            ("scenario", scenario),
            ("stations", list(stations)),
            ("satellites", list(satellites)),
        ):
            if self.header[key] != ours:
                raise TraceError(
                    f"{self.path}: recorded for a different {key} than this scenario's"
                )

    def tick(self, index: int) -> tuple[dict[str, LinkState], dict[str, LinkState]]:
        if index >= len(self.ticks):
            raise TraceError(
                f"{self.path}: has {len(self.ticks)} ticks, tick {index} was asked for"
            )
        doc = json.loads(self.ticks[index])
        return (
            {k: link_state_from_json(v) for k, v in doc["stations"].items()},
            {k: link_state_from_json(v) for k, v in doc["satellites"].items()},
        )

    def __len__(self) -> int:
        return len(self.ticks)
